#!/usr/bin/env bash
# What our worker's peak RSS is made of, under the 500-workflow burst (results:
# bench/results/2026-12-05-memory-profile.md). Two side-by-side runs, our rows only:
#
#   1. composition, lambda:256 (as bench/memory.sh): `Rust (ours)` + env variants (default:
#      threads1 = TOKIO_WORKER_THREADS=1, arena1 = MALLOC_ARENA_MAX=1), while
#      bench/memory-sampler.py samples every `bootstrap` process's /proc status every 50 ms and
#      snapshots its smaps at its highest VmRSS -> file-backed vs heap vs thread stacks, per mapping.
#   2. heap profile, off:256 (full CPU: heaptrack slows the worker down): `Rust (ours)` + a row
#      `heaptrack` running the DEBUG sample (symbols; same code and allocation sites as the
#      release build, no inlining) with heaptrack's LD_PRELOAD library writing its raw trace
#      straight to a file per process (no pipe or compressor that a sandbox kill would lose);
#      then heaptrack_interpret + heaptrack_print: peak heap and its top allocation sites.
#
#   bench/memory-profile.sh                        # both runs (≈ 10 min after the builds)
#   PROFILE_RUNS=composition bench/memory-profile.sh --rust-variant x:K=V   # extra args go to run 1
#   VARIANTS="threads1:TOKIO_WORKER_THREADS=1" bench/memory-profile.sh      # run 1's variants
#   PKGSIZE=1 VARIANTS= LABEL=memprofile-pkgsize PROFILE_RUNS=composition bench/memory-profile.sh
#                          # ours vs a row built with crates/package's profile (opt-level z, fat
#                          # LTO, 1 CGU: what `temporal-lambda package` ships), in one run
#
# Needs: python3, heaptrack (Debian `heaptrack`), zstd. Output: target/memory-profile/ (samples-<label>/,
# composition-<label>.md, heap/*.txt) and the side-by-side reports bench/results/<date>-side-by-side-
# <label>-lambda-256.md / -heapprofile-off-256.md. TEMPORAL_CLI=<temporal> avoids installing .venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
target_dir=${CARGO_TARGET_DIR:-$(pwd)/target}
prof=$target_dir/memory-profile
runs=${PROFILE_RUNS:-composition,heap}
variants=${VARIANTS-threads1:TOKIO_WORKER_THREADS=1 arena1:MALLOC_ARENA_MAX=1}
label=${LABEL:-memprofile}
mkdir -p "$prof"
log() { echo "==> $*" >&2; }

sampler_pid=
stop_sampler() {
  if [ -n "$sampler_pid" ]; then
    kill -TERM "$sampler_pid" 2>/dev/null || true
    wait "$sampler_pid" 2>/dev/null || true
    sampler_pid=
  fi
}
trap stop_sampler EXIT

if [[ ",$runs," == *,composition,* ]]; then
  vargs=()
  if [ "${PKGSIZE:-0}" = 1 ]; then
    # The profile crates/package ships (`ReleaseForSize`: opt-level "z", fat LTO, 1 codegen
    # unit, stripped, unwind), as its own named profile so it neither rebuilds nor locks release/.
    log "building the package profile (opt-level z, fat LTO, 1 CGU) as profile pkgsize"
    nice -n 5 cargo build --quiet -p hello-worker --bin bootstrap --profile pkgsize \
      --config 'profile.pkgsize.inherits="release"' --config 'profile.pkgsize.opt-level="z"' \
      --config 'profile.pkgsize.lto="fat"' --config 'profile.pkgsize.codegen-units=1' \
      --config 'profile.pkgsize.strip=true' --config 'profile.pkgsize.panic="unwind"'
    vargs+=(--rust-variant "pkgsize@$target_dir/pkgsize/bootstrap")
  fi
  rm -rf "$prof/samples-$label"
  python3 bench/memory-sampler.py --out "$prof/samples-$label" --interval-ms 50 &
  sampler_pid=$!
  for v in $variants; do vargs+=(--rust-variant "$v"); done
  log "run 1: composition at lambda:256 (sampler pid $sampler_pid)"
  rc=0
  nice -n 5 bash bench/side-by-side.sh --no-python --no-typescript --label "$label" \
    --configs lambda:256 --runs 2 --throughput 500 --billing 0 --function-timeout-secs 30 \
    "${vargs[@]}" "$@" || rc=$?
  stop_sampler
  python3 bench/memory-sampler.py --report "$prof/samples-$label" | tee "$prof/composition-$label.md"
  log "run 1 exit $rc; composition report: $prof/composition-$label.md"
fi

if [[ ",$runs," == *,heap,* ]]; then
  log "building the debug sample (symbols for heaptrack): cargo build -p hello-worker --bin bootstrap"
  nice -n 5 cargo build --quiet -p hello-worker --bin bootstrap
  mkdir -p "$prof/heap"
  rm -f "$prof/heap"/*.raw "$prof/heap"/*.zst
  cp "$target_dir/debug/bootstrap" "$prof/heap/bootstrap"
  cat >"$prof/bootstrap-heaptrack" <<EOF
#!/bin/sh
# heaptrack's preload library, raw trace to a file per process (\$\$ = the pid after exec)
export LD_PRELOAD=/usr/lib/heaptrack/libheaptrack_preload.so
export DUMP_HEAPTRACK_OUTPUT=$prof/heap/\$\$.raw
exec $prof/heap/bootstrap "\$@"
EOF
  chmod +x "$prof/bootstrap-heaptrack"
  log "run 2: heap profile at off:256"
  rc=0
  nice -n 5 bash bench/side-by-side.sh --no-python --no-typescript --label heapprofile \
    --configs off:256 --runs 2 --throughput 500 --billing 0 --function-timeout-secs 30 \
    --rust-variant "heaptrack@$prof/bootstrap-heaptrack" || rc=$?
  log "run 2 exit $rc; interpreting the heaptrack traces"
  for raw in "$prof/heap"/*.raw; do
    [ -s "$raw" ] || continue
    /usr/lib/heaptrack/libexec/heaptrack_interpret <"$raw" | zstd -q -c >"${raw%.raw}.zst" || true
    heaptrack_print --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
      --peak-limit 25 --sub-peak-limit 4 "${raw%.raw}.zst" \
      >"${raw%.raw}.txt" 2>&1 || true
    echo "$(grep -m1 'peak heap memory consumption' "${raw%.raw}.txt" || echo '?') : ${raw%.raw}.txt" >&2
  done
fi
