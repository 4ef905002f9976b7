#!/usr/bin/env bash
# Idle gaps between a workflow's tasks inside one Lambda invocation, per workflow shape, and what
# each idle policy would have billed for them:
#   bench/task-gaps.sh [--runs N] [other task-gaps options, see --help]
# Builds the release sample (target/release/bootstrap) and the bench, runs it against the local
# rig (real Temporal dev server + lambda-emulator, the function with TEMPORAL_LAMBDA_IDLE_EXIT=15s),
# prints the markdown report on stdout and saves it as bench/results/<YYYY-MM-DD>-task-gaps.md
# (UTC date; a run on the same day overwrites it). Progress goes to stderr. ≈ 8 min at the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
start=$SECONDS

echo "==> building the release sample and the bench: cargo build --release -p hello-worker --bin bootstrap -p task-gaps" >&2
cargo build --release --quiet -p hello-worker --bin bootstrap -p task-gaps
built=$SECONDS

mkdir -p bench/results
out="bench/results/$(date -u +%F)-task-gaps.md"
tmp=$(mktemp "${TMPDIR:-/tmp}/task-gaps.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "==> running the bench" >&2
"$target_dir/release/task-gaps" --repo-root "$root" --bootstrap "$target_dir/release/bootstrap" \
  --note "load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)" "$@" >"$tmp"
cp "$tmp" "$out"
cat "$out"
echo "==> saved $out (builds $((built - start)) s, bench $((SECONDS - built)) s)" >&2
