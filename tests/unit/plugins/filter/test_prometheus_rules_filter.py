"""Unit tests of the filters cxr.mlops.prometheus_rules_tune and prometheus_rules_alerts."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter.prometheus_rules import prometheus_rules_alerts, prometheus_rules_tune


def doc():
    return {"groups": [{"name": "g", "rules": [
        {"record": "job:x:rate5m", "expr": "rate(x[5m])"},
        {"alert": "Low", "expr": 'min(model_accuracy{le="0.85"}) < 0.85', "for": "10m",
         "labels": {"severity": "critical"},
         "annotations": {"threshold": "0.85", "summary": "below 0.85", "description": "is {{ $value }}, below 0.85 (0.855 is not it)",
                         "runbook_url": "https://old.example/docs/runbooks/low.md"}},
        {"alert": "Down", "expr": "up == 0", "for": "2m", "labels": {"severity": "critical"}, "annotations": {"summary": "down"}},
    ]}]}


def test_defaults_give_back_the_same_document_and_input_is_not_modified():
    original = doc()
    assert prometheus_rules_tune(original, {"Low": 0.85}) == doc()
    prometheus_rules_tune(original, {"Low": 0.5}, {"Low": "1m"})
    assert original == doc()


def test_threshold_is_replaced_in_expr_annotation_and_texts_only_as_a_whole_number():
    low = prometheus_rules_tune(doc(), {"Low": 0.9})["groups"][0]["rules"][1]
    assert low["expr"] == 'min(model_accuracy{le="0.85"}) < 0.9'  # the label value is left alone
    assert low["annotations"]["threshold"] == "0.9"
    assert low["annotations"]["summary"] == "below 0.9"
    assert low["annotations"]["description"] == "is {{ $value }}, below 0.9 (0.855 is not it)"


@pytest.mark.parametrize("value, literal", [(2, "2"), (2.0, "2"), (0.25, "0.25"), ("0.3", "0.3"), (1e-05, "1e-05")])
def test_number_formatting(value, literal):
    assert prometheus_rules_tune(doc(), {"Low": value})["groups"][0]["rules"][1]["expr"].endswith("< " + literal)


def test_for_durations_and_runbook_base_url():
    out = prometheus_rules_tune(doc(), for_durations={"Down": "30s"}, runbook_base_url="https://docs.example/runbooks/")
    rules = out["groups"][0]["rules"]
    assert rules[2]["for"] == "30s" and rules[1]["for"] == "10m"
    assert rules[1]["annotations"]["runbook_url"] == "https://docs.example/runbooks/low.md"


@pytest.mark.parametrize("kwargs, message", [
    ({"thresholds": {"Nope": 1}}, "no alert named Nope"),
    ({"for_durations": {"Low": "10 minutes"}}, "must be a Prometheus duration"),
    ({"thresholds": {"Down": 1}}, "Down has no 'threshold' annotation"),
    ({"thresholds": {"Low": "abc"}}, "threshold of Low"),
    ({"thresholds": {"Low": float("nan")}}, "not a finite number"),
    ({"thresholds": {"Low": True}}, "boolean"),
    ({"thresholds": []}, "must be mappings"),
])
def test_errors_name_the_filter(kwargs, message):
    with pytest.raises(AnsibleFilterError, match="prometheus_rules_tune: .*" + message):
        prometheus_rules_tune(doc(), **kwargs)


def test_ambiguous_threshold_literal_is_refused():
    bad = doc()
    bad["groups"][0]["rules"][1]["expr"] = "model_accuracy < 0.85 or other < 0.85"
    with pytest.raises(AnsibleFilterError, match="exactly once in its expr, found 2 times"):
        prometheus_rules_tune(bad, {"Low": 0.9})


def test_non_strict_ignores_alerts_of_other_files():
    assert prometheus_rules_tune(doc(), {"ElsewhereAlert": 1}, strict=False) == doc()


def test_alert_names_and_bad_documents():
    assert prometheus_rules_alerts(doc()) == ["Low", "Down"]
    with pytest.raises(AnsibleFilterError, match="prometheus_rules_alerts: expected a rule file"):
        prometheus_rules_alerts({"rules": []})
    with pytest.raises(AnsibleFilterError, match="needs a 'rules' list"):
        prometheus_rules_tune({"groups": [{"name": "x"}]})
