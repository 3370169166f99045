"""Start the Kubernetes API test server through its launcher contract (used by the kubeapi suite)."""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "tests" / "support" / "kubeapi_server.py"
HELM3 = ROOT / ".tools" / "bin" / "helm"
HELM4 = ROOT / ".tools" / "bin" / "helm4"
KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, timeout: float = 30.0) -> float:
    """Poll GET /readyz until it answers 200 "ok"; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        try:
            with urllib.request.urlopen(url + "/readyz", timeout=0.5) as resp:
                if resp.status == 200 and resp.read() == b"ok":
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout}s")


class LocalServer:
    """The test server started through its launcher contract, as the sandbox starts it."""

    def __init__(self, workdir: Path, state_file: Path | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.state_file = state_file
        self.proc: subprocess.Popen | None = None
        self.startup_seconds = None

    def start(self) -> LocalServer:
        cmd = [sys.executable, str(SERVER), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.state_file:
            cmd += ["--state-file", str(self.state_file)]
        log = open(self.workdir / f"kubeapi-{self.port}.log", "ab")  # noqa: SIM115 - closed in stop()
        start = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        self._log = log
        try:
            wait_ready(self.url)
        except TimeoutError:
            self.proc.kill()
            self.proc.wait()
            log.close()
            raise
        self.startup_seconds = time.monotonic() - start
        return self

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.terminate()
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc

    def kubeconfig(self, path: Path) -> Path:
        path.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "kubeapi-test", "cluster": {"server": self.url}}],
            "users": [{"name": "kubeapi-test", "user": {"token": "any-token-is-accepted"}}],
            "contexts": [{"name": "kubeapi-test", "context": {"cluster": "kubeapi-test", "user": "kubeapi-test"}}],
            "current-context": "kubeapi-test",
        }))
        return path
