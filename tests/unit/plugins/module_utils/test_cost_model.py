"""cost module_utils as pure functions: the seed-sized plan (tests/fixtures/cost/seed-plan.json), usage,
bad input, deltas, budget, recommendations, Infracost shape, chart. The production inventory's own plan is
checked in tests/integration/test_cost_report.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import cost
from ansible_collections.cxr.mlops.plugins.module_utils.cost import CostError, estimate

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "cost"
SEED = FIXTURES / "seed-plan.json"
GOLDEN = FIXTURES / "golden"


@pytest.fixture(scope="module")
def seed_plan():
    return json.loads(SEED.read_text())


@pytest.fixture(scope="module")
def seed(seed_plan):
    return estimate(copy.deepcopy(seed_plan), usage={"preset": "medium"})


def _res(result, address):
    return next(r for r in result["resources"] if r["address"] == address)


# --- the seed-sized plan and the seed's estimate ------------------------------------------

def test_seed_plan_with_medium_usage_lands_in_the_seed_ranges(seed):
    rows = dict((row["category"], row) for row in seed["breakdown"])
    assert 150 <= rows["eks"]["monthly_cost"] <= 300
    assert 100 <= rows["rds"]["monthly_cost"] <= 200
    assert 50 <= rows["elasticache"]["monthly_cost"] <= 100
    assert 20 <= rows["s3"]["monthly_cost"] <= 50
    assert 30 <= rows["data_transfer"]["monthly_cost"] <= 60
    assert all(row["within_seed_range"] for row in rows.values() if row["seed_range"])
    assert cost.SEED_TOTAL_RANGE[0] <= seed["total_monthly_cost"] <= cost.SEED_TOTAL_RANGE[1]
    assert sum(row["monthly_cost"] for row in seed["breakdown"]) == pytest.approx(seed["total_monthly_cost"])


def test_seed_plan_figures_are_explained(seed):
    for res in seed["resources"]:
        if res["status"] == "priced":
            assert res["components"], res["address"]
            for comp in res["components"]:
                assert comp["explanation"], comp
                if comp["price"] is not None and comp["unit"] == "hours":
                    assert "730 h" in comp["explanation"], comp
        else:
            assert res["reason"], res["address"]
    nodes = _res(seed, "module.eks.aws_eks_node_group.spot")["components"][0]
    assert "spot" in nodes["explanation"] and "0.65" in nodes["explanation"]
    assert "desired_size" in nodes["explanation"]


def test_replica_region_resources_are_priced_in_their_region(seed):
    assert _res(seed, "module.storage.aws_s3_bucket.backups_replica")["region"] == "us-west-2"
    assert _res(seed, "module.storage.aws_s3_bucket.backups")["region"] == "us-east-1"


def test_unpriced_types_are_listed_not_zero(seed):
    sns = _res(seed, "module.observability.aws_sns_topic.alerts")
    assert sns["status"] == "unpriced" and sns["monthly_cost"] is None
    assert "aws_sns_topic" in seed["summary"]["unpriced_types"]
    vpc = _res(seed, "module.network.aws_vpc.this")
    assert vpc["status"] == "free" and vpc["monthly_cost"] == 0 and "free" in vpc["reason"]
    pw = _res(seed, "module.data.random_password.db")
    assert pw["status"] == "free" and "not an AWS resource" in pw["reason"]


def test_presets_order_costs(seed_plan):
    totals = dict((p, estimate(copy.deepcopy(seed_plan), usage={"preset": p})["total_monthly_cost"])
                  for p in ("none", "small", "medium", "large"))
    assert totals["small"] < totals["medium"] < totals["large"]
    # "none" keeps the desired node counts but no usage-based quantity
    assert totals["none"] < totals["medium"]


def test_deleted_resources_are_not_priced(seed_plan):
    plan = copy.deepcopy(seed_plan)
    for rc in plan["resource_changes"]:
        if rc["type"] == "aws_elasticache_replication_group":
            rc["change"]["actions"] = ["delete"]
    result = estimate(plan)
    assert not [r for r in result["resources"] if r["type"] == "aws_elasticache_replication_group"]


def test_planned_values_only_plan_is_priced(seed_plan):
    plan = copy.deepcopy(seed_plan)
    del plan["resource_changes"]
    assert estimate(plan)["total_monthly_cost"] == estimate(copy.deepcopy(seed_plan))["total_monthly_cost"]


# --- usage -----------------------------------------------------------------------------------

def test_usage_layers_preset_type_pattern_address(seed_plan):
    usage = {"preset": "medium",
             "types": {"aws_nat_gateway": {"data_processed_gb": 10}},
             "resources": {"module.network.aws_nat_gateway.*": {"data_processed_gb": 20},
                           "module.network.aws_nat_gateway.this[0]": {"data_processed_gb": 30}}}
    result = estimate(copy.deepcopy(seed_plan), usage=usage)
    gb = _res(result, "module.network.aws_nat_gateway.this[0]")["components"][1]
    assert gb["monthly_quantity"] == 30 and gb["usage_source"] == "usage resources[module.network.aws_nat_gateway.this[0]]"
    del usage["resources"]["module.network.aws_nat_gateway.this[0]"]
    assert _res(estimate(copy.deepcopy(seed_plan), usage=usage),
                "module.network.aws_nat_gateway.this[0]")["components"][1]["monthly_quantity"] == 20
    del usage["resources"]
    assert _res(estimate(copy.deepcopy(seed_plan), usage=usage),
                "module.network.aws_nat_gateway.this[0]")["components"][1]["monthly_quantity"] == 10


def test_a_pattern_spanning_types_applies_each_type_its_own_keys(seed_plan):
    result = estimate(copy.deepcopy(seed_plan), usage={"preset": "none", "resources": {
        "module.network.*": {"data_processed_gb": 40, "ingested_gb": 8}}})
    nat = _res(result, "module.network.aws_nat_gateway.this[0]")
    assert nat["components"][1]["monthly_quantity"] == 40
    flow = _res(result, "module.network.aws_flow_log.this")
    assert flow["components"][0]["monthly_quantity"] == 8 and flow["monthly_cost"] == 2   # 8 GB x $0.25 (to S3)
    with pytest.raises(CostError, match=r"resources\['module.network.\*'\].gigabytes is not a usage key of any"):
        estimate(copy.deepcopy(seed_plan), usage={"resources": {"module.network.*": {"gigabytes": 1}}})


def test_unmatched_usage_addresses_are_reported(seed_plan):
    result = estimate(copy.deepcopy(seed_plan), usage={"resources": {"module.storage.aws_s3_bucket.modles": {
        "storage_gb": {"standard": 1}}}})
    assert result["unmatched_usage"] == ["module.storage.aws_s3_bucket.modles"]


def test_node_group_average_size_policies(seed_plan):
    sizes = {}
    for policy in ("min", "desired", "max", 2.5):
        result = estimate(copy.deepcopy(seed_plan), usage={"types": {"aws_eks_node_group": {"average_size": policy}}})
        sizes[policy] = _res(result, "module.eks.aws_eks_node_group.spot")["components"][0]["monthly_quantity"] / 730
    assert sizes == {"min": 1, "desired": 2, "max": 4, 2.5: 2.5}


# --- bad input -------------------------------------------------------------------------------

def test_not_a_plan(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(CostError, match="not Terraform plan JSON"):
        estimate(str(path))
    path.write_text("resource \"aws_vpc\" \"x\" {}")
    with pytest.raises(CostError, match="is not JSON"):
        estimate(str(path))
    path.write_text('{"format_version": "1.0", "values": {"root_module": {}}}')
    with pytest.raises(CostError, match="state JSON, not a plan"):
        estimate(str(path))
    with pytest.raises(CostError, match="cannot be read"):
        estimate(str(tmp_path / "missing.json"))


def test_unknown_region_marks_every_priced_resource_price_not_found(seed_plan):
    # issue 20 (4): a region outside the catalog is not an error that loses the whole estimate
    plan = copy.deepcopy(seed_plan)
    plan["configuration"]["provider_config"]["aws"]["expressions"]["region"]["constant_value"] = "ap-south-7"
    result = estimate(plan)
    assert result["region"] == "ap-south-7"
    assert result["summary"]["uncovered_regions"] == ["ap-south-7"]
    cluster = _res(result, "module.eks.aws_eks_cluster.this")
    assert cluster["price_not_found"] and cluster["monthly_cost"] == 0
    assert "region ap-south-7 is not in the price catalog" in cluster["reason"]
    assert "us-east-1, us-west-2" in cluster["reason"]
    assert cluster["components"][0]["price"] is None
    # the replica bucket's provider names its own region, still in the catalog: still priced
    replica = _res(result, "module.storage.aws_s3_bucket.backups_replica")
    assert replica["region"] == "us-west-2" and not replica["price_not_found"]
    assert "module.eks.aws_eks_cluster.this" in result["summary"]["price_not_found"]
    assert result["total_monthly_cost"] < estimate(copy.deepcopy(seed_plan))["total_monthly_cost"]


def test_aliased_provider_in_an_unknown_region_is_named(seed_plan):
    plan = copy.deepcopy(seed_plan)
    plan["configuration"]["provider_config"]["aws.replica"]["expressions"]["region"]["constant_value"] = "xx-east-9"
    result = estimate(plan)
    replica = _res(result, "module.storage.aws_s3_bucket.backups_replica")
    assert replica["region"] == "xx-east-9" and replica["price_not_found"]
    assert "region xx-east-9 is not in the price catalog" in replica["reason"]
    assert result["summary"]["uncovered_regions"] == ["xx-east-9"]
    assert not _res(result, "module.storage.aws_s3_bucket.backups")["price_not_found"]


def test_region_required_when_the_plan_has_none():
    plan = json.loads((GOLDEN / "waf.plan.json").read_text())
    del plan["configuration"]
    with pytest.raises(CostError, match="region is required"):
        estimate(plan)
    assert estimate(plan, region="eu-west-1")["region"] == "eu-west-1"


@pytest.mark.parametrize("usage, message", [
    ({"data_transfer_out_gb": -5}, r"data_transfer_out_gb must be >= 0, got -5"),
    ({"types": {"aws_nat_gateway": {"data_processed_gb": -1}}}, r"types.aws_nat_gateway.data_processed_gb must be >= 0"),
    ({"resources": {"module.storage.aws_s3_bucket.models": {"storage_gb": {"standard": -3}}}},
     r"storage_gb.standard must be >= 0"),
    ({"types": {"aws_nat_gateway": {"gb": 1}}}, r"gb is not a usage key of aws_nat_gateway"),
    ({"types": {"aws_s3_bucket": {"storage_gb": {"hot": 1}}}}, r"hot is not an S3 tier"),
    ({"preset": "huge"}, r"preset 'huge' is unknown"),
    ({"surprise": 1}, r"unknown key\(s\) surprise"),
    ({"types": {"aws_nat_gateway": {"data_processed_gb": "lots"}}}, r"must be a number >= 0, got 'lots'"),
    ({"types": {"aws_vpc": {"x": 1}}}, r"aws_vpc takes no usage"),
])
def test_bad_usage_is_a_clear_error(seed_plan, usage, message):
    with pytest.raises(CostError, match=message):
        estimate(copy.deepcopy(seed_plan), usage=usage)


def test_bad_utilization(seed_plan):
    with pytest.raises(CostError, match=r"cpu must be a fraction between 0 and 1"):
        estimate(copy.deepcopy(seed_plan), utilization={"on_demand": {"cpu": 35}})


# --- delta, budget ---------------------------------------------------------------------------

def test_delta_of_a_change(seed_plan):
    bigger = copy.deepcopy(seed_plan)
    for rc in bigger["resource_changes"]:
        if rc["type"] == "aws_db_instance":
            rc["change"]["after"]["instance_class"] = "db.m6g.large"
    before = estimate(copy.deepcopy(seed_plan))
    after = estimate(bigger)
    diff = cost.delta(before, after)
    assert diff["resources"][0]["address"] == "module.data.aws_db_instance.this"
    # db.t3.medium Multi-AZ 0.144/h -> db.m6g.large Multi-AZ 0.318/h: 730 x 0.174 = 127.02
    assert diff["resources"][0]["monthly_cost_diff"] == pytest.approx(127.02)
    assert diff["total_monthly_cost_diff"] == pytest.approx(127.02)
    assert len(diff["resources"]) == 1 and diff["unchanged"] > 50


def test_delta_added_and_removed():
    a = estimate(str(GOLDEN / "waf.plan.json"), usage={"preset": "none"})
    b = estimate(str(GOLDEN / "dynamodb.plan.json"), usage={"preset": "none"})
    diff = cost.delta(a, b)
    changes = dict((r["address"], r["change"]) for r in diff["resources"])
    assert changes == {"aws_wafv2_web_acl.this": "removed", "aws_dynamodb_table.on_demand": "added",
                       "aws_dynamodb_table.provisioned": "added"}
    with pytest.raises(CostError, match="before is not a cost_estimate result"):
        cost.delta({}, b)


def test_budget(seed):
    assert cost.check_budget(seed, 1000) is None
    message = cost.check_budget(seed, 500)
    assert message.startswith("estimated monthly cost $641.07 exceeds the budget $500.00 by $141.07")
    assert "module.eks.aws_eks_node_group.on_demand $144.16" in message
    assert "module.data.aws_db_instance.this $132.87" in message
    with pytest.raises(CostError, match="budget must be a number"):
        cost.check_budget(seed, -1)


# --- recommendations -------------------------------------------------------------------------

def _recs(result, kind):
    return [r for r in result["recommendations"] if r["kind"] == kind]


def test_spot_recommendation_when_everything_is_on_demand(seed_plan):
    plan = copy.deepcopy(seed_plan)
    for rc in plan["resource_changes"]:
        if rc["type"] == "aws_eks_node_group":
            rc["change"]["after"]["capacity_type"] = "ON_DEMAND"
    rec = _recs(estimate(plan), "spot")[0]
    # 4 m5.large on-demand, target 50 %: 2 nodes x 730 h x 0.096 x 0.65 = 91.104
    assert rec["monthly_saving"] == pytest.approx(91.10)
    assert "0 % of 4 nodes" in rec["message"]


def test_no_spot_recommendation_at_the_target_share(seed):
    assert not _recs(seed, "spot")


def test_rightsizing_and_idle_from_utilization(seed_plan):
    result = estimate(copy.deepcopy(seed_plan), utilization={
        "module.eks.aws_eks_node_group.on_demand": {"cpu": 0.22, "memory": 0.31},
        "spot": {"cpu": 0.02, "memory": 0.1},
        "module.data.aws_db_instance.this": {"cpu": 0.15, "memory": 0.2},
        "module.data.aws_elasticache_replication_group.this": {"cpu": 0.7, "memory": 0.5}})
    sizing = dict((r["address"], r) for r in _recs(result, "rightsizing"))
    # m5.large has no smaller m5 in the catalog; db.t3.medium -> db.t3.small halves 105.12
    assert "module.eks.aws_eks_node_group.on_demand" not in sizing
    assert sizing["module.data.aws_db_instance.this"]["monthly_saving"] == pytest.approx(52.56)
    assert "db.t3.medium -> db.t3.small" in sizing["module.data.aws_db_instance.this"]["message"]
    assert "module.data.aws_elasticache_replication_group.this" not in sizing
    idle = dict((r["address"], r) for r in _recs(result, "idle"))
    assert idle["module.eks.aws_eks_node_group.spot"]["monthly_saving"] == pytest.approx(49.06)


def test_rightsizing_of_an_oversized_node_group():
    result = estimate(str(GOLDEN / "eks_node_group.plan.json"), usage={"preset": "none"},
                      utilization={"aws_eks_node_group.batch": {"cpu": 0.3, "memory": 0.25}})
    rec = _recs(result, "rightsizing")[0]
    # c5.2xlarge 0.34 -> c5.xlarge 0.17 at 1 node: 730 x 0.17 = 124.10
    assert rec["address"] == "aws_eks_node_group.batch" and rec["monthly_saving"] == pytest.approx(124.10)


def test_idle_nat_and_tiering(seed_plan):
    result = estimate(copy.deepcopy(seed_plan), usage={"types": {"aws_nat_gateway": {"data_processed_gb": 0}},
                                                       "resources": {"module.storage.aws_s3_bucket.models": {
                                                           "storage_gb": {"standard": 2000}, "cold_fraction": 0.8}}})
    idle = _recs(result, "idle")
    assert idle[0]["address"] == "module.network.aws_nat_gateway.this[0]" and idle[0]["monthly_saving"] == 32.85
    tiering = dict((r["address"], r) for r in _recs(result, "storage_tiering"))
    # 2000 GB x 0.8 x (0.023 - 0.0125) = 16.80
    assert tiering["module.storage.aws_s3_bucket.models"]["monthly_saving"] == pytest.approx(16.80)
    assert result["recommendations"] == sorted(result["recommendations"], key=lambda r: -r["monthly_saving"])


# --- output shapes ---------------------------------------------------------------------------

def test_infracost_shape(seed):
    doc = cost.to_infracost(seed, project="seed")
    assert doc["totalMonthlyCost"] == "641.07"
    project = doc["projects"][0]
    assert project["breakdown"]["totalMonthlyCost"] == "641.07"
    db = next(r for r in project["breakdown"]["resources"] if r["name"] == "module.data.aws_db_instance.this")
    comp = db["costComponents"][0]
    assert comp == {"name": "Database instance (db.t3.medium, Multi-AZ)", "unit": "hours", "monthlyQuantity": "730",
                    "price": "0.144", "monthlyCost": "105.12", "priceNotFound": False, "usageBased": False}
    assert project["summary"]["unsupportedResourceCounts"] == {"aws_sns_topic": 1}
    json.dumps(doc)  # JSON-able


def test_result_is_json_serialisable(seed):
    json.dumps(seed)
    assert seed["currency"] == "USD" and seed["catalog_date"] and seed["usage_preset"] == "medium"


def test_chart_is_a_deterministic_png(seed):
    pytest.importorskip("matplotlib")
    series = [("medium", seed["breakdown"])]
    png = cost.chart_png(series)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert cost.chart_png(series) == png
    with pytest.raises(CostError, match="at least one series"):
        cost.chart_png([])
