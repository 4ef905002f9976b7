#!/usr/bin/env bash
# Side-by-side benchmark: our Rust worker vs the official Python and TypeScript Lambda workers,
# in ONE run on ONE lambda-emulator and ONE Temporal dev server.
#
#   bench/side-by-side.sh                 # full run, one bench run per config (default
#                                         # off:256,lambda:256,lambda:1769): writes
#                                         # bench/results/<date>-side-by-side-<fidelity>-<MB>.{md,svg}
#                                         # and the combined bench/results/<date>-side-by-side-fidelity.md
#   bench/side-by-side.sh --smoke         # CI-sized: one config (lambda:256), debug bootstrap, 2 runs,
#                                         # Rust + Python (optional), no TypeScript, reports in
#                                         # target/side-by-side/smoke/
#   bench/side-by-side.sh --configs off:256,lambda:1769   # <fidelity>:<MemorySize MB>, comma list
#   bench/side-by-side.sh --no-typescript # skip a peer (also --no-python); other args go to the binary
#   bench/side-by-side.sh --label sparse --billing-interval-ms 10000 ...   # names the reports
#                                         # <date>-side-by-side-sparse-<config>.md (runs of other
#                                         # workloads on the same day keep their own files)
#   bench/side-by-side.sh --cost          # the cost table: sparse / moderate / burst runs at
#                                         # off:256 with --rust-always-polling, combined into
#                                         # bench/results/<date>-side-by-side-cost.md
#                                         # (sizes: COST_RUNS, COST_SPARSE, COST_MODERATE, COST_BURST;
#                                         # COST_WORKLOADS=burst runs only the burst, etc.;
#                                         # COST_BURST_THROUGHPUT=0 drops its 500-workflow throughput phase)
#
# Each config is its own bench run with every row (own emulator with that fidelity, own dev
# server), so a ratio always compares rows measured in the same run. `lambda` fidelity needs
# writable cgroups (root); where they are not, the report says what was enforced.
#
# Sets up the peers itself, cached under target/side-by-side/ (rebuilt when their pins change):
#   python-fn/  pip install --target of bench/peers/python/requirements.txt (temporalio 1.35.x,
#               awslambdaric) + handler.py + bootstrap; interpreter: a python3.11 venv in py-venv/
#   ts-fn/      npm install of bench/peers/typescript/package.json (@temporalio/lambda-worker 1.23,
#               aws-lambda-ric 3.3.0: native build, needs cmake autoconf automake libtool) + a
#               pre-built workflow bundle
# A peer whose setup fails is skipped with a note in the report; the other rows still run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
cache=$target_dir/side-by-side
mkdir -p "$cache"

smoke=0 python=1 typescript=1 pass=() configs= label= cost=0
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) smoke=1 typescript=0 ;;
    --cost) cost=1 ;;
    --label) label=${2:?--label needs a name, e.g. sparse}; shift ;;
    --label=*) label=${1#--label=} ;;
    --no-python) python=0 ;;
    --no-typescript) typescript=0 ;;
    --configs) configs=${2:?--configs needs a list, e.g. off:256,lambda:256}; shift ;;
    --configs=*) configs=${1#--configs=} ;;
    *) pass+=("$1") ;;
  esac
  shift
done
if [ -z "$configs" ]; then
  if [ "$smoke" = 1 ]; then configs=lambda:256; else configs=off:256,lambda:256,lambda:1769; fi
fi
IFS=, read -r -a config_list <<<"$configs"
for c in "${config_list[@]}"; do
  [[ "$c" =~ ^[a-z,]+:[0-9]+$ ]] || { echo "bad config '$c': use <fidelity>:<MB>, e.g. lambda:256" >&2; exit 2; }
done
notes=()
log() { echo "==> $*" >&2; }

# --- our row -----------------------------------------------------------------------------------
# After `cargo test --workspace` (CI: SIDE_BY_SIDE_AFTER_WORKSPACE_TESTS=1), every dependency is
# built with the whole workspace's features (dev-dependencies' included): building all targets
# of the workspace resolves the same features, so only the two binaries are linked. `cargo build
# -p …` alone would unify fewer features and compile tokio, rustls and the SDKs again.
debug_build=(build --quiet -p hello-worker --bin bootstrap)
bench_build=(build --quiet -p side-by-side)
if [ "${SIDE_BY_SIDE_AFTER_WORKSPACE_TESTS:-0}" = 1 ]; then
  debug_build=(build --quiet --workspace --all-targets)
  bench_build=("${debug_build[@]}")
fi
if [ "$smoke" = 1 ]; then
  log "building the debug sample and the bench (smoke: no release build)"
  cargo "${debug_build[@]}"
  bootstrap=$target_dir/debug/bootstrap
  notes+=("smoke run: Rust row is the DEBUG bootstrap; figures are not comparable")
else
  log "building the release sample: cargo build --release -p hello-worker --bin bootstrap"
  t=$SECONDS
  cargo build --release --quiet -p hello-worker --bin bootstrap
  notes+=("rust setup: cargo build --release took $((SECONDS - t)) s in this run (incremental; a release build from clean took ≈ 4.5 min on an idle 2-core machine, ≈ 8–9 min with other builds running)")
  bootstrap=$target_dir/release/bootstrap
fi
cargo "${bench_build[@]}"
# A copy: every config runs the same build even if the target dir is rebuilt meanwhile.
bench=$cache/side-by-side-bench
cp "$target_dir/debug/side-by-side" "$bench"

# --- Python peer -------------------------------------------------------------------------------
setup_python() {
  local fn=$cache/python-fn venv=$cache/py-venv py
  # The sandboxes of an emulator running as root run as an unprivileged user (SECURITY.md), who
  # must be able to read the interpreter, as Lambda's runtime user reads the image's: prefer the
  # system's python3.11 over one under a private home (pyenv in /root).
  py=/usr/bin/python3.11
  [ -x "$py" ] || py=$(command -v python3.11 || true)
  [ -n "$py" ] || { echo "python3.11 not found"; return 1; }
  [ "$(cat "$venv/.interpreter" 2>/dev/null)" = "$py" ] || rm -rf "$venv"
  if [ ! -x "$venv/bin/python" ]; then
    "$py" -m venv "$venv" || return 1
    echo "$py" >"$venv/.interpreter"
  fi
  local stamp
  stamp=$( (cat bench/peers/python/requirements.txt; echo "$py") | sha256sum | cut -c1-16)
  if [ "$(cat "$fn/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$fn" && mkdir -p "$fn"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --target "$fn" \
      -r bench/peers/python/requirements.txt || return 1
    echo "$stamp" >"$fn/.stamp"
  fi
  cp bench/peers/python/handler.py bench/peers/python/bootstrap "$fn/"
  echo "$venv/bin/python" >"$fn/python-path"
}
py_args=()
if [ "$python" = 1 ]; then
  log "setting up the Python peer (temporalio 1.35.x under awslambdaric) in $cache/python-fn"
  t=$SECONDS
  if err=$(setup_python 2>&1); then
    py_args=(--python "$cache/python-fn")
    notes+=("python setup: $((SECONDS - t)) s in this run (pip install --target; cached when the pins are unchanged)")
  else
    notes+=("python row skipped: setup failed: $(echo "$err" | tail -3 | tr '\n' ' ')")
    log "Python peer skipped: $err"
  fi
fi

# --- TypeScript peer ---------------------------------------------------------------------------
setup_typescript() {
  local fn=$cache/ts-fn tool
  command -v node >/dev/null || { echo "node not found"; return 1; }
  for tool in cmake autoconf automake libtoolize; do
    command -v "$tool" >/dev/null || {
      echo "aws-lambda-ric builds native code: install the Debian packages cmake autoconf automake libtool ($tool missing)"
      return 1
    }
  done
  mkdir -p "$fn"
  local stamp
  stamp=$(sha256sum bench/peers/typescript/package.json | cut -c1-16)
  if [ "$(cat "$fn/.stamp" 2>/dev/null)" != "$stamp" ]; then
    rm -rf "$fn/node_modules" "$fn/package-lock.json"
    cp bench/peers/typescript/package.json "$fn/"
    (cd "$fn" && npm install --no-audit --no-fund --loglevel=error) || return 1
    echo "$stamp" >"$fn/.stamp"
  fi
  cp bench/peers/typescript/{activities.js,workflows.js,bundle.js,handler.js,bootstrap} "$fn/"
  (cd "$fn" && node bundle.js >/dev/null) || return 1
}
ts_args=()
if [ "$typescript" = 1 ]; then
  log "setting up the TypeScript peer (@temporalio/lambda-worker 1.23 under aws-lambda-ric 3.3.0) in $cache/ts-fn"
  t=$SECONDS
  if err=$(setup_typescript 2>&1); then
    ts_args=(--typescript "$cache/ts-fn")
    notes+=("typescript setup: $((SECONDS - t)) s in this run (npm install incl. the aws-lambda-ric native build ≈ 5 min when not cached, + bundleWorkflowCode)")
  else
    notes+=("typescript row skipped: setup failed: $(echo "$err" | tail -3 | tr '\n' ' ')")
    log "TypeScript peer skipped: $err"
  fi
fi

# --- run: one bench run per config ------------------------------------------------------------
note_args=()
for n in "${notes[@]}"; do note_args+=(--note "$n"); done
if [ "$smoke" = 1 ]; then
  out_dir=$cache/smoke
  name=side-by-side
  set -- --runs 2 --throughput 10 --billing 3
else
  out_dir=bench/results
  name=$(date -u +%F)-side-by-side${label:+-$label}
  set --
fi
mkdir -p "$out_dir" "$cache/json"
# One bench run per entry: "<tag suffix>|<fidelity>:<MB>|<extra args>".
runs=()
if [ "$cost" = 1 ]; then
  # The cost table (issue 14's targets): 256 MB billed, our worker also with the idle exit off as
  # the latency baseline; each workload is its own run. Fidelity off: the TypeScript worker does
  # not complete under 256 MB's CPU share and memory limit (results of 2026-12-02), and billing
  # here is set by the polling windows, not by CPU.
  # Sizes: COST_RUNS (cold/warm runs per row, 5), COST_SPARSE (15), COST_MODERATE (50),
  # COST_BURST (200) workflows; smaller values give a quicker, noisier table.
  common="--rust-always-polling --function-timeout-secs 30 --runs ${COST_RUNS:-5}"
  # COST_WORKLOADS (comma list, default sparse,moderate,burst) selects which of them run.
  workloads=",${COST_WORKLOADS:-sparse,moderate,burst},"
  if [[ $workloads == *,sparse,* ]]; then
    runs+=("sparse|off:256|$common --throughput 0 --billing ${COST_SPARSE:-15} --billing-interval-ms 10000")
  fi
  if [[ $workloads == *,moderate,* ]]; then
    runs+=("moderate|off:256|$common --throughput 0 --billing ${COST_MODERATE:-50} --billing-interval-ms 2000")
  fi
  if [[ $workloads == *,burst,* ]]; then
    # COST_BURST_THROUGHPUT: the burst run's extra 500-workflow throughput phase (0 skips it; the
    # cost figures come from the billing burst of COST_BURST workflows alone).
    runs+=("burst|off:256|$common --throughput ${COST_BURST_THROUGHPUT:-500} --billing ${COST_BURST:-200} --billing-interval-ms 0")
  fi
  [ ${#runs[@]} -gt 0 ] || { echo "COST_WORKLOADS='${COST_WORKLOADS:-}': none of sparse, moderate, burst" >&2; exit 2; }
  name=$name-cost
else
  for c in "${config_list[@]}"; do runs+=("|$c|"); done
fi
jsons=() failed=()
for r in "${runs[@]}"; do
  IFS='|' read -r suffix c extra <<<"$r"
  fidelity=${c%%:*} memory=${c##*:}
  tag=$name${suffix:+-$suffix}-${fidelity//,/-}-$memory
  log "running the bench, config $c ${suffix:+($suffix) }(report: $out_dir/$tag.md)"
  t=$SECONDS
  rc=0
  # shellcheck disable=SC2086 # $extra is a list of words
  "$bench" --repo-root "$root" --rust "$bootstrap" "${py_args[@]}" "${ts_args[@]}" \
    --fidelity "$fidelity" --memory-mb "$memory" \
    --out "$out_dir/$tag.md" --chart "$out_dir/$tag.svg" --chart-link "$tag.svg" \
    --json "$cache/json/$tag.json" "${note_args[@]}" "$@" $extra "${pass[@]}" || rc=$?
  log "config $c ${suffix:+($suffix) }: exit $rc after $((SECONDS - t)) s"
  if [ -f "$cache/json/$tag.json" ] && [ "$cache/json/$tag.json" -nt "$bench" ]; then
    jsons+=("$cache/json/$tag.json")
  fi
  [ "$rc" = 0 ] || failed+=("$c${suffix:+ $suffix} (exit $rc)")
  [ -f "$out_dir/$tag.md" ] && cat "$out_dir/$tag.md"
done
if [ ${#jsons[@]} -gt 0 ]; then
  combined=$out_dir/$name.md
  [ "$cost" = 1 ] || combined=$out_dir/$name-fidelity.md
  "$bench" --combine "${jsons[@]}" --out "$combined"
  cat "$combined"
  log "saved $out_dir/$name-<config>.{md,svg} and the combined $combined"
fi
if [ ${#failed[@]} -gt 0 ]; then
  log "FAILED: ${failed[*]}"
  exit 1
fi
