#!/usr/bin/env python3
"""Cold start of several `bootstrap` builds, interleaved in one run: process spawn → first poll.

    python3 bench/coldstart.py --runs 20 NAME=PATH [NAME=PATH ...]

Starts one `temporal server start-dev` (TEMPORAL_CLI, else <repo>/.venv/bin/temporal) and a minimal
Lambda Runtime API on 127.0.0.1 that hands out one invocation (payload `{}`, 9 s deadline). Each
sample spawns a fresh `bootstrap` with a Lambda-like environment and measures, on this process's
monotonic clock:

  init   spawn → the runtime's first `GET …/invocation/next` (Lambda's Init Duration)
  poll   init + (the invocation handed over → the worker's `worker polling` log line, logged
         right before the SDK worker's first poll): the time our Runtime API takes to answer is
         left out, as in rig-latency's "cold: sandbox process start → first poll"

then kills the process. Variants are run round-robin (sample i of every variant before sample i+1),
so load from other work on the machine spreads over all of them. Prints one JSON object per variant
on stdout: {"name", "init_p50", "poll_p50", "poll_p95", "poll_min", "n"} (ms).
"""
import argparse
import http.server
import json
import os
import pathlib
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class RuntimeApi:
    """One invocation per `arm()`; records when `next` was first called."""

    def __init__(self):
        self.lock = threading.Lock()
        self.first_next = None
        self.served = False
        self.replied = None
        self.seq = 0
        api = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _reply(self, code, body=b"{}", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.endswith("/invocation/next"):
                    now = time.monotonic()
                    with api.lock:
                        if api.first_next is None:
                            api.first_next = now
                        give = not api.served
                        api.served = True
                        api.seq += 1
                        rid = f"req-{api.seq}"
                    if not give:
                        time.sleep(30)  # the harness kills the process long before this
                    deadline = int(time.time() * 1000) + 9000
                    self._reply(200, b"{}", [
                        ("Lambda-Runtime-Aws-Request-Id", rid),
                        ("Lambda-Runtime-Deadline-Ms", str(deadline)),
                        ("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:000000000000:function:coldstart:1"),
                        ("Lambda-Runtime-Trace-Id", "Root=1-0-0"),
                    ])
                    if give:
                        api.replied = time.monotonic()
                else:
                    self._reply(404)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                self._reply(202)

        class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = S(("127.0.0.1", 0), H)
        self.addr = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self):
        with self.lock:
            self.first_next = None
            self.served = False
            self.replied = None


def start_dev_server():
    cli = os.environ.get("TEMPORAL_CLI") or str(REPO / ".venv/bin/temporal")
    if not os.path.exists(cli):
        sys.exit(f"no temporal binary at {cli}: set TEMPORAL_CLI")
    port = free_port()
    db = tempfile.mkdtemp(prefix="coldstart-")
    p = subprocess.Popen(
        [cli, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--db-filename", f"{db}/t.db", "--log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 60
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            time.sleep(1.0)  # the frontend accepts before the default namespace is ready
            return p, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    p.kill()
    sys.exit("temporal dev server did not start")


def one_sample(path, api, address, scratch):
    env = {
        "AWS_LAMBDA_RUNTIME_API": api.addr,
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/coldstart",
        "AWS_LAMBDA_LOG_STREAM_NAME": "s",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": scratch,
        "TMPDIR": scratch,
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": "default",
        "TEMPORAL_TASK_QUEUE": "coldstart",
    }
    env.update(json.loads(os.environ.get("COLDSTART_EXTRA_ENV", "{}")))
    api.arm()
    t0 = time.monotonic()
    p = subprocess.Popen([path], env=env, cwd=scratch, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    poll = None
    try:
        for line in p.stdout:
            if b"worker polling" in line:
                poll = time.monotonic()
                break
            if time.monotonic() - t0 > 10:
                break
    finally:
        if os.environ.get("COLDSTART_WAIT"):  # a wrapper (perf, strace) that ends by itself
            p.stdout.read()
        else:
            p.kill()
        p.wait()
    if poll is None or api.first_next is None or api.replied is None:
        raise RuntimeError(f"{path}: no `worker polling` line")
    # The time this harness's Runtime API took to answer `next` is not the worker's: counted out,
    # as rig-latency does (Init Duration + handed to runtime → `worker polling`).
    init = api.first_next - t0
    return init * 1000, (init + poll - api.replied) * 1000


def pct(xs, q):
    s = sorted(xs)
    k = max(1, -(-len(s) * q // 100))  # nearest rank
    return s[int(k) - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("variants", nargs="+", help="NAME=PATH")
    a = ap.parse_args()
    variants = [v.split("=", 1) for v in a.variants]
    server, address = start_dev_server()
    api = RuntimeApi()
    scratch = tempfile.mkdtemp(prefix="coldstart-home-")
    res = {n: ([], []) for n, _ in variants}
    try:
        for i in range(a.runs + 1):  # round 0: warm-up (page cache, server connections), discarded
            for n, path in variants:
                init, poll = one_sample(path, api, address, scratch)
                if i > 0:
                    res[n][0].append(init)
                    res[n][1].append(poll)
    finally:
        server.kill()
        server.wait()
    for n, _ in variants:
        inits, polls = res[n]
        print(json.dumps({"name": n, "n": len(polls), "init_p50": round(pct(inits, 50), 2),
                          "poll_p50": round(pct(polls, 50), 2), "poll_p95": round(pct(polls, 95), 2),
                          "poll_min": round(min(polls), 2)}))


if __name__ == "__main__":
    main()
