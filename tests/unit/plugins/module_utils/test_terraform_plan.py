"""Plan JSON parsing, the plan guard, outputs, failure messages and input checks (pure functions)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter import terraform as tf_filter
from ansible_collections.cxr.mlops.plugins.module_utils import terraform_plan as tp

ROOT = Path(__file__).resolve().parents[4]
# A real `terraform show -json` of tests/fixtures/terraform/guarded (values stripped): the tainted DB
# instance replaced, the bucket deleted (count 0) and the SNS topic replaced.
REAL_PLAN = ROOT / "tests" / "fixtures" / "terraform" / "plans" / "guarded-destroy.json"


def rc(address, rtype, actions, mode="managed", **extra):
    return {"address": address, "type": rtype, "mode": mode, "name": address.split(".")[-1],
            "change": {"actions": actions}, **extra}


def plan(*changes, outputs=None):
    return {"format_version": "1.2", "resource_changes": list(changes), "output_changes": outputs or {}}


# -- parsing ---------------------------------------------------------------------------------------

def test_real_plan_is_summarised_like_terraform_prints_it():
    summary = tp.summarize(tp.load_plan(str(REAL_PLAN)))
    # terraform printed "Plan: 2 to add, 0 to change, 3 to destroy."
    assert (summary["add"], summary["change"], summary["destroy"], summary["replace"]) == (2, 0, 3, 2)
    assert summary["resources"] == {"replace": ["aws_db_instance.main", "aws_sns_topic.alerts"],
                                    "delete": ["aws_s3_bucket.artifacts[0]"]}
    assert summary["has_changes"] is True


def test_actions_map_to_one_word():
    assert tp.action_of(["delete", "create"]) == "replace"
    assert tp.action_of(["create", "delete"]) == "replace"  # create_before_destroy
    assert tp.action_of(["no-op"]) == "no-op"
    assert tp.action_of(["forget"]) == "forget"
    with pytest.raises(tp.TerraformPlanError, match="unknown Terraform change actions"):
        tp.action_of(["explode"])


def test_data_sources_and_no_ops_are_not_changes():
    p = plan(rc("data.aws_caller_identity.me", "aws_caller_identity", ["read"], mode="data"),
             rc("aws_s3_bucket.b", "aws_s3_bucket", ["no-op"]))
    summary = tp.summarize(p)
    assert summary["has_changes"] is False
    assert summary["resources"] == {}


def test_output_only_change_is_a_change():
    p = plan(rc("aws_s3_bucket.b", "aws_s3_bucket", ["no-op"]), outputs={"x": {"actions": ["create"]}})
    assert tp.summarize(p)["has_changes"] is True
    assert "Outputs changed: x" in tp.summary_text(tp.summarize(p))


@pytest.mark.parametrize("source, message", [
    ({"values": {}}, "no format_version"),
    ({"format_version": "1.2", "values": {}}, "state JSON, not a plan"),
    ('{"format_version": "1.2", "resource_changes": {}}', "must be a list"),
    ("not json {", "cannot be read"),
    ("{not json", "is not JSON"),
])
def test_bad_plan_json_is_refused_with_a_reason(source, message):
    with pytest.raises(tp.TerraformPlanError, match=message):
        tp.load_plan(source)


# -- the guard ------------------------------------------------------------------------------------

def test_guard_names_every_protected_delete_and_replace():
    violations = tp.guard(tp.load_plan(str(REAL_PLAN)))
    assert [(v["action"], v["address"]) for v in violations] == [
        ("replace", "aws_db_instance.main"), ("delete", "aws_s3_bucket.artifacts[0]")]
    message = tp.guard_message(violations, hint="Set terraform_apply_allow_destroy=true")
    assert "replace aws_db_instance.main (aws_db_instance) [replace_because_tainted]" in message
    assert "delete aws_s3_bucket.artifacts[0] (aws_s3_bucket)" in message
    assert "nothing was applied" in message
    assert message.endswith("Set terraform_apply_allow_destroy=true")


def test_unprotected_replace_and_protected_update_pass():
    p = plan(rc("aws_sns_topic.t", "aws_sns_topic", ["delete", "create"]),
             rc("aws_db_instance.db", "aws_db_instance", ["update"]),
             rc("aws_s3_bucket.new", "aws_s3_bucket", ["create"]))
    assert tp.guard(p) == []


def test_allow_destroy_and_exact_addresses():
    p = plan(rc("module.data.aws_db_instance.main", "aws_db_instance", ["delete", "create"]),
             rc("module.storage.aws_s3_bucket.logs", "aws_s3_bucket", ["delete"]))
    assert tp.guard(p, allow_destroy=True) == []
    left = tp.guard(p, allowed_addresses=["module.storage.aws_s3_bucket.logs"])
    assert [v["address"] for v in left] == ["module.data.aws_db_instance.main"]
    # an address prefix is not an allowance: only exact addresses count
    assert len(tp.guard(p, allowed_addresses=["module.data"])) == 2
    assert tp.unknown_allowed_addresses(p, ["module.data.aws_db_instance.mian"]) == ["module.data.aws_db_instance.mian"]


def test_protected_types_are_a_parameter_and_take_patterns():
    p = plan(rc("aws_rds_cluster.c", "aws_rds_cluster", ["delete"]), rc("aws_sns_topic.t", "aws_sns_topic", ["delete"]))
    assert [v["address"] for v in tp.guard(p, protected_types=["aws_sns_topic"])] == ["aws_sns_topic.t"]
    assert [v["address"] for v in tp.guard(p, protected_types=["aws_rds_*"])] == ["aws_rds_cluster.c"]
    assert tp.guard(p, protected_types=[]) == []


def test_deposed_objects_are_guarded_too():
    p = plan(rc("aws_db_instance.db", "aws_db_instance", ["delete"], deposed="0abc"))
    (violation,) = tp.guard(p)
    assert violation["address"] == "aws_db_instance.db (deposed object 0abc)"
    assert tp.guard(p, allowed_addresses=["aws_db_instance.db"]) == []


def test_checksum_changes_with_the_file(tmp_path):
    f = tmp_path / "x.tfplan"
    f.write_bytes(b"plan-a")
    first = tp.file_sha256(str(f))
    assert first == hashlib.sha256(b"plan-a").hexdigest()
    f.write_bytes(b"plan-b")
    assert tp.file_sha256(str(f)) != first


# -- outputs --------------------------------------------------------------------------------------

def test_outputs_flatten_and_sensitive_names():
    raw = json.dumps({"cluster_name": {"value": "cxr-local", "type": "string", "sensitive": False},
                      "db_password": {"value": "s3cret", "type": "string", "sensitive": True},
                      "ids": {"value": ["a", "b"], "type": ["list", "string"], "sensitive": False}})
    values, sensitive = tp.flatten_outputs(raw)
    assert values == {"cluster_name": "cxr-local", "db_password": "s3cret", "ids": ["a", "b"]}
    assert sensitive == ["db_password"]
    assert tp.flatten_outputs("") == ({}, [])
    assert tf_filter.terraform_outputs(raw)["cluster_name"] == "cxr-local"
    assert tf_filter.terraform_sensitive_outputs(raw) == ["db_password"]
    with pytest.raises(AnsibleFilterError, match="^terraform_outputs: .*has no value"):
        tf_filter.terraform_outputs('{"x": 1}')


# -- failures -------------------------------------------------------------------------------------

LOCK_STDERR = """
Error: Error acquiring the state lock

Error message: operation error DynamoDB: PutItem, https response error
StatusCode: 400, RequestID: 5f7x, ConditionalCheckFailedException: The conditional request failed
Lock Info:
  ID:        11111111-2222-3333-4444-555555555555
  Path:      tfrole-state/t2/terraform.tfstate
  Operation: OperationTypeApply
  Who:       alice@ops-host
  Version:   1.11.0
  Created:   2026-11-26 03:00:00 +0000 UTC
  Info:      


Terraform acquires a state lock to protect the state from being written
by multiple users at the same time.
"""


def test_a_held_lock_names_its_id_and_holder_and_is_not_broken():
    info = tp.parse_lock_error(LOCK_STDERR)
    assert info["id"] == "11111111-2222-3333-4444-555555555555"
    assert info["who"] == "alice@ops-host"
    message = tp.failure_message("plan", 1, "", LOCK_STDERR)
    assert "locked by another run and the lock was NOT broken" in message
    assert "Lock ID 11111111-2222-3333-4444-555555555555, held by alice@ops-host" in message
    assert "terraform force-unlock 11111111-2222-3333-4444-555555555555" in message
    assert tf_filter.terraform_failure({"rc": 1, "stdout": "", "stderr": LOCK_STDERR}, "plan") == message


def test_timeout_and_plain_errors():
    assert "did not finish within 30 s" in tp.failure_message("apply", 124, timeout=30)
    message = tp.failure_message("validate", 1, "noise\nError: Unsupported argument\n\n  on main.tf line 3\n")
    assert message.startswith("terraform validate failed (rc=1):\nError: Unsupported argument")
    assert "noise" not in message
    assert tp.parse_lock_error("Error: something else") is None


# -- inputs ---------------------------------------------------------------------------------------

BOUNDS = [{"min": "ondemand_min_size", "desired": "ondemand_desired_size", "max": "ondemand_max_size"}]


def test_good_inputs_pass():
    good = {"region": "us-east-1", "replica_region": "us-west-2", "vpc_cidr": "10.40.0.0/16",
            "cluster_endpoint_public_access_cidrs": ["203.0.113.0/24"], "ondemand_min_size": 1,
            "ondemand_desired_size": 2, "ondemand_max_size": 3}
    assert tp.validate_inputs(good, ["region", "replica_region"], ["us-east-1", "us-west-2"],
                              ["vpc_cidr", "cluster_endpoint_public_access_cidrs"], BOUNDS) == []
    assert tp.validate_inputs({}, ["region"], ["us-east-1"], ["vpc_cidr"], BOUNDS) == []  # any root: absent keys skipped


@pytest.mark.parametrize("variables, expected", [
    ({"region": "us-middle-1"}, "region='us-middle-1' is not a known AWS region"),
    ({"region": "US_EAST_1"}, "region='US_EAST_1' is not an AWS region name"),
    ({"vpc_cidr": "10.40.0.0/33"}, "vpc_cidr='10.40.0.0/33' is not a valid CIDR"),
    ({"vpc_cidr": "10.400.0.0/16"}, "vpc_cidr='10.400.0.0/16' is not a valid CIDR"),
    ({"vpc_cidr": "10.40.1.0/16"}, "has host bits set"),
    ({"cluster_endpoint_public_access_cidrs": ["0.0.0.0/0", "bogus"]}, "cluster_endpoint_public_access_cidrs='bogus'"),
    ({"ondemand_min_size": 3, "ondemand_max_size": 1}, "ondemand_min_size=3 is greater than ondemand_max_size=1"),
    ({"ondemand_min_size": 1, "ondemand_desired_size": 5, "ondemand_max_size": 3}, "ondemand_desired_size=5 is above"),
    ({"ondemand_min_size": -1}, "ondemand_min_size=-1 must be a whole number >= 0"),
])
def test_bad_inputs_name_the_variable_and_value(variables, expected):
    errors = tp.validate_inputs(variables, ["region"], ["us-east-1", "us-west-2"],
                                ["vpc_cidr", "cluster_endpoint_public_access_cidrs"], BOUNDS, prefix="v.")
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert errors[0].startswith("v.")


def test_input_filter_checks_its_own_arguments():
    with pytest.raises(AnsibleFilterError, match="^terraform_input_errors: cidr_keys must be a list"):
        tf_filter.terraform_input_errors({}, cidr_keys="vpc_cidr")


# -- the state a saved plan was made against (plan stash between AWX jobs) -----------------------

def _plan_zip(path: Path, state) -> Path:
    import zipfile
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tfplan", b"\x00binary")
        if state is not None:
            archive.writestr("tfstate", state)
    return path


def test_plan_prior_state_reads_the_tfstate_member(tmp_path):
    plan = _plan_zip(tmp_path / "p.tfplan", json.dumps({"version": 4, "serial": 7, "lineage": "abc-1"}))
    assert tp.plan_prior_state(str(plan)) == {"serial": 7, "lineage": "abc-1"}
    empty = _plan_zip(tmp_path / "e.tfplan", json.dumps({"version": 4, "serial": 0, "lineage": ""}))
    assert tp.plan_prior_state(str(empty)) == {"serial": 0, "lineage": ""}


@pytest.mark.parametrize("content, expected", [
    (None, "is not a saved Terraform plan"),       # a zip without tfstate
    (b"not a zip", "is not a saved Terraform plan"),
    ("{}", "is not a Terraform state (no serial)"),
    ('{"serial": "x"}', "serial that is not a number"),
])
def test_plan_prior_state_refuses_what_is_not_a_plan(tmp_path, content, expected):
    path = tmp_path / "p.tfplan"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _plan_zip(path, content)
    with pytest.raises(tp.TerraformPlanError, match=__import__("re").escape(expected)):
        tp.plan_prior_state(str(path))


def test_state_identity_of_state_pull():
    assert tp.state_identity("") == {"serial": 0, "lineage": ""}  # no state yet: Terraform's empty state
    assert tp.state_identity(b'{"serial": 3, "lineage": "l"}') == {"serial": 3, "lineage": "l"}
    with pytest.raises(tp.TerraformPlanError, match="terraform state pull is not a Terraform state"):
        tp.state_identity("<html>")


def test_stale_plan_message():
    planned = {"serial": 4, "lineage": "l1"}
    assert tp.stale_plan_message(planned, {"serial": 4, "lineage": "l1"}) == ""
    assert tp.stale_plan_message(planned, {"serial": 5, "lineage": "l1"}) == (
        "the Terraform state changed since the plan was made (serial 5, planned against serial 4): another run wrote it")
    assert "lineage l2, planned against l1" in tp.stale_plan_message(planned, {"serial": 4, "lineage": "l2"})
    # planned against no state, and someone created one meanwhile
    assert "planned against none: empty state" in tp.stale_plan_message({"serial": 0, "lineage": ""},
                                                                        {"serial": 1, "lineage": "l9"})
