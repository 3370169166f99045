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


DIGEST = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cxr-inference@sha256:" + "a" * 64
TG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/%s/0123"


@pytest.mark.parametrize("extra,match", [
    ({"blue_green_cutover_image": "repo/cxr:latest"}, "must be an image pinned by digest"),
    ({"blue_green_cutover_image": "repo/cxr:v2@sha256:" + "a" * 64}, "must be an image pinned by digest"),
    ({"blue_green_cutover_version": "v 2"}, "must be a label value"),
    ({"blue_green_cutover_namespace": "Bad_NS"}, "blue_green_cutover_namespace='Bad_NS' must be a DNS label"),
    ({"blue_green_cutover_replicas": 3, "blue_green_cutover_hpa_max_replicas": 2}, "hpa_max_replicas=2 must be >="),
    ({"blue_green_cutover_replicas": 2, "blue_green_cutover_pdb_min_available": 2}, "else nodes never drain"),
    ({"blue_green_cutover_hpa_cpu_utilization": 0}, "within 1..100"),
    ({"blue_green_cutover_container_port": 70000}, "must be a port"),
    ({"blue_green_cutover_alb_listener_arn": "listener-1"}, "must be an ALB listener ARN"),
    ({"blue_green_cutover_alb_listener_arn": "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2",
      "blue_green_cutover_alb_target_group_arns": {"blue": TG % "b", "green": TG % "b"}}, "two different target group ARNs"),
])
def test_image_kubernetes_and_alb_rules(extra, match):
    errors = blue_green_cutover_input_errors({**GOOD, **extra})
    assert any(match in e for e in errors), errors


def test_a_pinned_image_good_kubernetes_settings_and_alb_pass():
    assert blue_green_cutover_input_errors({
        **GOOD, "blue_green_cutover_image": DIGEST, "blue_green_cutover_version": "v2", "blue_green_cutover_replicas": 2,
        "blue_green_cutover_hpa_max_replicas": 6, "blue_green_cutover_pdb_min_available": 1,
        "blue_green_cutover_alb_listener_arn": "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/x/1/2",
        "blue_green_cutover_alb_target_group_arns": {"blue": TG % "b", "green": TG % "g"}}) == []
    # a rollback does not look at the image
    assert blue_green_cutover_input_errors({"blue_green_cutover_action": "rollback", "blue_green_cutover_image": "x:latest"}) == []
