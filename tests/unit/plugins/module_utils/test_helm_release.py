"""Unit tests of the Helm release comparison (plugins/module_utils/helm_release.py)."""
from __future__ import annotations

import json

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import helm_release as hr

CHART = {"name": "kube-prometheus-stack", "version": "75.15.1", "appVersion": "v0.83.0"}
DEPLOYED = {"name": "mon", "namespace": "monitoring", "revision": "2", "status": "deployed",
            "chart": "kube-prometheus-stack-75.15.1", "app_version": "v0.83.0"}


def test_merge_is_deep_for_maps_and_replaces_lists_and_nulls():
    base = {"a": {"b": 1, "c": [1, 2], "d": {"e": 1}}, "keep": True}
    out = hr.merge_values(base, {"a": {"c": [3], "d": None, "new": "x"}})
    assert out == {"a": {"b": 1, "c": [3], "d": None, "new": "x"}, "keep": True}
    assert base["a"]["c"] == [1, 2]  # inputs untouched


def test_desired_values_applies_files_in_order_then_release_values():
    files = [{"grafana": {"replicas": 1, "persistence": {"enabled": True}}}, None,
             {"grafana": {"replicas": 2}}]
    assert hr.desired_values(files, {"grafana": {"persistence": {"size": "10Gi"}}}) == {
        "grafana": {"replicas": 2, "persistence": {"enabled": True, "size": "10Gi"}}}


def test_desired_values_rejects_a_values_file_that_is_not_a_mapping():
    with pytest.raises(hr.HelmReleaseError, match="values file #2 is not a mapping"):
        hr.desired_values([{}, ["a"]])


def test_changed_paths_names_every_difference_and_treats_3_and_3_0_alike():
    before = {"a": {"b": 3, "c": "x"}, "l": [1, {"m": 1}], "gone": 1, "flag": True}
    after = {"a": {"b": 3.0, "c": "y"}, "l": [1, {"m": 2}], "new": 1, "flag": 1}
    assert hr.changed_paths(before, after) == ["a.c", "flag", "gone", "l[1].m", "new"]
    assert hr.changed_paths({"l": [1]}, {"l": [1, 2]}) == ["l"]
    assert hr.changed_paths({"a": {"b": 1}}, {"a": {"b": 1}}) == []


def test_plan_not_installed():
    result = hr.plan(None, {}, CHART, {"x": 1}, "monitoring")
    assert result["needs_upgrade"] and not result["installed"]
    assert "not installed in namespace monitoring" in result["reasons"][0]


def test_plan_same_release_needs_nothing():
    result = hr.plan(DEPLOYED, {"a": {"b": 1}}, CHART, {"a": {"b": 1.0}})
    assert result == {"needs_upgrade": False, "installed": True, "values_changed": [], "reasons": []}


@pytest.mark.parametrize("release, values, reason", [
    ({**DEPLOYED, "status": "failed"}, {"a": 1}, "is 'failed', not 'deployed'"),
    ({**DEPLOYED, "chart": "kube-prometheus-stack-75.14.0"}, {"a": 1}, "chart kube-prometheus-stack-75.14.0 is deployed"),
    ({**DEPLOYED, "app_version": "v0.82.0"}, {"a": 1}, "appVersion v0.82.0 is deployed"),
    (DEPLOYED, {"a": 2}, "values differ at a"),
])
def test_plan_reasons(release, values, reason):
    result = hr.plan(release, values, CHART, {"a": 1})
    assert result["needs_upgrade"]
    assert any(reason in r for r in result["reasons"]), result["reasons"]


def test_redact_masks_secrets_but_keeps_structure():
    values = {"alertmanager": {"slack_api_url": "https://hooks.slack.com/x", "receivers": [
        {"pagerduty_configs": [{"routing_key": "abc", "severity": "critical"}]}]},
        "grafana": {"adminPassword": "hunter2", "replicas": 1, "existingSecret": "grafana-admin"}}
    out = hr.redact(values)
    text = json.dumps(out)
    assert "hunter2" not in text and "abc" not in text
    assert out["grafana"]["replicas"] == 1
    assert out["alertmanager"]["receivers"][0]["pagerduty_configs"][0]["severity"] == "critical"
    assert hr.redact({"x": "y"}, [r"^x$"]) == {"x": hr.REDACTED}


class FakeHelm:
    """Records argv and answers like helm would (the only thing faked: the helm process)."""

    def __init__(self, releases, values, chart_yaml, rc=0):
        self.calls = []
        self.releases, self.values, self.chart_yaml, self.rc = releases, values, chart_yaml, rc

    def __call__(self, argv):
        self.calls.append(argv)
        if self.rc:
            return self.rc, "", "Error: Kubernetes cluster unreachable"
        if argv[1] == "list":
            return 0, json.dumps(self.releases), ""
        if argv[1] == "get":
            return 0, json.dumps(self.values), ""
        if argv[1:3] == ["show", "chart"]:
            return 0, self.chart_yaml, ""
        raise AssertionError(argv)


CHART_YAML = "apiVersion: v2\nname: kube-prometheus-stack\nversion: 75.15.1\nappVersion: v0.83.0\n"


def test_check_release_end_to_end_with_flags_and_redacted_diff():
    run = FakeHelm([DEPLOYED], {"grafana": {"adminPassword": "old"}, "x": 1}, "Pulled: oci://r/c:1\nDigest: sha\n" + CHART_YAML)
    helm = hr.HelmRelease(run, binary="/bin/helm", kubeconfig="/k", context="ctx", namespace="monitoring", helm_major=3)
    result = hr.check_release(helm, "mon", "oci://r/c", [{"x": 1}], {"grafana": {"adminPassword": "new"}},
                              chart_version="75.15.1")
    assert result["needs_upgrade"] and result["values_changed"] == ["grafana.adminPassword"]
    assert "old" not in result["diff"]["before"] and "new" not in result["diff"]["after"]
    list_call = next(c for c in run.calls if c[1] == "list")
    assert list_call[-1] == "--all" and "--kubeconfig" in list_call and "--kube-context" in list_call
    assert "^mon$" in list_call


def test_check_release_helm4_omits_all_and_reports_unchanged():
    run = FakeHelm([DEPLOYED], {"x": 1}, CHART_YAML)
    helm = hr.HelmRelease(run, namespace="monitoring", helm_major=4)
    result = hr.check_release(helm, "mon", "./chart", [{"x": 1}])
    assert not result["needs_upgrade"]
    assert "--all" not in next(c for c in run.calls if c[1] == "list")


def test_check_release_refuses_a_chart_whose_version_is_not_the_pinned_one():
    helm = hr.HelmRelease(FakeHelm([], None, CHART_YAML), namespace="m")
    with pytest.raises(hr.HelmReleaseError, match="not the pinned 76.0.0"):
        hr.check_release(helm, "mon", "./chart", chart_version="76.0.0")


def test_helm_errors_are_reported_with_the_command():
    helm = hr.HelmRelease(FakeHelm([], None, CHART_YAML, rc=1), namespace="m")
    with pytest.raises(hr.HelmReleaseError, match="'show chart' failed.*cluster unreachable"):
        hr.check_release(helm, "mon", "./chart")


def test_unreadable_outputs_are_errors():
    with pytest.raises(hr.HelmReleaseError, match="helm list"):
        hr.parse_release_list("not json", "x")
    with pytest.raises(hr.HelmReleaseError, match="no chart name"):
        hr.parse_chart("foo: bar")
    assert hr.parse_values("null") == {}
