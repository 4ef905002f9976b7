#!/usr/bin/env bash
# Size and cold start of the release `bootstrap` (examples/hello-worker) under several build
# profiles, measured side by side in one run:
#
#   bench/size.sh [--runs N] [--only a,b,...] [--extra] [--no-build]
#   bench/size.sh --bins before=PATH,after=PATH [--label before-after] [--runs N]
#       measures given binaries instead of building profiles (e.g. two commits' package builds);
#       --label names the report bench/results/<date>-size-<label>.md
#
# Each variant is `cargo build --release -p hello-worker --bin bootstrap` with the profile passed as
# `--config profile.release.*` (as crates/package does), copied to target/size/bootstrap-<variant>.
# Then: the file size, the size of a zip holding only `bootstrap` (deflate level 9, like
# crates/package), and the cold start spawn → first poll measured by bench/coldstart.py with all
# variants interleaved (N samples each, default 20) against one local Temporal dev server.
# Prints a markdown table and saves it as bench/results/<YYYY-MM-DD>-size.md (UTC date).
#
# Builds run under `nice -n 10`; every variant rebuilds the whole tree (a different opt-level, lto,
# codegen-units or panic changes every crate's hash): ≈ 5 min each on an idle 2-core machine, ≈ 18
# with other builds running. `--no-build` measures the binaries already in target/size/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
out_dir=$target_dir/size
mkdir -p "$out_dir" bench/results
runs=20
only=""
build=1
with_extra=0
bins=""
label=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --extra) with_extra=1; shift ;;
    --bins) bins=$2; build=0; shift 2 ;;
    --label) label=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

# name | opt-level | lto | codegen-units | panic | description. The first row is the baseline.
variants=(
  'pkg-s-thin-cgu4|"s"|"thin"|4|unwind|crates/package before 2026-12-03'
  's-fat-cgu1|"s"|"fat"|1|unwind|fat LTO alone'
  'z-thin-cgu4|"z"|"thin"|4|unwind|opt "z" alone'
  'z-fat-cgu1|"z"|"fat"|1|unwind|crates/package now'
)
# Opt-in (--extra): the workspace's own [profile.release], and abort (never for the package: the SDK
# relies on catch_unwind to turn a panicking activity/workflow into a task failure).
extra=(
  'o3-thin-cgu4|3|"thin"|4|unwind|workspace [profile.release]'
  'z-fat-cgu1-abort|"z"|"fat"|1|abort|NOT usable: kills in-flight tasks on a panic'
)
if [ "$with_extra" = 1 ]; then variants+=("${extra[@]}"); fi

if [ -n "$bins" ]; then
  # Given binaries: no profile columns; copied so the report reads them like built variants.
  variants=()
  IFS=, read -r -a given <<<"$bins"
  for b in "${given[@]}"; do
    name=${b%%=*} path=${b#*=}
    [ -x "$path" ] || { echo "--bins: $path is not an executable" >&2; exit 2; }
    cp "$path" "$out_dir/bootstrap-$name"
    variants+=("$name|-|-|-|-|$path")
  done
fi

selected=()
for v in "${variants[@]}"; do
  name=${v%%|*}
  if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then continue; fi
  selected+=("$v")
done

if [ "$build" = 1 ]; then
  for v in "${selected[@]}"; do
    IFS='|' read -r name opt lto cgu panic _desc <<<"$v"
    echo "==> building $name" >&2
    s=$SECONDS
    # Built unstripped and stripped here with `strip --strip-all`, so target/size/ keeps a copy
    # with symbols for `nm --size-sort` (the stripped file is ~0.05 % smaller than cargo's
    # `strip = true`: 16,297,224 vs 16,304,520 bytes for the baseline).
    nice -n 10 cargo build --release --locked --quiet -p hello-worker --bin bootstrap \
      --config "profile.release.strip=false" \
      --config "profile.release.opt-level=$opt" \
      --config "profile.release.lto=$lto" \
      --config "profile.release.codegen-units=$cgu" \
      --config "profile.release.panic=\"$panic\""
    cp "$target_dir/release/bootstrap" "$out_dir/bootstrap-$name.syms"
    strip --strip-all -o "$out_dir/bootstrap-$name" "$out_dir/bootstrap-$name.syms"
    echo "    $name: $(stat -c %s "$out_dir/bootstrap-$name") bytes ($((SECONDS - s)) s)" >&2
  done
fi

args=()
for v in "${selected[@]}"; do
  name=${v%%|*}
  args+=("$name=$out_dir/bootstrap-$name")
done
echo "==> cold start: $runs samples per variant, interleaved" >&2
cold=$(python3 bench/coldstart.py --runs "$runs" "${args[@]}")

out="bench/results/$(date -u +%F)-size${label:+-$label}.md"
python3 - "$out" "$runs" "$cold" "${selected[@]}" <<'EOF'
import io, json, os, sys, time, zipfile
out, runs, cold = sys.argv[1], sys.argv[2], sys.argv[3]
rows = [v.split("|") for v in sys.argv[4:]]
cold = {j["name"]: j for j in map(json.loads, cold.splitlines())}
target = os.environ.get("CARGO_TARGET_DIR") or "target"
lines = [
    f"## size — {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} (UTC)",
    "",
    f"Release `bootstrap` of examples/hello-worker per build profile, {os.cpu_count()} CPU(s). "
    "zip: only `bootstrap`, deflate level 9 (as crates/package). Cold start: process spawn → "
    "`worker polling` (logged right before the first poll) against a local dev server, "
    f"N = {runs} per variant, variants interleaved in one run (bench/coldstart.py); "
    "ratio = p50 / baseline p50 (first row).",
    "",
    "| variant | opt-level | lto | codegen-units | panic | bootstrap bytes | zip bytes | zip MB | "
    "init p50 ms | spawn → first poll p50 ms | p95 ms | ratio |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|",
]
base = None
for name, opt, lto, cgu, panic, desc in rows:
    path = f"{target}/size/bootstrap-{name}"
    data = open(path, "rb").read()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        info = zipfile.ZipInfo("bootstrap", (1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, data, compresslevel=9)
    zb = len(buf.getvalue())
    c = cold[name]
    if base is None:
        base = c["poll_p50"]
    lines.append(
        f"| {name} ({desc}) | {opt.strip(chr(34))} | {lto.strip(chr(34))} | {cgu} | {panic} | {len(data)} | {zb} | "
        f"{zb / 1e6:.2f} | {c['init_p50']:.1f} | {c['poll_p50']:.1f} | {c['poll_p95']:.1f} | "
        f"×{c['poll_p50'] / base:.2f} |")
text = "\n".join(lines) + "\n"
open(out, "w").write(text)
print(text, end="")
EOF
echo "==> saved $out" >&2
