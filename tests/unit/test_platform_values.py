"""The values each environment gives its charts, checked against what the real charts make of them.

Learned by rendering the upstream charts at the pinned versions (kube-prometheus-stack 75.15.1 with
grafana 9.x, argo-cd 7.7.14) with the production values (issue 16); these tests need no fetched
file: they read our inventories and values, and render the stand-in chart in tests/fixtures/charts
where a rendered object is the thing to check.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "infrastructure" / "kubernetes" / "monitoring"
ENVIRONMENTS = ("local", "staging", "production")
STANDIN_KPS = ROOT / "tests" / "fixtures" / "charts" / "kube-prometheus-stack"


def _load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def _merge(base: dict, over: dict) -> dict:
    """Helm's values merge: dicts merge key by key, anything else is replaced."""
    out = copy.deepcopy(base)
    for key, value in (over or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _group_vars(env: str, name: str) -> dict:
    path = ROOT / "inventories" / env / "group_vars" / "all" / f"{name}.yml"
    return _load(path) if path.exists() else {}


def _role_defaults(role: str) -> dict:
    return _load(ROOT / "roles" / role / "defaults" / "main.yml")


def _monitoring_values(env: str) -> dict:
    values = _load(MONITORING / "prometheus-values.yaml")
    overrides = MONITORING / f"values-{env}.yaml"
    return _merge(values, _load(overrides)) if overrides.exists() else values


def _argocd_values(env: str) -> dict:
    values = _load(ROOT / "infrastructure" / "kubernetes" / "argocd" / "values.yaml")
    return _merge(values, _group_vars(env, "argocd_bootstrap").get("argocd_bootstrap_values", {}))


def _ingresses(env: str) -> list[dict]:
    gv = _group_vars(env, "cluster_baseline")
    return gv.get("cluster_baseline_ingresses", _role_defaults("cluster_baseline")["cluster_baseline_ingresses"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_argocd_ingress_speaks_the_protocol_argocd_server_serves(env):
    """server.insecure: true serves plain HTTP on the Service's port 80 (-> 8080); the chart's port
    443 also targets 8080, so HTTPS to either is a TLS handshake against HTTP: 502 at the ALB."""
    insecure = str(_argocd_values(env)["configs"]["params"].get("server.insecure", False)).lower() == "true"
    (argocd,) = [i for i in _ingresses(env) if i["service"] == "argocd-server"]
    protocol = argocd.get("backend_protocol", "HTTP")
    if insecure:
        assert (argocd["port"], protocol) == (80, "HTTP"), f"{env}: argocd-server serves HTTP, ingress sends {protocol} to {argocd['port']}"
    else:
        assert (argocd["port"], protocol) == (443, "HTTPS"), f"{env}: argocd-server serves TLS, ingress sends {protocol} to {argocd['port']}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_grafana_can_run_its_replica_count(env):
    """More than one Grafana on one ReadWriteOnce volume with SQLite cannot start (Multi-Attach) or
    corrupts the database; a rolling update of a single one hangs on the same volume."""
    grafana = _monitoring_values(env)["grafana"]
    persistence = grafana.get("persistence", {})
    rwo = persistence.get("enabled") and "ReadWriteOnce" in persistence.get("accessModes", ["ReadWriteOnce"])
    database = (grafana.get("grafana.ini") or {}).get("database", {}).get("type", "sqlite3")
    if grafana.get("replicas", 1) > 1:
        assert not rwo, f"{env}: {grafana['replicas']} Grafana replicas share one ReadWriteOnce volume"
        assert database != "sqlite3", f"{env}: {grafana['replicas']} Grafana replicas share one SQLite database"
    if rwo:
        assert grafana.get("deploymentStrategy", {}).get("type") == "Recreate", (
            f"{env}: a RollingUpdate of Grafana waits forever for the ReadWriteOnce volume"
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_grafana_servicemonitor_carries_the_release_label_prometheus_selects(env):
    values = _monitoring_values(env)
    release = _group_vars(env, "helm_monitoring").get("helm_monitoring_release_name") or _role_defaults("helm_monitoring")[
        "helm_monitoring_release_name"
    ]
    assert values["prometheus"]["prometheusSpec"].get("serviceMonitorSelectorNilUsesHelmValues", True)
    monitor = values["grafana"].get("serviceMonitor", {})
    assert monitor.get("enabled", True)
    assert (monitor.get("labels") or {}).get("release") == release


def _helm() -> str:
    for candidate in (ROOT / ".tools" / "bin" / "helm", shutil.which("helm")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    pytest.skip("helm not installed")


def test_standin_renders_grafana_strategy_and_servicemonitor_labels_from_production_values():
    """The stand-in makes from these values what the real chart makes: the Deployment's strategy and
    replicas, and a Grafana ServiceMonitor labelled only by the subchart and serviceMonitor.labels."""
    out = subprocess.run(
        [_helm(), "template", "kube-prometheus-stack", str(STANDIN_KPS), "--namespace", "monitoring",
         "-f", str(MONITORING / "prometheus-values.yaml"), "-f", str(MONITORING / "values-production.yaml")],
        check=True, capture_output=True, text=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-grafana")]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    (monitor,) = [d for d in docs if d["kind"] == "ServiceMonitor" and d["metadata"]["name"].endswith("-grafana")]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"

    bare = subprocess.run(
        [_helm(), "template", "kube-prometheus-stack", str(STANDIN_KPS), "--namespace", "monitoring"],
        check=True, capture_output=True, text=True,
    ).stdout
    (bare_monitor,) = [
        d for d in yaml.safe_load_all(bare)
        if d and d["kind"] == "ServiceMonitor" and d["metadata"]["name"].endswith("-grafana")
    ]
    assert "release" not in bare_monitor["metadata"]["labels"], "the subchart adds no release label by itself"


def test_cluster_autoscaler_image_minor_is_the_cluster_minor():
    from ansible_collections.cxr.mlops.plugins.module_utils import netpol

    for env in ENVIRONMENTS:
        version = _group_vars(env, "terraform_apply")["terraform_apply_variables"]["cluster_version"]
        tag = netpol.autoscaler_image_tag(version)
        assert tag.startswith(f"v{version}."), (env, version, tag)
        assert _group_vars(env, "cluster_baseline")["cluster_baseline_cluster_version"] == (
            "{{ terraform_apply_variables.cluster_version }}"
        )
    assert netpol.autoscaler_image_tag("v1.32.3") == "v1.32.0"
    with pytest.raises(netpol.BaselineError, match="no cluster-autoscaler release pinned for Kubernetes 1.19"):
        netpol.autoscaler_image_tag("1.19")
    with pytest.raises(netpol.BaselineError, match="not MAJOR.MINOR"):
        netpol.autoscaler_image_tag("latest")


def test_fluent_bit_sets_no_retention_it_cannot_apply():
    """aws-for-fluent-bit applies logRetentionDays only to a group it creates (autoCreateGroup true);
    Terraform creates ours, so the retention is Terraform's log_retention_days alone."""
    addons = _load(ROOT / "roles" / "cluster_baseline" / "vars" / "main.yml")
    cloudwatch = next(a for k, a in addons.items() if isinstance(a, dict) and "aws_for_fluent_bit" in a)[
        "aws_for_fluent_bit"]["values"]["cloudWatchLogs"]
    if not cloudwatch.get("autoCreateGroup", False):
        assert "logRetentionDays" not in cloudwatch
    for env in ENVIRONMENTS:
        assert "cluster_baseline_log_retention_days" not in _group_vars(env, "cluster_baseline")
        assert _group_vars(env, "terraform_apply")["terraform_apply_variables"]["log_retention_days"] >= 90


# UIs that log their users in themselves (Grafana: its own users; ArgoCD: SSO and local admin).
SELF_AUTHENTICATING = {"kube-prometheus-stack-grafana", "argocd-server"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_ui_without_its_own_login_is_published_on_the_alb(env):
    """The ALB and its WAF authenticate nobody: Prometheus or Alertmanager behind it is open to anyone."""
    published = {i["service"] for i in _ingresses(env)}
    assert published <= SELF_AUTHENTICATING, f"{env}: published without authentication: {published - SELF_AUTHENTICATING}"
