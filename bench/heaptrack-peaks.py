#!/usr/bin/env python3
"""Condense `heaptrack_print --print-peaks` output: per peak site, its size at the peak, the calls,
and the first frames of each backtrace that are not allocator / std / core plumbing.

    python3 bench/heaptrack-peaks.py FILE.txt [--frames 5] [--min-kb 20]
"""
import re
import sys

SKIP = re.compile(r"^(alloc::|core::|std::|_\$LT\$alloc|_\$LT\$core|_\$LT\$std|<alloc|<core|<std|"
                  r"__rust|_RN|hashbrown::|bytes::bytes_mut::BytesMut::(with_capacity|reserve)|"
                  r"prost::encoding::|\{async_fn|poll<>|\{closure|_\$LT\$bytes|malloc|realloc|calloc|operator new)")


def demangle(f):
    f = f.replace("$LT$", "<").replace("$GT$", ">").replace("$u20$", " ").replace("$C$", ",")
    f = f.replace("$u7b$", "{").replace("$u7d$", "}").replace("..", "::").replace("$RF$", "&")
    return re.sub(r"::h[0-9a-f]{16}$", "", f)


def main():
    path = sys.argv[1]
    nframes = int(sys.argv[sys.argv.index("--frames") + 1]) if "--frames" in sys.argv else 5
    min_kb = float(sys.argv[sys.argv.index("--min-kb") + 1]) if "--min-kb" in sys.argv else 20
    lines = open(path).read().split("PEAK MEMORY CONSUMERS", 1)[1].splitlines()
    entries = []  # (size_kb, calls, [frames])
    cur = None
    for line in lines:
        m = re.match(r"^\s*([0-9.]+)([BKMG]) (?:peak memory )?consumed over (\d+) calls from", line)
        if m:
            if "peak memory" in line:
                continue  # the merged top-level entry; its sub-backtraces follow
            size = float(m.group(1)) * {"B": 1 / 1024, "K": 1, "M": 1024, "G": 1024 * 1024}[m.group(2)]
            cur = [size, int(m.group(3)), [], []]
            entries.append(cur)
            continue
        if line.startswith("MOST CALLS") or line.startswith("total runtime"):
            break
        if cur is None:
            continue
        s = line.strip()
        if line.startswith("    ") and not line.startswith("      ") and s:
            cur[3].append(demangle(s))
        elif s.startswith("at ") and cur[3]:
            cur[3][-1] += " (" + s[3:].split("/src/")[-1] + ")"
    for e in entries:
        e[2] = [f for f in e[3] if not SKIP.match(f)][:nframes]
    entries.sort(key=lambda e: -e[0])
    total = 0
    for size, calls, frames, _ in entries:
        if size < min_kb:
            continue
        total += size
        print(f"{size:8.1f} kB  {calls:6d} calls  " + "  <-  ".join(frames))
    print(f"(sum of the sites listed: {total:.0f} kB)")


main()
