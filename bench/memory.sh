#!/usr/bin/env bash
# Memory bench: peak RSS of our worker's sandbox under the 500-workflow burst, one row per
# variant, all in ONE side-by-side run (one emulator at lambda:256, one dev server), so the rows
# compare as ratios measured together:
#   Rust (ours)       the release sample as shipped (system allocator, cache 30, 10 WFT)
#   mimalloc          the same code built with `--features mimalloc` (global allocator)
#   arena1 / arena2   glibc malloc limited to 1 / 2 arenas (`MALLOC_ARENA_MAX`)
#   cache10 / cache2  sticky workflow cache of 10 / 2 (default 30; `HELLO_MAX_CACHED_WORKFLOWS`)
#   wft2              2 concurrent workflow tasks (default 10)
#   threads1          one Tokio worker thread (`TOKIO_WORKER_THREADS=1`; default: one per CPU)
#   before            the sample as of 2bb86ce, before issue 14 (if built: BEFORE=<bootstrap>)
#
#   bench/memory.sh                # writes bench/results/<date>-side-by-side-memory-lambda-256.md
#   bench/memory.sh --runs 2       # other args go to the side-by-side binary
#   MIMALLOC=<bootstrap> BEFORE=<bootstrap> bench/memory.sh --rust-variant pkg@<bootstrap>
#                                  # prebuilt variants (e.g. package-profile builds) instead of
#                                  # building the mimalloc one here
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target_dir=${CARGO_TARGET_DIR:-$(pwd)/target}
cache=$target_dir/side-by-side
mkdir -p "$cache"
mimalloc=${MIMALLOC:-}
if [ -z "$mimalloc" ]; then
  echo "==> building the mimalloc variant (cargo build --release -p hello-worker --features mimalloc)" >&2
  cargo build --release --quiet -p hello-worker --bin bootstrap --features mimalloc
  cp "$target_dir/release/bootstrap" "$cache/bootstrap-mimalloc"
  mimalloc=$cache/bootstrap-mimalloc
fi
# side-by-side.sh rebuilds the default release bootstrap (the `Rust (ours)` row).
exec bash bench/side-by-side.sh --no-python --no-typescript --label memory --configs lambda:256 \
  --runs 3 --throughput 500 --billing 0 --function-timeout-secs 30 \
  --rust-variant "mimalloc@$mimalloc" \
  --rust-variant arena1:MALLOC_ARENA_MAX=1 \
  --rust-variant arena2:MALLOC_ARENA_MAX=2 \
  --rust-variant cache10:HELLO_MAX_CACHED_WORKFLOWS=10 \
  --rust-variant cache2:HELLO_MAX_CACHED_WORKFLOWS=2 \
  --rust-variant wft2:HELLO_MAX_CONCURRENT_WORKFLOW_TASKS=2 \
  --rust-variant threads1:TOKIO_WORKER_THREADS=1 \
  ${BEFORE:+--rust-variant "before@$BEFORE"} \
  "$@"
