"""Role cxr.mlops.helm_monitoring through real ansible-playbook runs of playbooks/monitoring.yml.

The release goes to the cluster of the ``kubeconfig`` fixture (the sandbox's Kubernetes API test server, or a real
cluster through KUBECONFIG) from the local test chart tests/fixtures/charts/kube-prometheus-stack (same name and
version as the pinned real chart, which cannot be downloaded here), in a namespace of its own that is removed at
the end. Objects are read back with the real kubectl and helm.

The alert checks degrade the green exporter, so, like test_blue_green.py, they use a *private* Prometheus and
exporters started by the sandbox's own code (tests/support/sandbox.py: same configuration, same rule files) on
ports of this suite's range: other suites sharing the sandbox never see a degraded green because of this file.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

import sandbox as sandbox_mod
from tests.conftest import run_playbook  # the module-scoped fixtures below need it outside a fixture

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "monitoring.yml"
MONITORING = ROOT / "infrastructure" / "kubernetes" / "monitoring"
HELM = os.environ.get("CXR_HELM_BINARY") or str(ROOT / ".tools" / "bin" / "helm")
NAMESPACE = "cxr-monitoring-test"
RELEASE = "kps-test"
SHORT_FOR = "10s"  # inventories/local/group_vars/all/helm_monitoring.yml

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]


def private_port_base() -> int:
    """Eight ports in this suite's range (20650..20689), one block per xdist worker."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    return 20650 + 10 * (index % 4)


def kubectl(kubeconfig: str, *args: str) -> dict:
    out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args, "-o", "json"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return json.loads(out)


def helm_release(kubeconfig: str) -> dict | None:
    out = subprocess.run([HELM, "list", "--kubeconfig", kubeconfig, "-n", NAMESPACE, "-a", "-o", "json"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    return next((r for r in json.loads(out) if r["name"] == RELEASE), None)


def rule(kubeconfig: str, alert: str) -> dict:
    for item in kubectl(kubeconfig, "-n", NAMESPACE, "get", "prometheusrules")["items"]:
        for group in item["spec"]["groups"]:
            for r in group["rules"]:
                if r.get("alert") == alert:
                    return r
    raise AssertionError(f"no PrometheusRule in {NAMESPACE} defines {alert}")


@pytest.fixture(scope="module")
def run(kubeconfig, sandbox):
    """Runs playbooks/monitoring.yml against the test namespace with extra vars on top of the local inventory."""
    base = {"helm_monitoring_namespace": NAMESPACE, "helm_monitoring_release_name": RELEASE,
            "helm_monitoring_kubeconfig": kubeconfig, "helm_monitoring_helm_binary": HELM}

    def _run(*args: str, **extra):
        return run_playbook(PLAYBOOK, *args, extra_vars={**base, **extra},
                                env={"CXR_SANDBOX_DIR": sandbox["state_dir"], "CXR_SANDBOX_PORT_BASE": str(sandbox["port_base"])})
    yield _run
    subprocess.run([HELM, "uninstall", RELEASE, "--kubeconfig", kubeconfig, "-n", NAMESPACE], capture_output=True, check=False)
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", NAMESPACE, "--wait=false"],
                   capture_output=True, check=False)


@pytest.fixture(scope="module")
def converged(run, kubeconfig):
    subprocess.run([HELM, "uninstall", RELEASE, "--kubeconfig", kubeconfig, "-n", NAMESPACE], capture_output=True, check=False)
    result = run("--diff")
    assert result.rc == 0, result
    return result


def test_converge_installs_the_release_rules_dashboards_and_secrets(converged, kubeconfig):
    assert converged.changed > 0
    release = helm_release(kubeconfig)
    assert release and release["status"] == "deployed" and release["chart"] == "kube-prometheus-stack-75.15.1", release

    # The PrometheusRules carry the release label, so the operator's ruleSelector (release=<name>) loads them.
    prometheus = kubectl(kubeconfig, "-n", NAMESPACE, "get", "prometheus", f"{RELEASE}-prometheus")["spec"]
    assert prometheus["ruleSelector"] == {"matchLabels": {"release": RELEASE}}
    rules = kubectl(kubeconfig, "-n", NAMESPACE, "get", "prometheusrules", "-l", "app.kubernetes.io/managed-by=cxr.mlops.helm_monitoring")
    assert sorted(r["metadata"]["name"] for r in rules["items"]) == ["cxr-model-alerts", "cxr-resource-alerts"]
    assert all(r["metadata"]["labels"]["release"] == RELEASE for r in rules["items"])
    shipped = {r["alert"] for item in rules["items"] for g in item["spec"]["groups"] for r in g["rules"]}
    in_files = {r["alert"] for f in (MONITORING / "rules").glob("*.yml") for g in yaml.safe_load(f.read_text())["groups"]
                for r in g["rules"]}
    assert shipped == in_files
    accuracy = rule(kubeconfig, "CxrModelAccuracyLow")
    assert accuracy["expr"].endswith("< 0.85") and accuracy["for"] == SHORT_FOR
    assert accuracy["labels"]["severity"] == "critical" and accuracy["annotations"]["runbook_url"].endswith(
        "docs/runbooks/cxr-model-accuracy-low.md")

    # Dashboards for Grafana's sidecar.
    cms = kubectl(kubeconfig, "-n", NAMESPACE, "get", "configmaps", "-l", "grafana_dashboard=1")["items"]
    titles = sorted(json.loads(next(iter(cm["data"].values())))["title"] for cm in cms)
    assert titles == ["CXR inference service", "CXR resource use"]

    # EKS control-plane scrapers are off: the chart rendered no ServiceMonitor for them.
    monitors = {m["metadata"]["name"] for m in kubectl(kubeconfig, "-n", NAMESPACE, "get", "servicemonitors")["items"]}
    assert "cxr-inference" in monitors and f"{RELEASE}-kubelet" in monitors
    assert not {f"{RELEASE}-{c}" for c in ("kube-controller-manager", "kube-scheduler", "kube-etcd", "kube-proxy")} & monitors

    # Persistent storage and retention reached the Prometheus object (local overrides on top of the base file).
    assert prometheus["retention"] == "1d" and prometheus["storage"]["volumeClaimTemplate"]["spec"]["resources"][
        "requests"]["storage"] == "2Gi"

    # Grafana reads its admin password from the role's Secret; the password never reached the output.
    secret = kubectl(kubeconfig, "-n", NAMESPACE, "get", "secret", "cxr-grafana-admin")
    password = base64.b64decode(secret["data"]["admin-password"]).decode()
    assert len(password) == 32
    assert password not in converged.stdout and password not in converged.stderr
    grafana = kubectl(kubeconfig, "-n", NAMESPACE, "get", "deployment", f"{RELEASE}-grafana")
    env = {e["name"]: e for c in grafana["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])}
    assert env["GF_SECURITY_ADMIN_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "cxr-grafana-admin", "key": "admin-password"}
    assert env["LABEL"]["value"] == "grafana_dashboard"

    # Alertmanager uses the role's configuration Secret: routing by severity.
    am = kubectl(kubeconfig, "-n", NAMESPACE, "get", "alertmanager", f"{RELEASE}-alertmanager")["spec"]
    assert am["configSecret"] == "cxr-alertmanager-config"
    am_secret = kubectl(kubeconfig, "-n", NAMESPACE, "get", "secret", "cxr-alertmanager-config")
    config = yaml.safe_load(base64.b64decode(am_secret["data"]["alertmanager.yaml"]))
    assert {r["receiver"] for r in config["route"]["routes"]} >= {"pagerduty-critical", "slack-critical", "slack-warning"}


def test_second_run_changes_nothing(converged, run):
    result = run()
    assert result.rc == 0, result
    assert result.changed == 0, result


def test_check_mode_reports_changes_without_making_them(converged, run, kubeconfig):
    revision = helm_release(kubeconfig)["revision"]
    result = run("--check", "--diff", helm_monitoring_accuracy_threshold=0.9,
                 helm_monitoring_release_values={"grafana": {"replicas": 2}})
    assert result.rc == 0, result
    assert result.changed >= 2, result  # the release and the rules
    assert "values differ at grafana.replicas" in result.stdout
    assert "< 0.9" in result.stdout  # the PrometheusRule diff
    assert helm_release(kubeconfig)["revision"] == revision
    assert rule(kubeconfig, "CxrModelAccuracyLow")["expr"].endswith("< 0.85")


def test_changed_values_and_thresholds_are_applied_then_settle(converged, run, kubeconfig):
    revision = int(helm_release(kubeconfig)["revision"])
    changes = {"helm_monitoring_accuracy_threshold": 0.9, "helm_monitoring_latency_p95_seconds": 0.25,
               "helm_monitoring_release_values": {"grafana": {"replicas": 2}}}
    result = run(**changes)
    assert result.rc == 0 and result.changed >= 2, result
    assert int(helm_release(kubeconfig)["revision"]) == revision + 1
    grafana = kubectl(kubeconfig, "-n", NAMESPACE, "get", "deployment", f"{RELEASE}-grafana")
    assert grafana["spec"]["replicas"] == 2
    accuracy, latency = rule(kubeconfig, "CxrModelAccuracyLow"), rule(kubeconfig, "CxrInferenceLatencyHigh")
    assert accuracy["expr"].endswith("< 0.9") and accuracy["annotations"]["threshold"] == "0.9"
    assert latency["expr"].endswith("> 0.25") and "above 0.25 s" in latency["annotations"]["summary"]
    # The same inputs in check mode: nothing left to change.
    again = run("--check", **changes)
    assert again.rc == 0 and again.changed == 0, again


@pytest.mark.parametrize("variable, value", [
    ("helm_monitoring_accuracy_threshold", 1.5),
    ("helm_monitoring_accuracy_threshold", -0.1),
    ("helm_monitoring_latency_p95_seconds", -0.2),
])
def test_out_of_range_threshold_is_refused_before_anything_changes(run, kubeconfig, variable, value):
    namespace = "cxr-monitoring-refused"
    result = run(**{variable: value, "helm_monitoring_namespace": namespace})
    assert result.rc != 0
    assert "refusing to start, nothing was changed" in result.stdout
    assert f"{variable}={value}" in result.stdout
    assert result.recap["localhost"]["changed"] == 0
    names = {n["metadata"]["name"] for n in kubectl(kubeconfig, "get", "namespaces")["items"]}
    assert namespace not in names


def test_unknown_alert_in_for_overrides_is_refused(run):
    result = run(helm_monitoring_alert_for={"CxrNoSuchAlert": "5m"})
    assert result.rc != 0 and "unknown alerts ['CxrNoSuchAlert']" in result.stdout
    assert result.changed == 0


# ---------------------------------------------------------------------------------------- alerts, for real
@pytest.fixture(scope="module")
def metrics_stack(tmp_path_factory):
    """A private Prometheus + blue/green exporters started by the sandbox's own code (same config and rule files)."""
    base = int(os.environ.get("CXR_MON_METRICS_PORT_BASE") or private_port_base())
    box = sandbox_mod.Sandbox(tmp_path_factory.mktemp("mon-metrics"), port_base=base)
    box.up(["blue", "green", "prometheus"])
    yield box
    box.down()


def http_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {},
                                 method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 (loopback)
        return json.loads(resp.read())


def wait_for_alerts(prometheus: str, wanted: set[str], states: set[str], timeout: float = 90) -> list[dict]:
    deadline = time.monotonic() + timeout
    alerts: list[dict] = []
    while time.monotonic() < deadline:
        try:
            alerts = http_json(prometheus + "/api/v1/alerts")["data"]["alerts"]
        except OSError:  # a Prometheus that is still starting
            time.sleep(0.5)
            continue
        got = {a["labels"]["alertname"] for a in alerts if a["state"] in states and a["labels"].get("color") == "green"}
        if wanted <= got:
            return alerts
        time.sleep(1)
    raise AssertionError(f"alerts {sorted(wanted)} not {sorted(states)} within {timeout}s; got {alerts}")


@pytest.fixture
def degraded_green(metrics_stack):
    green = metrics_stack.url("green")
    http_json(green + "/control", {"mode": "degraded"})
    yield metrics_stack
    http_json(green + "/control", {"mode": "healthy"})


def test_sandbox_prometheus_with_the_rule_files_raises_accuracy_and_latency_alerts(degraded_green):
    """The sandbox's Prometheus loads the checked-in rule files (production `for:` of 10 minutes): the alerts go
    pending at once; promtool tests (tests/unit/test_prometheus_rules.py) prove they fire after `for:`."""
    prometheus = degraded_green.url("prometheus")
    groups = {g["name"] for g in http_json(prometheus + "/api/v1/rules")["data"]["groups"]}
    assert {"cxr-model.rules", "cxr-availability.rules", "cxr-resources.rules"} <= groups
    alerts = wait_for_alerts(prometheus, {"CxrModelAccuracyLow", "CxrInferenceLatencyHigh"}, {"pending", "firing"})
    assert not [a for a in alerts if a["labels"].get("color") == "blue"], alerts
    assert not [a for a in alerts if a["labels"]["alertname"] in ("CxrInferenceAbsent", "CxrInferenceTargetDown")]


def test_shipped_prometheusrules_fire_in_a_real_prometheus(converged, degraded_green, kubeconfig, tmp_path):
    """Plays the operator: the PrometheusRule objects read back from the cluster (local thresholds, `for: 10s`) are
    loaded into a real Prometheus scraping the degraded green exporter, and the alerts reach the firing state."""
    objects = kubectl(kubeconfig, "-n", NAMESPACE, "get", "prometheusrules", "-l", "app.kubernetes.io/managed-by=cxr.mlops.helm_monitoring")
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [g for item in objects["items"] for g in item["spec"]["groups"]]}))
    config = json.loads((degraded_green.state / "prometheus" / "prometheus.yml").read_text())
    config["rule_files"] = [str(rules_file)]
    config.pop("alerting", None)
    (tmp_path / "prometheus.yml").write_text(json.dumps(config))
    check = subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    port = degraded_green.port_base + 7
    proc = subprocess.Popen([shutil.which("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        alerts = wait_for_alerts(url, {"CxrModelAccuracyLow", "CxrInferenceLatencyHigh"}, {"firing"})
        firing = {a["labels"]["alertname"]: a for a in alerts if a["state"] == "firing"}
        assert firing["CxrModelAccuracyLow"]["labels"]["severity"] == "critical"
        assert firing["CxrInferenceLatencyHigh"]["annotations"]["runbook_url"].endswith("cxr-inference-latency-high.md")
        assert not [a for a in alerts if a["labels"].get("color") == "blue"], alerts
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_wait_failing_names_the_pending_claims(run, kubeconfig):
    """Issue 16 "Done when": without the StorageClass (or its CSI driver) the claims stay Pending (the PV
    controller's ProvisioningFailed, kubernetes/kubernetes pv_controller.go) and the role's failure names them."""
    namespace = "cxr-monitoring-nostorage"
    release = "kps-nostorage"
    try:
        result = run(helm_monitoring_namespace=namespace, helm_monitoring_release_name=release,
                     helm_monitoring_wait_timeout="20s",
                     helm_monitoring_release_values={"grafana": {"persistence": {
                         "enabled": True, "storageClassName": "no-such-class", "size": "1Gi"}}})
        assert result.rc != 0
        assert "Pending PersistentVolumeClaims:" in result.stdout, result.stdout[-3000:]
        assert "(class no-such-class)" in result.stdout
    finally:
        subprocess.run([HELM, "uninstall", release, "--kubeconfig", kubeconfig, "-n", namespace],
                       capture_output=True, check=False)
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "delete", "namespace", namespace, "--wait=false"],
                       capture_output=True, check=False)
