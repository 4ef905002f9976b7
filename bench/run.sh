#!/usr/bin/env bash
# The rig latency/memory benchmark in one command:
#   bench/run.sh [--runs N] [other rig-latency options]
# Builds the release sample (target/release/bootstrap) and the bench, runs it against the local
# rig (real Temporal dev server + lambda-emulator), prints the markdown table to stdout and saves it
# as bench/results/<YYYY-MM-DD>-rig-latency.md (UTC date). Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
start=$SECONDS

echo "==> building the release sample: cargo build --release -p hello-worker --bin bootstrap" >&2
cargo build --release --quiet -p hello-worker --bin bootstrap
echo "==> building the bench: cargo build --release -p rig-latency" >&2
cargo build --release --quiet -p rig-latency
built=$SECONDS

mkdir -p bench/results
out="bench/results/$(date -u +%F)-rig-latency.md"
tmp=$(mktemp "${TMPDIR:-/tmp}/rig-latency.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "==> running the bench" >&2
"$target_dir/release/rig-latency" --repo-root "$root" --bootstrap "$target_dir/release/bootstrap" "$@" >"$tmp"
cp "$tmp" "$out"
cat "$out"
echo "==> saved $out (builds $((built - start)) s, bench $((SECONDS - built)) s)" >&2
