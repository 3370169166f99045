"""kubernetes.core through real ansible-playbook runs (the test server or a real cluster via KUBECONFIG)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PLAYBOOKS = Path(__file__).parent / "playbooks"


def test_kubernetes_core_blue_green_is_idempotent(cluster, namespace, ansible_playbook):
    args = ("-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}")
    first = ansible_playbook(PLAYBOOKS / "kubernetes_core.yml", *args, env=cluster.env,
                             extra_vars={"kt_namespace": namespace}, timeout=600)
    assert first.rc == 0, first
    assert first.recap["localhost"]["failed"] == 0
    assert first.changed >= 6, first  # deployments, service, configmap, switch, scale, json patch

    svc = cluster.get_json("service", "inference", namespace=namespace)
    assert svc["spec"]["selector"]["color"] == "green"
    annotations = cluster.get_json("deployment", "inference-green", namespace=namespace)["metadata"]["annotations"]
    assert annotations["cxr.io/active"] == "true"

    second = ansible_playbook(PLAYBOOKS / "kubernetes_core.yml", *args, env=cluster.env,
                              extra_vars={"kt_namespace": namespace}, timeout=600)
    assert second.rc == 0, second
    assert second.recap["localhost"]["changed"] == 0, second
