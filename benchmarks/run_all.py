#!/usr/bin/env python3
"""`make bench`: time site.yml cold and as a no-op re-run, then run every benchmarks/bench_*.py.

The cold run uses a fresh sandbox of its own (new state folder, its own ports), so it measures
what `make run` costs on a fresh machine after the bootstrap, without disturbing `.sandbox/`.
Figures are printed, not asserted.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def free_base(count: int = 7) -> int:
    for base in range(41000, 49000, 10):
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise SystemExit("no free port range for the benchmark sandbox")


def run_site(env: dict) -> tuple[float, str, int]:
    start = time.monotonic()
    proc = subprocess.run([str(BIN / "ansible-playbook"), "site.yml"], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    recap = re.findall(r"changed=(\d+)", proc.stdout)
    if proc.returncode != 0:
        print(proc.stdout[-4000:], proc.stderr[-2000:], sep="\n", file=sys.stderr)
    return elapsed, recap[-1] if recap else "?", proc.returncode


def main() -> int:
    top = Path(tempfile.mkdtemp(prefix="cxr-bench-"))
    top.chmod(0o755)  # PostgreSQL runs as the postgres user and must reach its data folder
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "CXR_SANDBOX_DIR": str(top / "sandbox"),
           "CXR_SANDBOX_PORT_BASE": str(free_base()), "ANSIBLE_NOCOLOR": "1"}
    env.pop("KUBECONFIG", None)
    failures = 0
    try:
        cold, cold_changed, rc1 = run_site(env)
        warm, warm_changed, rc2 = run_site(env)
        failures += bool(rc1) + bool(rc2)
        print("== site.yml (make run after bootstrap)")
        print(f"cold run      {cold:8.1f} s   changed={cold_changed}   rc={rc1}")
        print(f"no-op re-run  {warm:8.1f} s   changed={warm_changed}   rc={rc2}")
    finally:
        subprocess.run([sys.executable, str(ROOT / "tests/support/sandbox.py"), "down", "--state-dir",
                        str(top / "sandbox")], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)
    for script in sorted((ROOT / "benchmarks").glob("bench_*.py")):
        print(f"\n== {script.name}", flush=True)
        proc = subprocess.run([sys.executable, str(script)], cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
        failures += proc.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
