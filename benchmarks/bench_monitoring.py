#!/usr/bin/env python3
"""Time the monitoring role against the local sandbox: first install, no-op re-run, upgrade, check mode.

    CXR_SANDBOX_DIR=... CXR_SANDBOX_PORT_BASE=... .venv/bin/python benchmarks/bench_monitoring.py [--rounds N]

Each figure is the wall time of a real ``ansible-playbook playbooks/monitoring.yml`` (helm, kubectl-free
kubernetes.core tasks, the Kubernetes API test server or the cluster of KUBECONFIG), plus the time of one
``cxr.mlops.helm_release_check`` call measured by Ansible's profile_tasks callback. The release goes to a
namespace of its own, removed at the end. Prints a table; asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE, RELEASE = "cxr-monitoring-bench", "kps-bench"
HELM = str(ROOT / ".tools" / "bin" / "helm")


def kubeconfig() -> str:
    sandbox_dir = Path(os.environ.get("CXR_SANDBOX_DIR") or ROOT / ".sandbox")
    return os.environ.get("KUBECONFIG") or str(sandbox_dir / "kubeconfig")


def playbook(*args: str, **extra) -> tuple[float, int, float | None]:
    """(seconds, changed, seconds of the helm_release_check task)."""
    extra = {"helm_monitoring_namespace": NAMESPACE, "helm_monitoring_release_name": RELEASE,
             "helm_monitoring_kubeconfig": kubeconfig(), **extra}
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,profile_tasks",
           "ANSIBLE_NOCOLOR": "1"}
    start = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "monitoring.yml"),
                           *args, "-e", json.dumps(extra)], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"ansible-playbook failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")
    changed = int(re.search(r"changed=(\d+)", proc.stdout).group(1))
    check = re.search(r"Compare the deployed release with the pinned chart and values -+ ([\d.]+)s", proc.stdout)
    return elapsed, changed, float(check.group(1)) if check else None


def cleanup() -> None:
    subprocess.run([HELM, "uninstall", RELEASE, "-n", NAMESPACE, "--kubeconfig", kubeconfig(), "--wait"], capture_output=True, check=False)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig(), "delete", "namespace", NAMESPACE, "--wait=true", "--timeout=60s"],
                   capture_output=True, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rows: dict[str, list[tuple[float, int, float | None]]] = {}
    try:
        for replicas in range(2, 2 + args.rounds):
            cleanup()
            rows.setdefault("first install", []).append(playbook())
            rows.setdefault("second run (no change)", []).append(playbook())
            rows.setdefault("check mode, a value changed", []).append(
                playbook("--check", helm_monitoring_release_values={"grafana": {"replicas": replicas}}))
            rows.setdefault("upgrade (a value changed)", []).append(
                playbook(helm_monitoring_release_values={"grafana": {"replicas": replicas}}))
    finally:
        cleanup()
    print(f"{'run':32} {'wall s (median)':>16} {'changed':>8} {'helm_release_check s':>21}")
    for name, results in rows.items():
        checks = [c for _, _, c in results if c is not None]
        print(f"{name:32} {statistics.median(r[0] for r in results):16.1f} {results[-1][1]:8d} "
              f"{(statistics.median(checks) if checks else float('nan')):21.2f}")
    print(f"(rounds: {args.rounds}; load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
