"""cxr.mlops cost filters: small pure functions over cost_estimate results."""

from __future__ import annotations

from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter.cost import (
    FilterModule, cost_breakdown, cost_delta, format_usd, monthly_cost,
)
from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate

GOLDEN = Path(__file__).resolve().parents[3] / "fixtures" / "cost" / "golden"


@pytest.fixture(scope="module")
def result():
    # NAT gateways in eu-west-1: 2 x 47.04 + EIP 3.65 = 97.73, all in "data transfer"
    return estimate(str(GOLDEN / "nat_gateway.plan.json"),
                    usage={"preset": "none", "resources": {"aws_nat_gateway.this[*]": {"data_processed_gb": 250}}})


def test_filters_are_registered():
    assert set(FilterModule().filters()) == {"monthly_cost", "cost_breakdown", "cost_delta", "format_usd"}


def test_monthly_cost(result):
    assert monthly_cost(result) == 97.73
    assert monthly_cost(result["resources"][0]) == 47.04
    assert monthly_cost(result["resources"]) == 97.73
    assert monthly_cost({"monthly_cost": None}) == 0.0
    assert monthly_cost([]) == 0.0


@pytest.mark.parametrize("bad", ["text", 3, None, [{"cost": 1}], {"total_monthly_cost": "x"}])
def test_monthly_cost_bad_input(bad):
    with pytest.raises(AnsibleFilterError, match="^monthly_cost: "):
        monthly_cost(bad)


def test_cost_breakdown(result):
    rows = cost_breakdown(result)
    assert [r["category"] for r in rows] == ["eks", "rds", "elasticache", "s3", "data_transfer", "other"]
    dt = rows[4]
    assert dt["monthly_cost"] == 97.73 and dt["seed_range"] == [30, 60] and dt["within_seed_range"] is False
    assert rows[0]["monthly_cost"] == 0 and rows[0]["within_seed_range"] is False
    assert rows[5]["seed_range"] is None


@pytest.mark.parametrize("bad", [None, {}, {"resources": "x"}, {"resources": [{"monthly_cost": "abc"}]}])
def test_cost_breakdown_bad_input(bad):
    with pytest.raises(AnsibleFilterError, match="^cost_breakdown: "):
        cost_breakdown(bad)


def test_cost_delta(result):
    before = estimate(str(GOLDEN / "waf.plan.json"), usage={"preset": "none"})
    diff = cost_delta(result, before)
    assert diff["total_monthly_cost_before"] == 9 and diff["total_monthly_cost_after"] == 97.73
    assert diff["total_monthly_cost_diff"] == pytest.approx(88.73)
    with pytest.raises(AnsibleFilterError, match="^cost_delta: "):
        cost_delta(result, {"nope": 1})
    with pytest.raises(AnsibleFilterError, match="^cost_delta: "):
        cost_delta("x", result)


@pytest.mark.parametrize("value, kwargs, text", [
    (1234.5, {}, "$1,234.50"), (0, {}, "$0.00"), (-3, {}, "-$3.00"), ("88.735", {}, "$88.74"),
    (12.3, {"sign": True}, "+$12.30"), (-12.3, {"sign": True}, "-$12.30"), (0.00099, {"precision": 5}, "$0.00099"),
    (1e6, {"precision": 0}, "$1,000,000"),
])
def test_format_usd(value, kwargs, text):
    assert format_usd(value, **kwargs) == text


@pytest.mark.parametrize("value, kwargs", [("abc", {}), (None, {}), (True, {}), (1, {"precision": -1}),
                                           (1, {"precision": "2"})])
def test_format_usd_bad_input(value, kwargs):
    with pytest.raises(AnsibleFilterError, match="^format_usd: "):
        format_usd(value, **kwargs)
