"""The monitoring configuration as shipped, checked by the real tools (promtool, amtool).

* every rule file is valid (``promtool check rules``) and its unit tests pass (``promtool test rules``);
* every alert has a unit test that fires it and one that keeps it silent, a severity, a summary, a description
  and a runbook that exists in docs/runbooks;
* the role's default thresholds are the ones written in the rule files, so with the defaults the PrometheusRule
  objects equal the files that promtool and the sandbox's Prometheus test; other thresholds and ``for:`` durations
  are substituted correctly and fire where they should (promtool again);
* the Alertmanager configuration rendered from its template passes ``amtool check-config`` and routes by severity;
* the dashboards are valid Grafana JSON whose queries are valid PromQL.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

from ansible_collections.cxr.mlops.plugins.filter.prometheus_rules import prometheus_rules_alerts, prometheus_rules_tune

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "infrastructure" / "kubernetes" / "monitoring"
RULE_FILES = sorted((MON / "rules").glob("*.yml"))
TEST_FILES = sorted((MON / "tests").glob("*.test.yml"))
ROLE = ROOT / "roles" / "helm_monitoring"
RUNBOOKS = ROOT / "docs" / "runbooks"

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(not PROMTOOL, reason="promtool is not installed (Debian package prometheus)")
needs_amtool = pytest.mark.skipif(not AMTOOL, reason="amtool is not installed (Debian package prometheus-alertmanager)")


def run(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)


def all_rules():
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                yield path, rule


def role_threshold_defaults() -> dict:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    mapping = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["helm_monitoring__thresholds"]
    out = {}
    for alert, template in mapping.items():
        var = re.fullmatch(r"\{\{ (\w+) \}\}", template).group(1)
        out[alert] = defaults[var]
    return out


@needs_promtool
def test_promtool_check_rules():
    assert RULE_FILES, "no rule files"
    result = run(PROMTOOL, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_pass():
    result = run(PROMTOOL, "test", "rules", *map(str, TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_is_tested_firing_and_silent():
    fired, silent = set(), set()
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    alerts = {rule["alert"] for _, rule in all_rules() if "alert" in rule}
    assert alerts - fired == set(), "alerts without a test that fires them"
    assert alerts - silent == set(), "alerts without a test that keeps them silent"


@pytest.mark.parametrize("path, rule", [pytest.param(p, r, id=r["alert"]) for p, r in all_rules() if "alert" in r])
def test_alert_has_severity_texts_and_an_existing_runbook(path, rule):
    assert rule["labels"]["severity"] in ("critical", "warning")
    assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    page = rule["annotations"]["runbook_url"].rsplit("/", 1)[-1]
    assert rule["annotations"]["runbook_url"].endswith("/docs/runbooks/" + page)
    runbook = RUNBOOKS / page
    assert runbook.is_file(), f"{rule['alert']}: runbook {runbook} is missing"
    assert rule["alert"] in runbook.read_text()


def test_role_defaults_equal_the_thresholds_in_the_rule_files():
    """With the role's defaults the PrometheusRules are the files as tested."""
    thresholds = role_threshold_defaults()
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    named = set()
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text())
        mine = {a: v for a, v in thresholds.items() if a in prometheus_rules_alerts(doc)}
        named |= set(mine)
        assert prometheus_rules_tune(doc, mine, {}, defaults["helm_monitoring_runbook_base_url"], strict=False) == doc
    assert named == set(thresholds), "role thresholds for alerts that no rule file defines"


def test_every_alert_with_a_threshold_annotation_has_a_role_variable():
    tunable = {r["alert"] for _, r in all_rules() if "threshold" in r.get("annotations", {})}
    assert tunable == set(role_threshold_defaults())


@needs_promtool
def test_tuned_thresholds_and_durations_fire_where_they_should(tmp_path):
    """Accuracy threshold 0.95 and for 30s: a 0.94 accuracy that the shipped 0.85 ignores now fires after 30 s."""
    doc = yaml.safe_load((MON / "rules" / "model-alerts.yml").read_text())
    tuned = prometheus_rules_tune(doc, {"CxrModelAccuracyLow": 0.95}, {"CxrModelAccuracyLow": "30s"})
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(tuned))
    series = 'model_accuracy{job="cxr-inference",service="cxr-inference",color="green",version="v2"}'
    (tmp_path / "test.yml").write_text(yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "15s",
        "tests": [{"interval": "15s", "input_series": [{"series": series, "values": "0.94x20"}],
                   "alert_rule_test": [
                       {"eval_time": "15s", "alertname": "CxrModelAccuracyLow", "exp_alerts": []},
                       {"eval_time": "45s", "alertname": "CxrModelAccuracyLow", "exp_alerts": [{
                           "exp_labels": {"severity": "critical", "team": "ml", "service": "cxr-inference",
                                          "color": "green", "version": "v2"},
                           "exp_annotations": {k: v.replace("{{ $labels.service }}", "cxr-inference")
                                               .replace("{{ $labels.color }}", "green")
                                               .replace("{{ $labels.version }}", "v2")
                                               .replace('{{ $value | printf "%.3f" }}', "0.940")
                                               for k, v in tuned["groups"][0]["rules"][0]["annotations"].items()}}]}]}]}))
    assert tuned["groups"][0]["rules"][0]["annotations"]["threshold"] == "0.95"
    assert "below 0.95" in tuned["groups"][0]["rules"][0]["annotations"]["summary"]
    result = run(PROMTOOL, "test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def render_alertmanager(**overrides) -> str:
    values = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    values.update(overrides)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    return env.from_string((MON / "alertmanager" / "alertmanager.yml.j2").read_text()).render(**values)


SECRETS = {"helm_monitoring_slack_webhook_url": "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXX",
           "helm_monitoring_pagerduty_routing_key": "0123456789abcdef0123456789abcdef"}


@needs_amtool
@pytest.mark.parametrize("secrets", [SECRETS, {}], ids=["production receivers", "no receivers (sandbox)"])
def test_amtool_check_config(tmp_path, secrets):
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager(**secrets))
    result = run(AMTOOL, "check-config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    parsed = yaml.safe_load(config.read_text())
    receivers = {r["name"]: r for r in parsed["receivers"]}
    if secrets:
        assert receivers["pagerduty-critical"]["pagerduty_configs"][0]["routing_key"] == SECRETS["helm_monitoring_pagerduty_routing_key"]
        assert parsed["global"]["slack_api_url"] == SECRETS["helm_monitoring_slack_webhook_url"]
    else:
        assert "pagerduty_configs" not in receivers["pagerduty-critical"] and "slack_api_url" not in parsed["global"]


@needs_amtool
@pytest.mark.parametrize("labels, receivers", [
    (["severity=critical", "alertname=CxrModelAccuracyLow"], "pagerduty-critical,slack-critical"),
    (["severity=warning", "alertname=CxrInferenceLatencyHigh"], "slack-warning"),
    (["severity=none", "alertname=Watchdog"], "null"),
    (["alertname=SomethingUnlabelled"], "slack-warning"),
])
def test_alertmanager_routes_by_severity(tmp_path, labels, receivers):
    config = tmp_path / "alertmanager.yml"
    config.write_text(render_alertmanager(**SECRETS))
    result = run(AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


@pytest.mark.parametrize("path", sorted((MON / "dashboards").glob("*.json")), ids=lambda p: p.name)
def test_dashboard_is_grafana_json_with_valid_promql(path, tmp_path):
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["panels"]
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert exprs
    if not PROMTOOL:
        pytest.skip("promtool is not installed")
    # Grafana's variables replaced by values, every query checked by promtool as a recording rule.
    concrete = [re.sub(r"\$(\w+)", ".*", e.replace("$__rate_interval", "5m")) for e in exprs]
    rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": e}
                                                         for i, e in enumerate(concrete)]}]}
    (tmp_path / "q.yml").write_text(yaml.safe_dump(rules))
    result = run(PROMTOOL, "check", "rules", str(tmp_path / "q.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_values_files_switch_off_the_eks_control_plane_scrapers_and_keep_data():
    base = yaml.safe_load((MON / "prometheus-values.yaml").read_text())
    for component in ("kubeControllerManager", "kubeScheduler", "kubeEtcd", "kubeProxy"):
        assert base[component]["enabled"] is False
    spec = base["prometheus"]["prometheusSpec"]
    assert spec["retention"] and spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    assert spec["resources"]["requests"]
    assert base["alertmanager"]["alertmanagerSpec"]["storage"]["volumeClaimTemplate"]
    assert base["grafana"]["sidecar"]["dashboards"]["label"] == "grafana_dashboard"
    for env in ("local", "staging", "production"):
        assert isinstance(yaml.safe_load((MON / f"values-{env}.yaml").read_text()), dict)
