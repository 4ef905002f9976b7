#!/usr/bin/env python3
"""Sample the memory composition of every running `bootstrap` process (our Rust worker).

    python3 bench/memory-sampler.py --out DIR [--interval-ms 50]     # until SIGTERM / SIGINT
    python3 bench/memory-sampler.py --report DIR                     # markdown summary of DIR

Sampling: every --interval-ms, every process whose comm is `bootstrap` (the peers' bootstrap
scripts exec an interpreter, so only our worker matches) is read from /proc/<pid>/status
(VmRSS, VmHWM, RssAnon, RssFile, Threads). Whenever a process's VmRSS is at a new maximum (by
at least 64 kB), its /proc/<pid>/smaps, smaps_rollup and the names of its threads are
snapshotted to DIR/<function>-<pid>.json (overwritten: the file holds the composition at the
highest VmRSS seen). The function is AWS_LAMBDA_FUNCTION_NAME from the process's environment.

The report classifies each smaps mapping:
  file:<path>    pages mapped from a file (the binary's text/rodata, libc, ld.so, ...); the
                 Anonymous pages inside them (relocated .data/.got, copy-on-write) are counted
                 as "file mapping, private anon" separately
  heap: [heap]   glibc's main arena (brk)
  heap: arena    glibc thread arenas: anonymous rw-p at a 64 MiB-aligned address, followed by
                 its ---p reserve
  stack: thread  an anonymous rw-p mapping directly above a 4 kB ---p guard (pthread stacks)
  stack: main    [stack]
  anon: other    any other anonymous mapping (malloc's mmap for blocks >= 128 kB, ...)
"""
import argparse
import json
import os
import signal
import sys
import time

FIELDS = ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads")


def read(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def status(pid):
    out = {}
    for line in read(f"/proc/{pid}/status").splitlines():
        k, _, v = line.partition(":")
        if k in FIELDS:
            out[k] = int(v.split()[0])
    return out


def function_of(pid):
    try:
        env = read(f"/proc/{pid}/environ").split("\0")
    except OSError:
        return "?"
    for kv in env:
        if kv.startswith("AWS_LAMBDA_FUNCTION_NAME="):
            return kv.split("=", 1)[1]
    return "?"


def parse_smaps(text):
    maps, cur = [], None
    for line in text.splitlines():
        first = line.split(None, 1)[0] if line else ""
        if "-" in first and ":" not in first:
            parts = line.split(None, 5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            cur = {"lo": lo, "hi": hi, "perms": parts[1],
                   "path": parts[5].strip() if len(parts) > 5 else ""}
            maps.append(cur)
        elif cur is not None and line.endswith(" kB"):
            k, _, v = line.partition(":")
            cur[k] = int(v.split()[0])
    return maps


def snapshot(pid):
    smaps = read(f"/proc/{pid}/smaps")
    rollup = read(f"/proc/{pid}/smaps_rollup")
    threads = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            threads.append(read(f"/proc/{pid}/task/{tid}/comm").strip())
        except OSError:
            pass
    return {"maps": parse_smaps(smaps), "rollup": rollup, "threads": sorted(threads)}


def sample(out, interval):
    os.makedirs(out, exist_ok=True)
    best = {}  # pid -> max VmRSS snapshotted
    peak = {}  # pid -> {function, max status fields}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    last_write = 0.0
    while not stop:
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                if read(f"/proc/{d}/comm").strip() != "bootstrap":
                    continue
                pid = int(d)
                st = status(pid)
                if pid not in peak:
                    peak[pid] = {"function": function_of(pid), "first_seen": time.time()}
                p = peak[pid]
                for k, v in st.items():
                    p[k] = max(p.get(k, 0), v)
                p["last_seen"] = time.time()
                if st.get("VmRSS", 0) >= best.get(pid, -1) + 64:
                    snap = snapshot(pid)
                    snap.update(pid=pid, function=p["function"], status=st, at=time.time())
                    path = os.path.join(out, f"{p['function']}-{pid}.json")
                    with open(path + ".tmp", "w") as f:
                        json.dump(snap, f)
                    os.replace(path + ".tmp", path)
                    best[pid] = st.get("VmRSS", 0)
            except (OSError, ValueError, IndexError):
                continue
        if time.time() - last_write > 1:
            with open(os.path.join(out, "peaks.json"), "w") as f:
                json.dump(peak, f)
            last_write = time.time()
        time.sleep(interval)
    with open(os.path.join(out, "peaks.json"), "w") as f:
        json.dump(peak, f)


def classify(maps):
    """(category, rss kB, anon kB) per mapping, categories as in the module doc."""
    out = []
    for i, m in enumerate(maps):
        rss, anon = m.get("Rss", 0), m.get("Anonymous", 0)
        path = m["path"]
        size = m["hi"] - m["lo"]
        prev = maps[i - 1] if i > 0 else None
        nxt = maps[i + 1] if i + 1 < len(maps) else None
        if path.startswith("/"):
            cat = "file: " + os.path.basename(path)
        elif path == "[heap]":
            cat = "heap: [heap] (main arena)"
        elif path == "[stack]":
            cat = "stack: main thread"
        elif path.startswith("["):
            cat = "other: " + path
        elif (prev and prev["perms"].startswith("---") and prev["hi"] == m["lo"]
              and prev["hi"] - prev["lo"] == 4096 and m["perms"].startswith("rw")):
            cat = "stack: thread (%d kB reserved)" % (size // 1024)
        elif (m["perms"].startswith("rw") and m["lo"] % (64 << 20) == 0 and nxt
              and nxt["perms"].startswith("---") and nxt["lo"] == m["hi"]):
            cat = "heap: glibc thread arenas"
        elif m["perms"].startswith("rw"):
            cat = "anon: other rw (malloc mmap >= 128 kB, ...)"
        else:
            cat = "anon: " + m["perms"]
        out.append((cat, rss, anon, m))
    return out


def report(out, path_contains=None):
    peaks = json.load(open(os.path.join(out, "peaks.json")))
    snaps = {}
    for name in os.listdir(out):
        if name.endswith(".json") and name != "peaks.json":
            s = json.load(open(os.path.join(out, name)))
            if path_contains and not any(path_contains in m["path"] for m in s["maps"]):
                continue  # another emulator's sandbox (e.g. a bench run by someone else)
            snaps[str(s["pid"])] = s
    if path_contains:
        peaks = {pid: p for pid, p in peaks.items() if pid in snaps}
    by_fn = {}
    for pid, p in peaks.items():
        by_fn.setdefault(p["function"], []).append((pid, p))
    lines = ["| function | pid | VmHWM MB | at the snapshot: VmRSS MB | bootstrap file pages | shared libs' file pages | relocated data (anon in file maps) | [heap] | thread arenas | stacks | other anon | threads |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for pid, p in sorted(peaks.items(), key=lambda x: (x[1]["function"], x[1].get("first_seen", 0))):
        s = snaps.get(pid)
        if not s:
            continue
        agg = {}
        for cat, rss, anon, m in classify(s["maps"]):
            if cat.startswith("file: "):
                key = "exe" if os.path.basename(m["path"]) == "bootstrap" else "libs"
                agg[key] = agg.get(key, 0) + rss - anon
                agg["reloc"] = agg.get("reloc", 0) + anon
            else:
                key = ("heap" if cat.startswith("heap: [heap]") else "arenas" if cat.startswith("heap:")
                       else "stacks" if cat.startswith("stack") else "other")
                agg[key] = agg.get(key, 0) + rss
        mb = lambda k: f"{agg.get(k, 0) / 1024:.2f}"
        lines.append(f"| {p['function']} | {pid} | {p.get('VmHWM', 0) / 1024:.1f} | {s['status']['VmRSS'] / 1024:.2f} | "
                     f"{mb('exe')} | {mb('libs')} | {mb('reloc')} | {mb('heap')} | {mb('arenas')} | {mb('stacks')} | {mb('other')} | {s['status'].get('Threads')} |")
    lines.append("")
    for fn in sorted(by_fn):
        procs = sorted(by_fn[fn], key=lambda x: -x[1].get("VmHWM", 0))
        pid, p = procs[0]
        s = snaps.get(pid)
        lines.append(f"### {fn}: {len(procs)} process(es); the one with the highest VmHWM, pid {pid}\n")
        lines.append("| figure | kB | MB |\n|---|---|---|")
        for k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "Threads"):
            v = p.get(k, 0)
            lines.append(f"| max {k} over the samples | {v} | {v / 1024:.1f} |" if k != "Threads"
                         else f"| max threads | {v} | |")
        if not s:
            lines.append("\n(no snapshot)\n")
            continue
        st = s["status"]
        lines.append(f"\nSnapshot at the highest sampled VmRSS ({st['VmRSS']} kB; RssAnon {st.get('RssAnon')} kB, "
                     f"RssFile {st.get('RssFile')} kB; {st.get('Threads')} threads: "
                     + ", ".join(f"{n} ×{s['threads'].count(n)}" for n in sorted(set(s["threads"]))) + ")\n")
        cats = {}
        file_anon = 0
        stacks = []
        for cat, rss, anon, m in classify(s["maps"]):
            if cat.startswith("file: "):
                file_anon += anon
                c = cats.setdefault(cat, [0, 0])
                c[0] += rss - anon
                c[1] += 1
            else:
                c = cats.setdefault(cat, [0, 0])
                c[0] += rss
                c[1] += 1
            if cat.startswith("stack: thread"):
                stacks.append(rss)
        if file_anon:
            cats["file mappings, private anon (relocated data, .bss in file maps)"] = [file_anon, 0]
        total = sum(v[0] for v in cats.values())
        lines.append("| category | mappings | Rss kB | MB | share |\n|---|---|---|---|---|")
        for cat, (rss, n) in sorted(cats.items(), key=lambda x: -x[1][0]):
            if rss == 0:
                continue
            lines.append(f"| {cat} | {n or ''} | {rss} | {rss / 1024:.2f} | {100 * rss / total:.1f} % |")
        lines.append(f"| **total (Σ smaps Rss)** | | **{total}** | **{total / 1024:.2f}** | |")
        if stacks:
            lines.append(f"\nThread stacks: {len(stacks)}, Rss per stack kB (sorted): {sorted(stacks, reverse=True)}\n")
        # top 12 mappings
        top = sorted(classify(s["maps"]), key=lambda x: -x[1])[:12]
        lines.append("Top mappings by Rss:\n\n| mapping | perms | size kB | Rss kB | Anonymous kB | category |\n|---|---|---|---|---|---|")
        for cat, rss, anon, m in top:
            lines.append(f"| {m['lo']:x} {m['path'] or '(anon)'} | {m['perms']} | {(m['hi'] - m['lo']) // 1024} | {rss} | {anon} | {cat} |")
        lines.append("")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--interval-ms", type=float, default=50)
    ap.add_argument("--report")
    ap.add_argument("--path-contains", help="report only processes whose bootstrap path contains this "
                    "(the bench's emulator state dir, /tmp/side-by-side-XXXXXX/)")
    a = ap.parse_args()
    if a.report:
        report(a.report, a.path_contains)
    elif a.out:
        sample(a.out, a.interval_ms / 1000)
    else:
        ap.error("--out or --report")


if __name__ == "__main__":
    main()
