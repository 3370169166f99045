#!/usr/bin/env python3
"""Blue-green cutover timings with real ansible-playbook runs of playbooks/release.yml.

Prints, over --runs repetitions:

* seconds from the pre-switch gate's verdict to the Service selector switch (healthy release);
* seconds from a failed post-switch gate's verdict to the selector back on the old color, and to the completed
  rollback (candidate marked failed and scaled to 0, the play over).

The gate's verdict time is the health_gate result's ``finished_at`` (ansible.posix.json callback); the switch times
are observed by polling the Service every 20 ms from this process.

    CXR_SANDBOX_DIR=... .venv/bin/python benchmarks/bench_cutover.py [--runs 2] [--metrics-port-base 20890]

It needs the sandbox's Kubernetes API (or KUBECONFIG pointing at a cluster) and starts its own Prometheus and blue /
green exporters (the sandbox's code and configuration) on --metrics-port-base .. +6, stopped at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import sandbox as sandbox_mod  # noqa: E402
from kubernetes import client as k8s_client  # noqa: E402
from kubernetes import config as k8s_config  # noqa: E402

REPO = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cxr-inference"


def control(url, **body):
    req = urllib.request.Request(url + "/control", data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def wait_series(prom, color, version, timeout=20):
    query = 'count_over_time(model_accuracy{color="%s",version="%s"}[30s])' % (color, version)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310
            res = json.loads(r.read())["data"]["result"]
        if res and float(res[0]["value"][1]) >= 3:
            return
        time.sleep(0.5)
    raise SystemExit("no series for %s %s" % (color, version))


class Selector(threading.Thread):
    """Records the wall-clock time of every change of the Service's selector color."""

    def __init__(self, core, ns):
        super().__init__(daemon=True)
        self.core, self.ns = core, ns
        self.changes = []  # (time.time(), color)
        self.stop = threading.Event()

    def run(self):
        last = None
        while not self.stop.is_set():
            try:
                color = self.core.read_namespaced_service("cxr-inference", self.ns).spec.selector.get("color")
            except k8s_client.ApiException:
                color = None
            if color != last:
                self.changes.append((time.time(), color))
                last = color
            time.sleep(0.02)


def release(kubeconfig, prom, ns, version, char, extra=None):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "ANSIBLE_NOCOLOR": "1"}
    extra_vars = {"blue_green_cutover_kubeconfig": kubeconfig, "blue_green_cutover_namespace": ns,
                  "blue_green_cutover_prometheus_url": prom, "blue_green_cutover_rollback_window_seconds": 0,
                  "blue_green_cutover_image": "%s@sha256:%s" % (REPO, char * 64), "blue_green_cutover_version": version,
                  **(extra or {})}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "release.yml"),
                           "-e", json.dumps(extra_vars)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
                          check=False)
    ended = time.time()
    doc = json.loads(proc.stdout[proc.stdout.index("{"):])
    # the health_gate results in order: the pre-switch gate, then the post-switch gate
    results = [task["hosts"].get("localhost", {}) for play in doc["plays"] for task in play["tasks"]]
    runs = [r for r in results if "verdict" in r and "finished_at" in r]
    gates = dict(zip(["pre-switch", "post-switch"], runs))
    return proc.returncode, gates, ended


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--metrics-port-base", type=int, default=20890)
    args = parser.parse_args()

    sandbox_dir = Path(os.environ.get("CXR_SANDBOX_DIR") or ROOT / ".sandbox")
    kubeconfig = os.environ.get("KUBECONFIG") or str(sandbox_dir / "kubeconfig")
    if not os.environ.get("KUBECONFIG"):
        sandbox_mod.Sandbox(sandbox_dir).up(["kubeapi"])
    core = k8s_client.CoreV1Api(k8s_config.new_client_from_config(config_file=kubeconfig))

    box = sandbox_mod.Sandbox(Path(tempfile.mkdtemp(prefix="bench-cutover-")), port_base=args.metrics_port_base)
    box.up(["blue", "green", "prometheus"])
    ep = box.endpoints()
    prom, exporters = ep["prometheus"], ep["exporters"]
    to_switch, to_back, to_done = [], [], []
    try:
        for run in range(args.runs):
            ns = "bench-bg-%s" % uuid.uuid4().hex[:6]
            control(exporters["blue"], mode="healthy", version="v1")
            wait_series(prom, "blue", "v1")
            rc, _, _ = release(kubeconfig, prom, ns, "v1", "a")
            assert rc == 0, "bootstrap release failed"

            # healthy v2 on green: pre-switch verdict -> selector switch
            control(exporters["green"], mode="healthy", version="v2")
            wait_series(prom, "green", "v2")
            watch = Selector(core, ns)
            watch.start()
            rc, gates, _ = release(kubeconfig, prom, ns, "v2", "b")
            watch.stop.set()
            watch.join()
            assert rc == 0, "healthy release failed"
            switched = [t for t, c in watch.changes if c == "green"][0]
            to_switch.append(switched - gates["pre-switch"]["finished_at"])

            # v3 on blue degrades right after the switch: failed post-switch verdict -> back on green -> play over
            control(exporters["blue"], mode="healthy", version="v3")
            wait_series(prom, "blue", "v3")
            watch = Selector(core, ns)

            def degrade():
                while not watch.stop.is_set():
                    if any(c == "blue" for _, c in watch.changes):
                        control(exporters["blue"], mode="degraded")
                        return
                    time.sleep(0.02)

            watch.start()
            deg = threading.Thread(target=degrade, daemon=True)
            deg.start()
            rc, gates, ended = release(kubeconfig, prom, ns, "v3", "c", {"blue_green_cutover_gate_count": 6})
            watch.stop.set()
            watch.join()
            assert rc != 0 and gates["post-switch"]["verdict"] == "failed", "the post-switch gate did not fail"
            verdict = gates["post-switch"]["finished_at"]
            back = [t for t, c in watch.changes if c == "green" and t > verdict][0]
            to_back.append(back - verdict)
            to_done.append(ended - verdict)
            core.delete_namespace(ns)
            print("run %d: verdict->switch %.2fs, failed verdict->selector back %.2fs, ->rollback complete %.2fs"
                  % (run + 1, to_switch[-1], to_back[-1], to_done[-1]), flush=True)
    finally:
        box.down()

    def fmt(values):
        return "median %.2f s, min %.2f s, max %.2f s (n=%d)" % (statistics.median(values), min(values), max(values),
                                                                 len(values))
    print("gate verdict -> selector switch:            " + fmt(to_switch))
    print("failed gate -> selector back on old color:  " + fmt(to_back))
    print("failed gate -> rollback complete (play end): " + fmt(to_done))
    print("load average during the run: %.1f (2 cores)" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
