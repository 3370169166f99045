"""Issue 20, defects 1, 2 and 4: what a resource's price depends on elsewhere in the plan.

Launch templates give node groups and instances their instance type and volumes; a read replica takes
its engine from its source; AWS's own defaults (gp2) apply where the plan says nothing; a region the
catalog does not cover marks resources price_not_found. Plans are shaped like `terraform show -json`
(resource_changes with unknown ids, configuration with the references Terraform records).

Published AWS list prices used below (us-east-1, on-demand, Linux; read on 2025-01-15 from
https://aws.amazon.com/ec2/pricing/on-demand/ and https://aws.amazon.com/ebs/pricing/ and
https://aws.amazon.com/rds/postgresql/pricing/):
  m5.xlarge $0.192/h, m5.large $0.096/h, t3.medium $0.0416/h,
  EBS gp2 $0.10/GB-month, gp3 $0.08/GB-month,
  RDS PostgreSQL db.t3.medium Single-AZ $0.072/h.
A month is 730 h. Infracost's own golden for an m5.xlarge x 3 node group agrees: $420.48.
"""

from __future__ import annotations

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils.cost import estimate
from cost_plans import comps, plan, res  # tests/support

HOURS = 730
M5_XLARGE, M5_LARGE, T3_MEDIUM = 0.192, 0.096, 0.0416
GP2, GP3 = 0.10, 0.08
PG_T3_MEDIUM = 0.072



LT_XLARGE = ("aws_launch_template", "nodes", {
    "name": "nodes-lt", "instance_type": "m5.xlarge",
    "block_device_mappings": [{"device_name": "/dev/xvda", "ebs": [{"volume_size": 50, "volume_type": "gp3"}]}]})


def node_group(name, lt=None, **extra):
    values = {"capacity_type": "ON_DEMAND", "instance_types": extra.pop("instance_types", None),
              "scaling_config": [{"min_size": 1, "desired_size": 3, "max_size": 5}],
              "launch_template": [lt] if lt else []}
    values.update(extra)
    return ("aws_eks_node_group", name, values)


def test_node_group_takes_type_and_volume_from_a_launch_template_referenced_by_id():
    # the template is created by the same plan: its id is unknown, the configuration's reference says which
    result = estimate(plan([LT_XLARGE, node_group("workers", {"id": None, "version": None})],
                           refs={"aws_eks_node_group.workers": {"launch_template": [
                               "aws_launch_template.nodes.id", "aws_launch_template.nodes"]}}),
                      usage={"preset": "none"})
    group = res(result, "aws_eks_node_group.workers")
    assert comps(group) == [
        ("Instance usage (m5.xlarge, on-demand)", 3 * HOURS, M5_XLARGE, 420.48, False),
        ("Node root volumes (gp3)", 150, GP3, 12.0, False)]
    assert group["monthly_cost"] == 432.48
    assert "launch template aws_launch_template.nodes" in group["components"][0]["explanation"]


def test_launch_template_found_by_name_with_latest_version():
    result = estimate(plan([LT_XLARGE, node_group("workers", {"name": "nodes-lt", "version": "$Latest"})]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_eks_node_group.workers"))[0] == (
        "Instance usage (m5.xlarge, on-demand)", 3 * HOURS, M5_XLARGE, 420.48, False)


def test_launch_template_outside_the_plan_is_price_not_found_never_t3_medium():
    result = estimate(plan([node_group("workers", {"id": "lt-0abc123", "version": "3"})]), usage={"preset": "none"})
    group = res(result, "aws_eks_node_group.workers")
    assert group["price_not_found"] and group["monthly_cost"] == 0
    assert all(c["price_not_found"] for c in group["components"])
    assert "launch template lt-0abc123 is not in the plan" in group["reason"]
    assert "t3.medium" not in str(group["components"])
    assert result["summary"]["price_not_found"] == ["aws_eks_node_group.workers"]


def test_a_launch_template_version_the_plan_does_not_describe_is_price_not_found():
    template = (LT_XLARGE[0], LT_XLARGE[1], dict(LT_XLARGE[2], latest_version=3))
    result = estimate(plan([template, node_group("workers", {"name": "nodes-lt", "version": "2"})]),
                      usage={"preset": "none"})
    group = res(result, "aws_eks_node_group.workers")
    assert group["price_not_found"] and "version 2 is not the version the plan describes (3)" in group["reason"]
    pinned = estimate(plan([template, node_group("workers", {"name": "nodes-lt", "version": "3"})]),
                      usage={"preset": "none"})
    assert res(pinned, "aws_eks_node_group.workers")["monthly_cost"] == 432.48


def test_node_group_type_wins_over_a_template_without_one_and_the_ami_root_volume_is_gp2():
    bare = ("aws_launch_template", "bare", {"name": "bare-lt", "user_data": "x"})
    result = estimate(plan([bare, node_group("workers", {"name": "bare-lt"}, instance_types=["m5.large"])]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_eks_node_group.workers")) == [
        ("Instance usage (m5.large, on-demand)", 3 * HOURS, M5_LARGE, 210.24, False),
        ("Node root volumes (gp2)", 60, GP2, 6.0, False)]


def test_managed_node_group_without_disk_size_or_template_gets_gp2():
    # AWS: managed node groups without disk_size or a launch template get 20 GB gp2 root volumes
    result = estimate(plan([node_group("plain", instance_types=["t3.medium"]),
                            node_group("sized", instance_types=["t3.medium"], disk_size=50)]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_eks_node_group.plain"))[1] == ("Node root volumes (gp2)", 60, GP2, 6.0, False)
    assert comps(res(result, "aws_eks_node_group.sized"))[1] == ("Node root volumes (gp2)", 150, GP2, 15.0, False)
    assert comps(res(result, "aws_eks_node_group.plain"))[0][3] == round(3 * HOURS * T3_MEDIUM, 2)  # 91.10


def test_instance_with_a_launch_template_and_aws_default_volumes():
    result = estimate(plan([LT_XLARGE,
                            ("aws_instance", "from_lt", {"launch_template": [{"name": "nodes-lt"}]}),
                            ("aws_instance", "plain", {"instance_type": "t3.medium"}),
                            ("aws_instance", "orphan", {"launch_template": [{"id": "lt-gone"}]}),
                            ("aws_ebs_volume", "untyped", {"size": 100})]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_instance.from_lt")) == [
        ("Instance usage (m5.xlarge)", HOURS, M5_XLARGE, 140.16, False),
        ("Root volume (gp3)", 50, GP3, 4.0, False)]
    # no root_block_device: AWS's 8 GB gp2 (Infracost prices the same)
    assert comps(res(result, "aws_instance.plain")) == [
        ("Instance usage (t3.medium)", HOURS, T3_MEDIUM, 30.37, False),
        ("Root volume (gp2)", 8, GP2, 0.8, False)]
    orphan = res(result, "aws_instance.orphan")
    assert orphan["price_not_found"] and "launch template lt-gone is not in the plan" in orphan["reason"]
    assert "None" not in orphan["components"][0]["name"]
    # aws_ebs_volume without type: the provider's default gp2
    assert comps(res(result, "aws_ebs_volume.untyped")) == [("Storage (gp2)", 100, GP2, 10.0, False)]


DB = {"instance_class": "db.t3.medium", "multi_az": False, "allocated_storage": 20, "storage_type": "gp2",
      "backup_retention_period": 0}


def test_a_mysql_read_replica_is_not_priced_as_postgresql():
    result = estimate(plan([("aws_db_instance", "primary", dict(DB, engine="mysql", identifier="shop")),
                            ("aws_db_instance", "replica", dict(DB, engine=None, replicate_source_db=None))],
                           refs={"aws_db_instance.replica": {"replicate_source_db": [
                               "aws_db_instance.primary.identifier", "aws_db_instance.primary"]}}),
                      usage={"preset": "none"})
    replica = res(result, "aws_db_instance.replica")
    assert replica["components"][0]["price_not_found"] and replica["components"][0]["price"] is None
    assert "the catalog prices RDS PostgreSQL only, not mysql" in replica["reason"]


def test_a_postgres_replica_found_by_identifier_is_priced_as_its_source():
    result = estimate(plan([("aws_db_instance", "primary", dict(DB, engine="postgres", identifier="ml")),
                            ("aws_db_instance", "replica", dict(DB, engine=None, replicate_source_db="ml"))]),
                      usage={"preset": "none"})
    assert comps(res(result, "aws_db_instance.replica"))[0] == (
        "Database instance (db.t3.medium, Single-AZ)", HOURS, PG_T3_MEDIUM, 52.56, False)


def test_a_replica_of_a_database_outside_the_plan_is_price_not_found():
    result = estimate(plan([("aws_db_instance", "replica", dict(DB, engine=None, replicate_source_db=(
        "arn:aws:rds:us-east-1:123456789012:db:elsewhere")))]), usage={"preset": "none"})
    replica = res(result, "aws_db_instance.replica")
    assert replica["price_not_found"] and "is not in the plan, so its engine is unknown" in replica["reason"]


@pytest.mark.parametrize("region", ["ap-south-7", "me-central-1"])
def test_a_region_outside_the_catalog_prices_nothing_and_says_why(region):
    result = estimate(plan([node_group("plain", instance_types=["t3.medium"])], region=region),
                      usage={"preset": "none", "data_transfer_out_gb": 500})
    group = res(result, "aws_eks_node_group.plain")
    assert group["price_not_found"] and group["monthly_cost"] == 0
    assert "region %s is not in the price catalog" % region in group["reason"]
    transfer = res(result, "data_transfer")
    assert transfer["price_not_found"] and transfer["monthly_cost"] == 0
    assert result["total_monthly_cost"] == 0 and result["summary"]["uncovered_regions"] == [region]
