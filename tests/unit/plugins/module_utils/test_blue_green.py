"""Unit tests of the blue-green input rules (plugins/module_utils/blue_green.py)."""
from __future__ import annotations

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils.blue_green import blue_green_cutover_input_errors

GOOD = {
    "blue_green_cutover_gate_interval": "30s", "blue_green_cutover_gate_count": 5,
    "blue_green_cutover_gate_failure_limit": 1, "blue_green_cutover_gate_consecutive_error_limit": 4,
    "blue_green_cutover_gate_timeout": 5, "blue_green_cutover_gate_rate_window": "2m",
    "blue_green_cutover_rollout_timeout_seconds": 600, "blue_green_cutover_rollback_window_seconds": 300,
    "blue_green_cutover_alb_health_timeout_seconds": 300, "blue_green_cutover_alb_health_delay_seconds": 5,
    "blue_green_cutover_min_accuracy": 0.9, "blue_green_cutover_max_error_ratio": 0.01,
    "blue_green_cutover_max_p95_latency_seconds": 0.5, "blue_green_cutover_min_request_rate": 0,
    "blue_green_cutover_prometheus_url": "http://127.0.0.1:9090", "blue_green_cutover_gate_metrics": [{"name": "a"}],
}


def test_the_role_defaults_have_no_errors():
    assert blue_green_cutover_input_errors(GOOD) == []
    assert blue_green_cutover_input_errors({}) == []


@pytest.mark.parametrize("key,value,match", [
    ("gate_timeout", 0, "gate_timeout=0 must be > 0"),
    ("gate_timeout", -1, "gate_timeout=-1 must be > 0"),
    ("gate_timeout", "soon", "must be a finite number"),
    ("gate_timeout", float("nan"), "must be a finite number"),
    ("gate_count", 0, "gate_count=0 must be >= 1"),
    ("gate_count", 2.5, "must be a whole number"),
    ("gate_failure_limit", -1, "must be >= 0"),
    ("gate_failure_limit", 5, "smaller than blue_green_cutover_gate_count=5"),
    ("gate_consecutive_error_limit", "x", "must be a whole number"),
    ("gate_interval", "-1s", "gate_interval: invalid duration"),
    ("gate_interval", "soon", "gate_interval: invalid duration"),
    ("gate_rate_window", "2 minutes", "PromQL range"),
    ("rollout_timeout_seconds", 0, "must be > 0"),
    ("rollback_window_seconds", -5, "must be >= 0"),
    ("alb_health_timeout_seconds", True, "must be a whole number"),
    ("min_accuracy", 1.5, "within 0..1"),
    ("max_error_ratio", -0.1, "within 0..1"),
    ("max_p95_latency_seconds", 0, "must be > 0"),
    ("prometheus_url", "prom:9090", "http:// or https://"),
    ("gate_metrics", [], "at least one metric"),
])
def test_each_bad_setting_is_named(key, value, match):
    errors = blue_green_cutover_input_errors(dict(GOOD, **{"blue_green_cutover_" + key: value}))
    assert len(errors) == 1 and match in errors[0] and ("blue_green_cutover_" + key) in errors[0], errors


def test_every_error_is_reported_in_one_pass():
    bad = dict(GOOD, blue_green_cutover_gate_timeout=-1, blue_green_cutover_gate_count=0,
               blue_green_cutover_gate_interval="x")
    assert len(blue_green_cutover_input_errors(bad)) == 3
    assert blue_green_cutover_input_errors([]) == ["blue_green_cutover settings must be a dict, got list"]
