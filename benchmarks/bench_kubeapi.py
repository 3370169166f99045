#!/usr/bin/env python3
"""Benchmark: the Kubernetes API test server's start-up time and request rates on loopback.

    .venv/bin/python benchmarks/bench_kubeapi.py [--objects 300] [--runs 3]

Starts the server through its launcher (as the sandbox does) and prints the seconds until
GET /readyz answers, then creates N ConfigMaps, reads each one back, lists the namespace and
creates N/10 Deployments (each runs the Deployment -> ReplicaSet -> Pod controllers), over one
keep-alive HTTP connection, and prints requests per second for each. Bounded: N requests a phase.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "tests", "support", "kubeapi_server.py")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(port, state_file):
    began = time.monotonic()
    proc = subprocess.Popen([sys.executable, SERVER, "--host", "127.0.0.1", "--port", str(port),
                             "--state-file", state_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.monotonic() - began < 30:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/readyz")
            if conn.getresponse().read() == b"ok":
                return proc, time.monotonic() - began
        except OSError:
            time.sleep(0.01)
    proc.kill()
    raise SystemExit("the server did not become ready in 30 s")


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise SystemExit(f"{method} {path}: {resp.status} {data[:200]!r}")
    return data


def rate(fn, count):
    began = time.perf_counter()
    for i in range(count):
        fn(i)
    return count / (time.perf_counter() - began)


def deployment(i):
    labels = {"app": f"bench-{i}"}
    return {"metadata": {"name": f"bench-{i}"}, "spec": {
        "replicas": 2, "selector": {"matchLabels": labels},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}


def run_once(objects):
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc, startup = start(port, os.path.join(tmp, "state.json"))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            call(conn, "POST", "/api/v1/namespaces", {"metadata": {"name": "bench"}})
            base = "/api/v1/namespaces/bench/configmaps"
            figures = {"startup_s": startup}
            figures["create_per_s"] = rate(lambda i: call(conn, "POST", base, {"metadata": {"name": f"cm-{i}"},
                                                                             "data": {"k": "v" * 64}}), objects)
            figures["get_per_s"] = rate(lambda i: call(conn, "GET", f"{base}/cm-{i}"), objects)
            lists = max(objects // 10, 1)
            figures[f"list_{objects}_per_s"] = rate(lambda i: call(conn, "GET", base), lists)
            figures["deployments_per_s"] = rate(
                lambda i: call(conn, "POST", "/apis/apps/v1/namespaces/bench/deployments", deployment(i)), lists)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once(args.objects) for _ in range(args.runs)]
    print(f"kubeapi test server, {args.objects} objects, {args.runs} runs (median / best)")
    for key in runs[0]:
        values = [r[key] for r in runs]
        best = min(values) if key == "startup_s" else max(values)
        unit = "s" if key == "startup_s" else "req/s"
        print(f"  {key:<22} {statistics.median(values):10.3f} / {best:10.3f} {unit}")


if __name__ == "__main__":
    main()
