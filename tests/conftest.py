"""Shared fixtures: the local sandbox (real servers on 127.0.0.1) and the cluster to test against.

* ``sandbox``: the endpoints of the running sandbox (see tests/support/sandbox.py). It uses the
  sandbox in ``$CXR_SANDBOX_DIR`` (default ``.sandbox``), starting any part that is not running,
  so ``make test`` after ``make sandbox`` reuses it and a bare ``pytest`` still works.
* ``kubeconfig``: ``$KUBECONFIG`` when the user points it at a real cluster, otherwise the
  sandbox's Kubernetes API test server. Every cluster test takes its kubeconfig from here, so the
  same test runs unchanged against a real cluster.
* ``ansible_playbook``: runs a real ``ansible-playbook`` with the project's ansible.cfg and returns
  the result with the PLAY RECAP parsed.

Scheduling (``make test`` runs ``pytest -n N --dist loadfile --no-loadscope-reorder``): each test file
runs on one worker (its module-scoped fixtures: one apply, one moto), and the longest files are collected
first (``LONG_FIRST``), so no long file starts last and leaves one worker alone at the end.
``--no-loadscope-reorder`` keeps that order: xdist's default sorts the files by their number of tests,
which put the many quick unit files first and the few long Terraform applies last. (``--dist loadgroup``
would let single tests run beside their file, but with pytest 9.2 xdist 3.8 ignores the xdist_group
marks: pytest-dev/pytest-xdist#1386.)
"""
from __future__ import annotations

import fcntl
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import sandbox as sandbox_mod  # noqa: E402


# Longest first (pytest --durations, 4 workers on 2 cores): xdist hands out files in collection order.
LONG_FIRST = (
    "tests/integration/test_terraform_apply.py",
    "tests/integration/test_terraform_apply_guard.py",
    "tests/integration/test_terraform_stack.py",
    "tests/integration/test_blue_green.py",
    "tests/integration/test_terraform_apply_full_stack.py",
    "tests/integration/test_awx_plan_stash.py",
    "tests/integration/test_molecule_terraform_apply.py",
    "tests/integration/test_molecule.py",
    "tests/integration/test_terraform_apply_interrupt.py",
    "tests/integration/test_backup_cronjobs.py",
    "tests/integration/test_installed_collection.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONG_FIRST)}

    def relpath(item) -> str:
        try:
            return Path(str(item.path)).resolve().relative_to(ROOT).as_posix()
        except ValueError:
            return str(item.path)

    items.sort(key=lambda item: rank.get(relpath(item), len(rank)))  # stable: a file's own order stays


def _sandbox_dir() -> Path:
    return Path(os.environ.get("CXR_SANDBOX_DIR") or ROOT / ".sandbox")


@pytest.fixture(scope="session")
def sandbox() -> dict:
    """Endpoints of the local sandbox, started (idempotently) if needed; password included."""
    box = sandbox_mod.Sandbox(_sandbox_dir())
    parts = [p for p in os.environ.get("CXR_SANDBOX_PARTS", "").split(",") if p] or None
    box.state.mkdir(parents=True, exist_ok=True)
    try:
        # xdist workers start at once: one of them starts the sandbox, the others wait and reuse it.
        with open(box.state / ".up.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            box.up(parts)
    except sandbox_mod.SandboxError as exc:
        pytest.fail(f"the local sandbox could not start: {exc}")
    return json.loads((box.state / "endpoints.json").read_text())


def real_cluster_kubeconfig() -> str | None:
    """The user's KUBECONFIG when it points somewhere other than the sandbox, else None."""
    value = os.environ.get("KUBECONFIG")
    if value and Path(value).resolve() != (_sandbox_dir() / "kubeconfig").resolve():
        return value
    return None


@pytest.fixture(scope="session")
def kubeconfig(request) -> str:
    """Path of the kubeconfig every cluster test uses (a real cluster via KUBECONFIG wins)."""
    real = real_cluster_kubeconfig()
    if real:
        return real
    return request.getfixturevalue("sandbox")["kubeconfig"]


@pytest.fixture(scope="session")
def aws_env(sandbox) -> dict:
    """Environment for boto3 / terraform / ansible talking to the sandbox's moto server."""
    return {
        "AWS_ENDPOINT_URL": sandbox["moto"],
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }


RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)", re.M)


class PlaybookResult:
    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.recap = {m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
                      for m in RECAP.finditer(proc.stdout)}

    @property
    def changed(self) -> int:
        return sum(h["changed"] for h in self.recap.values())

    def __repr__(self) -> str:  # shown by pytest on failure
        return f"PlaybookResult(rc={self.rc}, recap={self.recap})\n{self.stdout[-6000:]}\n{self.stderr[-3000:]}"


def run_playbook(playbook: str | os.PathLike, *args: str, env: dict | None = None, timeout: int = 900,
                 extra_vars: dict | None = None) -> PlaybookResult:
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(playbook), *args]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    full_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
                "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0", **(env or {})}
    proc = subprocess.run(cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout, check=False)
    return PlaybookResult(proc)


@pytest.fixture(scope="session")
def ansible_playbook():
    return run_playbook


def free_port_base(count: int = 7) -> int:
    for _ in range(200):
        base = random.randint(30000, 39000)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


@pytest.fixture
def private_sandbox():
    """A sandbox of our own (own state dir and ports), stopped and removed afterwards.

    Not under pytest's tmp_path: PostgreSQL runs as the postgres user, which must reach the folder.
    """
    top = Path(tempfile.mkdtemp(prefix="cxr-sbx-"))
    top.chmod(0o755)
    env = {"CXR_SANDBOX_DIR": str(top / "sbx"), "CXR_SANDBOX_PORT_BASE": str(free_port_base())}
    yield env
    subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "sandbox.py"), "down", "--state-dir",
                    env["CXR_SANDBOX_DIR"]], capture_output=True, check=False)
    shutil.rmtree(top, ignore_errors=True)
