"""Unit tests of the health report filters (plugins/filter/health.py)."""
from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter import health


def _m(phase):
    return {"metric": "accuracy", "phase": phase}


def test_health_score_is_the_share_of_successful_measurements():
    result = {"measurements": [_m("successful"), _m("successful"), _m("failed"), _m("error")]}
    assert health.health_score(result) == 0.5
    assert health.health_score([_m("successful")]) == 1.0


def test_health_score_of_nothing_measured_is_zero_not_perfect():
    assert health.health_score({"measurements": []}) == 0.0


@pytest.mark.parametrize("bad,match", [
    ({"verdict": "passed"}, "expected a health_gate result"),
    ("passed", "measurements must be a list"),
    ([{"phase": "skipped"}], "not a measurement"),
])
def test_health_score_rejects_what_is_not_a_gate_result(bad, match):
    with pytest.raises(AnsibleFilterError, match="health_score: " + match):
        health.health_score(bad)


def test_slo_burn_rate():
    assert health.slo_burn_rate(0.001, 0.999) == 1.0
    assert health.slo_burn_rate(0.0144, 0.999) == 14.4
    assert health.slo_burn_rate(0, 0.99) == 0.0
    assert health.slo_burn_rate("0.02", "0.99") == 2.0


def test_error_budget_remaining():
    assert health.error_budget_remaining(0.0005, 0.999) == 0.5
    assert health.error_budget_remaining(0.002, 0.999) == -1.0


@pytest.mark.parametrize("args,match", [
    ((1.5, 0.999), "error_ratio must be between 0 and 1"),
    ((0.01, 1.0), "slo_target must be below 1"),
    (("many", 0.99), "error_ratio must be a number"),
    ((True, 0.99), "error_ratio must be a number"),
    ((float("nan"), 0.99), "error_ratio must be finite"),
])
def test_slo_burn_rate_rejects_bad_input_naming_the_filter(args, match):
    with pytest.raises(AnsibleFilterError, match="slo_burn_rate: " + match):
        health.slo_burn_rate(*args)
    with pytest.raises(AnsibleFilterError, match="error_budget_remaining: " + match):
        health.error_budget_remaining(*args)


def test_filters_are_registered():
    names = health.FilterModule().filters()
    assert set(names) == {"health_score", "slo_burn_rate", "error_budget_remaining"}
