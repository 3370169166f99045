"""The terraform_apply role through real ansible-playbook runs, real terraform and the project's moto server.

Small root (tests/fixtures/terraform/guarded: an S3 bucket, an RDS instance, an SNS topic; state in S3 with
S3's native lock file) for the guard, check mode, plan/apply split, lock and interrupt checks; the full
stack (infrastructure/terraform) for the end-to-end apply.
The plan guard, the interrupted apply and the full stack live in test_terraform_apply_guard.py,
test_terraform_apply_interrupt.py and test_terraform_apply_full_stack.py, so that ``--dist loadfile`` runs the
long parts on different workers.

Each test module gets its own moto server (tests/support/moto_server.py, the sandbox's launcher) on a free
port: moto 5.2.5 gives every RDS instance the same DbiResourceId, so two DB instances in one moto confuse
the AWS provider, and these tests must not collide with other suites' resources in the shared sandbox.
"""
from __future__ import annotations

import json
import uuid

import pytest

# tests/support (on pytest's pythonpath, pyproject.toml); the fixtures are shared with test_terraform_apply_guard.py
from tf_role import Root, ansible_playbook_module, applied, assert_no_secret, assert_ok, moto  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


# -- bad input: refused before Terraform runs --------------------------------------------------------

@pytest.mark.parametrize("variables, expected", [
    ({"region": "us-middle-1"}, "terraform_apply_variables.region='us-middle-1' is not a known AWS region"),
    ({"vpc_cidr": "10.40.0.0/33"}, "terraform_apply_variables.vpc_cidr='10.40.0.0/33' is not a valid CIDR"),
    ({"ondemand_min_size": 3, "ondemand_desired_size": 2, "ondemand_max_size": 1},
     "terraform_apply_variables.ondemand_min_size=3 is greater than ondemand_max_size=1"),
], ids=["region", "cidr", "node-group-bounds"])
def test_bad_input_is_refused_before_terraform_runs(moto, tmp_path, ansible_playbook, variables, expected):
    root = Root(moto, tmp_path / "artifacts", "bad" + uuid.uuid4().hex[:6])
    result = root.run(ansible_playbook, variables=variables)
    assert result.rc != 0, result
    assert expected in result.stdout, result
    assert "nothing was run" in result.stdout
    # nothing happened: no state bucket, no generated inputs, no Terraform working directory
    assert root.bucket not in [b["Name"] for b in moto.client("s3").list_buckets()["Buckets"]]
    assert not (tmp_path / "artifacts").exists()
    assert "TASK [cxr.mlops.terraform_apply : Terraform init]" not in result.stdout


# -- converge, idempotence, check mode --------------------------------------------------------------

def test_converges_and_second_run_changes_nothing(applied, ansible_playbook):
    root, first = applied
    assert root.buckets() == [f"{root.name}-artifacts"]
    assert root.dbs() == [(f"{root.name}-db", "cxr")]
    assert root.topics() == [f"{root.name}-alerts-a"]
    flat = " ".join(first.stdout.split())  # the yaml callback wraps long messages
    assert "sensitive, not shown: db_password" in flat
    assert "terraform_apply_outputs: bucket_name, db_address, db_identifier, db_password, topic_arn" in flat
    assert oct((root.artifacts / f"{root.name}.tfvars.json").stat().st_mode & 0o777) == "0o600"
    second = root.run(ansible_playbook)
    assert_ok(second)
    assert second.changed == 0, second
    assert "No changes" in second.stdout
    assert_no_secret(second)


def test_check_mode_plans_only_and_diff_shows_the_summary(applied, ansible_playbook):
    root, _ = applied
    record = root.artifacts / f"{root.name}.tfplan.sha256"
    recorded = record.read_text() if record.exists() else None
    result = root.run(ansible_playbook, "--check", "--diff", variables={"topic_suffix": "b"})
    assert_ok(result)
    assert result.changed >= 1, result  # it tells the truth: this would change something
    assert "Plan: 1 to add, 0 to change, 1 to destroy (1 replaced)." in result.stdout
    assert "-/+ replace aws_sns_topic.alerts" in result.stdout
    assert root.topics() == [f"{root.name}-alerts-a"]  # nothing applied
    # check mode planned into its own file: the record an approval refers to is untouched
    assert (record.read_text() if record.exists() else None) == recorded
    assert (root.artifacts / f"{root.name}.check.tfplan").exists()


def test_secret_variables_reach_terraform_only_as_tf_var(applied, ansible_playbook):
    """Issue 18 case 6: the role wrote every variable, secrets included, into the tfvars JSON file."""
    root, _ = applied
    result = root.run(ansible_playbook, "--check", "-vvv", terraform_apply_secret_variables=["db_password"])
    assert_ok(result)  # Terraform got db_password (a required variable) from TF_VAR_db_password: the plan ran
    assert "No changes" in result.stdout, result
    assert_no_secret(result)
    vars_file = json.loads((root.artifacts / f"{root.name}.tfvars.json").read_text())
    assert "db_password" not in vars_file and vars_file["name_prefix"] == root.name
    assert "TF_VAR_db_password" not in result.stdout + result.stderr


# -- a held lock ------------------------------------------------------------------------------------

def test_a_held_lock_is_reported_not_broken(applied, ansible_playbook):
    root, _ = applied
    lock_id = str(uuid.uuid4())
    info = {"ID": lock_id, "Operation": "OperationTypeApply", "Info": "", "Who": "alice@other-control-node",
            "Version": "1.11.0", "Created": "2026-01-01T00:00:00Z", "Path": f"{root.bucket}/{root.key}"}
    s3 = root.moto.client("s3")
    s3.put_object(Bucket=root.bucket, Key=root.key + ".tflock", Body=json.dumps(info).encode())
    try:
        result = root.run(ansible_playbook, variables={"topic_suffix": "c"}, terraform_apply_lock_timeout=2)
        assert result.rc != 0, result
        assert "the state is locked by another run and the lock was NOT broken" in result.stdout
        assert f"Lock ID {lock_id}, held by alice@other-control-node" in result.stdout
        # and when (Terraform prints Created as a Go time; the yaml callback may wrap the message)
        assert "operation OperationTypeApply, since 2026-01-01 00:00:00 +0000 UTC" in " ".join(result.stdout.split())
        assert f"terraform force-unlock {lock_id}" in result.stdout
        assert root.lock_object() == [root.key + ".tflock"]  # still held
        body = json.loads(s3.get_object(Bucket=root.bucket, Key=root.key + ".tflock")["Body"].read())
        assert body["ID"] == lock_id
        assert root.topics() == [f"{root.name}-alerts-a"]
    finally:
        s3.delete_object(Bucket=root.bucket, Key=root.key + ".tflock")


# -- plan and apply as separate steps (an approval in between) -----------------------------------

def test_plan_then_apply_only_the_approved_plan(applied, ansible_playbook):
    root, _ = applied
    planned = root.run(ansible_playbook, variables={"topic_suffix": "b"}, terraform_apply_mode="plan")
    assert_ok(planned)
    assert planned.changed == 0  # planning changes nothing
    stash = root.artifacts / f"{root.name}.tfplan"
    assert stash.exists()
    assert oct((root.artifacts / f"{root.name}.tfplan.json").stat().st_mode & 0o777) == "0o600"
    checksum = (root.artifacts / f"{root.name}.tfplan.sha256").read_text().split()[0]
    assert root.topics() == [f"{root.name}-alerts-a"]

    wrong = root.run(ansible_playbook, terraform_apply_mode="apply", terraform_apply_plan_checksum="0" * 64)
    assert wrong.rc != 0
    assert f"is not the plan that was approved (sha256 {'0' * 64})" in wrong.stdout
    assert root.topics() == [f"{root.name}-alerts-a"]

    applied_run = root.run(ansible_playbook, terraform_apply_mode="apply", terraform_apply_plan_checksum=checksum)
    assert_ok(applied_run)
    assert applied_run.changed >= 1
    assert root.topics() == [f"{root.name}-alerts-b"]
    assert not stash.exists()  # consumed: it cannot be applied twice
    again = root.run(ansible_playbook, terraform_apply_mode="apply", terraform_apply_plan_checksum=checksum)
    assert again.rc != 0 and "No saved plan at" in again.stdout
