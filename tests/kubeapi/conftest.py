"""Fixtures for the Kubernetes API test server suite.

Every test here talks to a Kubernetes API through a kubeconfig only, so the same tests run
unchanged against a real cluster: with ``KUBECONFIG`` set in the environment they use it;
otherwise one Kubernetes API test server per pytest worker is started on a free port with the
real launcher (``tests/support/kubeapi_server.py``). Each test gets its own namespace.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from kubeapi_local import KUBECTL, LocalServer


class Cluster:
    """A kubeconfig plus the environment kubectl, helm and ansible need to use it."""

    def __init__(self, kubeconfig: Path, home: Path, local: LocalServer | None):
        self.kubeconfig = str(kubeconfig)
        self.local = local
        self.env = {
            **os.environ,
            "KUBECONFIG": self.kubeconfig,
            "KUBECACHEDIR": str(home / "kube-cache"),
            "HELM_CACHE_HOME": str(home / "helm-cache"),
            "HELM_CONFIG_HOME": str(home / "helm-config"),
            "HELM_DATA_HOME": str(home / "helm-data"),
        }

    def kubectl(self, *args: str, namespace: str | None = None, check: bool = True, timeout: float = 60,
                input: str | None = None) -> subprocess.CompletedProcess:
        cmd = [KUBECTL, *args]
        if namespace:
            cmd += ["-n", namespace]
        proc = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=timeout, input=input,
                              check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def get_json(self, *args: str, namespace: str | None = None) -> dict:
        return json.loads(self.kubectl("get", *args, "-o", "json", namespace=namespace).stdout)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    home = tmp_path_factory.mktemp("kubeapi-home")
    real = os.environ.get("KUBECONFIG")
    if real:
        yield Cluster(Path(real), home, None)
        return
    server = LocalServer(home).start()
    try:
        yield Cluster(server.kubeconfig(home / "kubeconfig"), home, server)
    finally:
        server.stop()


@pytest.fixture
def namespace(cluster, request) -> str:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"kt-{request.node.name[:30].lower().replace('_', '-').strip('-')}-{uuid.uuid4().hex[:6]}"
    name = "".join(c for c in name if c.isalnum() or c == "-")
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)
