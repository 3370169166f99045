"""Helm 3 and Helm 4 (real binaries) against the test server (or a real cluster via KUBECONFIG)."""
from __future__ import annotations

import base64
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from kubeapi_local import HELM3, HELM4

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CHART = Path(__file__).parent / "charts" / "probe"
PLAYBOOKS = Path(__file__).parent / "playbooks"


def helm(cluster, binary, *args, check=True):
    proc = subprocess.run([str(binary), *args], env=cluster.env, capture_output=True, text=True, timeout=300,
                          check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def release_secrets(cluster, namespace, release):
    return cluster.get_json("secrets", "-l", f"owner=helm,name={release}", namespace=namespace)["items"]


@pytest.mark.parametrize("binary", [HELM3, HELM4], ids=["helm3", "helm4"])
def test_helm_release_lifecycle(cluster, namespace, binary):
    if not binary.exists():
        pytest.skip(f"{binary} is not installed")
    wait = ["--wait"] if binary == HELM3 else ["--wait=watcher"]
    base = ["-n", namespace, "--timeout", "120s"]
    helm(cluster, binary, "upgrade", "--install", "rel", str(CHART), *base, *wait)

    dep = cluster.get_json("deployment", "rel-web", namespace=namespace)
    assert dep["status"]["readyReplicas"] == 2
    assert cluster.get_json("probes.kubeapi.cxr.io", "rel-probe", namespace=namespace)["spec"]["target"] == "rel-web"
    job = cluster.get_json("job", "rel-smoke", namespace=namespace)
    assert any(c["type"] == "Complete" and c["status"] == "True" for c in job["status"]["conditions"])
    secrets = release_secrets(cluster, namespace, "rel")
    assert [s["metadata"]["labels"]["version"] for s in secrets] == ["1"]
    assert secrets[0]["type"] == "helm.sh/release.v1"
    release = json.loads(gzip.decompress(base64.b64decode(base64.b64decode(secrets[0]["data"]["release"]))))
    assert release["name"] == "rel" and release["info"]["status"] == "deployed"

    helm(cluster, binary, "upgrade", "--install", "rel", str(CHART), *base, *wait, "--set", "color=green")
    pods = cluster.get_json("pods", "-l", "app.kubernetes.io/instance=rel", namespace=namespace)["items"]
    assert {p["metadata"]["labels"]["color"] for p in pods if not p["metadata"].get("deletionTimestamp")} == {"green"}
    history = json.loads(helm(cluster, binary, "history", "rel", "-n", namespace, "-o", "json").stdout)
    assert [(h["revision"], h["status"]) for h in history] == [(1, "superseded"), (2, "deployed")]

    helm(cluster, binary, "rollback", "rel", "1", *base, *wait)
    history = json.loads(helm(cluster, binary, "history", "rel", "-n", namespace, "-o", "json").stdout)
    assert history[-1]["revision"] == 3 and history[-1]["status"] == "deployed"
    cm = cluster.get_json("configmap", "rel-config", namespace=namespace)
    assert cm["data"]["color"] == "blue"

    helm(cluster, binary, "uninstall", "rel", "-n", namespace, "--wait", "--timeout", "120s")
    assert release_secrets(cluster, namespace, "rel") == []
    assert cluster.kubectl("get", "deployment", "rel-web", namespace=namespace, check=False).returncode != 0
    assert helm(cluster, binary, "status", "rel", "-n", namespace, check=False).returncode != 0


def test_kubernetes_core_helm_second_run_unchanged(cluster, namespace, ansible_playbook):
    args = ("-i", "localhost,", "-e", f"ansible_python_interpreter={sys.executable}")
    extra = {"kt_namespace": namespace, "kt_helm": str(HELM3)}
    first = ansible_playbook(PLAYBOOKS / "helm_release.yml", *args, env=cluster.env, extra_vars=extra, timeout=600)
    assert first.rc == 0, first
    assert first.recap["localhost"]["changed"] == 1, first
    assert cluster.get_json("deployment", "probe-web", namespace=namespace)["status"]["readyReplicas"] == 2
    second = ansible_playbook(PLAYBOOKS / "helm_release.yml", *args, env=cluster.env, extra_vars=extra, timeout=600)
    assert second.rc == 0, second
    assert second.recap["localhost"]["changed"] == 0, second
