"""cxr.mlops.cost_estimate run in-process through AnsibleModule (arguments, check mode, failures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.cxr.mlops.plugins.modules import cost_estimate

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cost"
SEED = str(FIXTURES / "seed-plan.json")


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            cost_estimate.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = exc.value.code
    return out


def test_prices_the_plan(capsys):
    out = run_module(capsys, plan=SEED, usage_preset="medium")
    assert out["_rc"] == 0 and out["changed"] is False
    assert out["total_monthly_cost"] == 641.07 and out["usage_preset"] == "medium"
    assert out["currency"] == "USD" and out["catalog_date"]
    assert out["infracost"]["totalMonthlyCost"] == "641.07"
    assert out["scenarios"] == {}


def test_usage_file_and_scenarios(capsys, tmp_path):
    usage = tmp_path / "usage.yml"
    usage.write_text("---\npreset: small\ndata_transfer_out_gb: 100\ntypes:\n  aws_lb:\n    lcu: 0\n")
    out = run_module(capsys, plan=SEED, usage=str(usage), scenarios=["small", "large"])
    assert out["_rc"] == 0 and out["usage_preset"] == "small"
    assert out["scenarios"]["small"]["total_monthly_cost"] < out["scenarios"]["large"]["total_monthly_cost"]
    lb = next(r for r in out["resources"] if r["type"] == "aws_lb")
    assert lb["components"][1]["monthly_quantity"] == 0
    assert any(r["kind"] == "idle" and r["address"] == lb["address"] for r in out["recommendations"])


def test_usage_preset_option_overrides_the_usage_preset(capsys):
    out = run_module(capsys, plan=SEED, usage={"preset": "large"}, usage_preset="none")
    assert out["usage_preset"] == "none"


def test_budget_exceeded_fails_naming_the_biggest_items(capsys):
    out = run_module(capsys, plan=SEED, budget=400, usage_preset="medium")
    assert out["_rc"] == 1 and out["failed"] is True
    assert "exceeds the budget $400.00" in out["msg"]
    assert "module.eks.aws_eks_node_group.on_demand $144.16" in out["msg"]
    assert out["budget"]["exceeded"] is True and out["total_monthly_cost"] == 641.07


def test_budget_met(capsys):
    out = run_module(capsys, plan=SEED, budget=700)
    assert out["_rc"] == 0 and out["budget"] == {"limit": 700.0, "exceeded": False, "message": None}


def test_compare_to(capsys):
    out = run_module(capsys, plan=SEED, compare_to=str(FIXTURES / "golden" / "waf.plan.json"), usage_preset="medium")
    assert out["delta"]["total_monthly_cost_after"] == 641.07
    assert out["infracost"]["diffTotalMonthlyCost"] == "{:f}".format(
        __import__("decimal").Decimal(str(out["delta"]["total_monthly_cost_diff"])))


@pytest.mark.parametrize("args, message", [
    ({"plan": "/nonexistent/plan.json"}, "cannot be read"),
    ({"plan": SEED, "usage": {"data_transfer_out_gb": -1}}, "data_transfer_out_gb must be >= 0"),
    ({"plan": SEED, "budget": -5}, "budget must be >= 0"),
    ({"plan": SEED, "scenarios": ["gigantic"]}, "'gigantic' is not a usage preset"),
    ({"plan": SEED, "usage": 12}, "usage must be a mapping or a file path"),
])
def test_bad_input_fails_clearly(capsys, args, message):
    out = run_module(capsys, **args)
    assert out["_rc"] == 1 and message in out["msg"]


def test_not_a_plan(capsys, tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"format_version": "1.0", "values": {}}')
    out = run_module(capsys, plan=str(path))
    assert out["_rc"] == 1 and "state JSON, not a plan" in out["msg"]


def test_chart_check_mode_then_write_then_unchanged(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    chart = tmp_path / "chart.png"
    out = run_module(capsys, plan=SEED, chart_path=str(chart), scenarios=["small", "large"], _ansible_check_mode=True,
                     _ansible_diff=True)
    assert out["changed"] is True and not chart.exists()
    assert out["diff"]["after"].startswith("<PNG")
    out = run_module(capsys, plan=SEED, chart_path=str(chart), scenarios=["small", "large"])
    assert out["changed"] is True and chart.read_bytes()[:4] == b"\x89PNG"
    out = run_module(capsys, plan=SEED, chart_path=str(chart), scenarios=["small", "large"])
    assert out["changed"] is False


def test_a_region_outside_the_catalog_warns_and_prices_nothing_there(capsys, tmp_path, monkeypatch):
    warned = []
    monkeypatch.setattr(cost_estimate.AnsibleModule, "warn", lambda self, msg: warned.append(msg))
    plan = json.loads((FIXTURES / "golden" / "waf.plan.json").read_text())
    del plan["configuration"]  # no provider region: the region option decides
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    out = run_module(capsys, plan=str(path), region="mars-1")
    assert out["_rc"] == 0
    assert out["summary"]["uncovered_regions"] == ["mars-1"]
    assert any("region mars-1 is not in the price catalog" in w for w in warned), warned
    acl = next(r for r in out["resources"] if r["type"] == "aws_wafv2_web_acl")
    assert acl["price_not_found"] and acl["monthly_cost"] == 0 and out["total_monthly_cost"] == 0
    assert "mars-1 is not in the price catalog" in acl["reason"]


def test_without_usage_nothing_is_invented(capsys):
    # issue 20 (5): no usage file, no preset -> usage-based components are $0 with their unit price
    plain = run_module(capsys, plan=SEED)
    medium = run_module(capsys, plan=SEED, usage_preset="medium")
    assert plain["_rc"] == 0 and plain["usage_preset"] == "none"
    assert plain["total_monthly_cost"] < medium["total_monthly_cost"]
    assert not any(r["type"] == "data_transfer" for r in plain["resources"])
    nat = next(r for r in plain["resources"] if r["type"] == "aws_nat_gateway")
    processed = next(c for c in nat["components"] if c["name"] == "Data processed")
    assert processed["depends_on_usage"] and processed["monthly_cost"] == 0 and processed["price"] == 0.045
    assert "depends on usage: $0.045 per GB" in processed["explanation"]
    hours = next(c for c in nat["components"] if c["name"] == "NAT gateway")
    assert hours["monthly_cost"] == 32.85 and "depends_on_usage" not in hours
    # a figure the user gave is not "depends on usage", even when it is 0
    given = run_module(capsys, plan=SEED, usage={"types": {"aws_nat_gateway": {"data_processed_gb": 0}}})
    nat = next(r for r in given["resources"] if r["type"] == "aws_nat_gateway")
    assert "depends_on_usage" not in next(c for c in nat["components"] if c["name"] == "Data processed")
