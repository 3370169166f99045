"""Unit tests of the pure part of the blue_green_alb_weights module (reading listener weights)."""
from __future__ import annotations

from ansible_collections.cxr.mlops.plugins.modules.blue_green_alb_weights import current_weights

ARNS = {"blue": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/b/1",
        "green": "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/g/2"}


def forward(*groups):
    return {"DefaultActions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
        {"TargetGroupArn": ARNS[c], "Weight": w} for c, w in groups]}}]}


def test_weights_are_read_as_percentages_by_color():
    assert current_weights(forward(("blue", 100), ("green", 0)), ARNS) == {"blue": 100, "green": 0}
    assert current_weights(forward(("blue", 1), ("green", 3)), ARNS) == {"blue": 25, "green": 75}


def test_a_plain_single_target_group_forward_counts_as_all_traffic():
    listener = {"DefaultActions": [{"Type": "forward", "TargetGroupArn": ARNS["green"]}]}
    assert current_weights(listener, ARNS) == {"blue": 0, "green": 100}


def test_a_redirect_or_unknown_target_group_gives_no_weight():
    assert current_weights({"DefaultActions": [{"Type": "redirect"}]}, ARNS) == {"blue": 0, "green": 0}
    other = {"DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:other"}]}
    assert current_weights(other, ARNS) == {"blue": 0, "green": 0}
