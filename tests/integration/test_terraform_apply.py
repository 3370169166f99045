"""The terraform_apply role through real ansible-playbook runs, real terraform and the project's moto server.

Small root (tests/fixtures/terraform/guarded: an S3 bucket, an RDS instance, an SNS topic; state in S3 with
S3's native lock file) for the guard, check mode, plan/apply split, lock and interrupt checks; the full
stack (infrastructure/terraform) for the end-to-end apply.

Each test module gets its own moto server (tests/support/moto_server.py, the sandbox's launcher) on a free
port: moto 5.2.5 gives every RDS instance the same DbiResourceId, so two DB instances in one moto confuse
the AWS provider, and these tests must not collide with other suites' resources in the shared sandbox.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "infrastructure.yml"
GUARDED = ROOT / "tests" / "fixtures" / "terraform" / "guarded"
DB_PASSWORD = "fixture-db-password-7f3a9c"  # a sensitive Terraform input/output: must never be printed

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """A private moto server (the sandbox's launcher, with its patches) on a free port."""

    def __init__(self, log: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "support" / "moto_server.py"),
                                      "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1)  # noqa: S310 (loopback)
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.3)
        self.stop()
        pytest.fail(f"moto did not start on {self.url}; see {log}")

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


class Root:
    """One role configuration: a Terraform root, its artifacts dir, its S3 state on a moto server."""

    def __init__(self, moto: Moto, artifacts: Path, name: str, project_dir: Path = GUARDED, variables=None):
        self.moto, self.artifacts, self.name, self.project_dir = moto, artifacts, name, project_dir
        self.bucket = f"{name}-tfstate"
        self.key = f"{name}/terraform.tfstate"
        self.variables = variables if variables is not None else {
            "aws_endpoint_url": moto.url, "name_prefix": name, "db_password": DB_PASSWORD, "region": "us-east-1"}

    def extra_vars(self, variables=None, **role_vars) -> dict:
        ev = {
            "cxr_aws_endpoint_url": self.moto.url,  # the play's environment (cxr_aws_env) follows it
            "terraform_apply_project_dir": str(self.project_dir),
            "terraform_apply_artifacts_dir": str(self.artifacts),
            "terraform_apply_name": self.name,
            "terraform_apply_create_backend": True,
            "terraform_apply_lock_timeout": 10,
            "terraform_apply_backend_config": {
                "bucket": self.bucket, "key": self.key, "region": "us-east-1", "use_lockfile": True,
                "use_path_style": True, "skip_credentials_validation": True, "skip_requesting_account_id": True,
                "skip_metadata_api_check": True, "skip_region_validation": True,
                "endpoints": {"s3": self.moto.url, "sts": self.moto.url, "iam": self.moto.url,
                              "dynamodb": self.moto.url}},
            "terraform_apply_variables": {**self.variables, **(variables or {})},
        }
        ev.update(role_vars)
        return ev

    def run(self, ansible_playbook, *args, variables=None, timeout=1500, **role_vars):
        return ansible_playbook(PLAYBOOK, "--tags", "terraform", *args, extra_vars=self.extra_vars(variables, **role_vars),
                                timeout=timeout)

    # what exists in moto
    def buckets(self):
        return [b["Name"] for b in self.moto.client("s3").list_buckets()["Buckets"] if b["Name"].startswith(self.name + "-a")]

    def dbs(self):
        return [(d["DBInstanceIdentifier"], d.get("DBName")) for d in self.moto.client("rds").describe_db_instances()["DBInstances"]
                if d["DBInstanceIdentifier"].startswith(self.name)]

    def topics(self):
        return [t["TopicArn"].split(":")[-1] for t in self.moto.client("sns").list_topics()["Topics"]
                if t["TopicArn"].split(":")[-1].startswith(self.name)]

    def lock_object(self):
        resp = self.moto.client("s3").list_objects_v2(Bucket=self.bucket, Prefix=self.key + ".tflock")
        return [o["Key"] for o in resp.get("Contents", [])]


def assert_ok(result):
    assert result.rc == 0, result
    assert result.recap and all(h["failed"] == 0 for h in result.recap.values()), result


def assert_no_secret(result):
    assert DB_PASSWORD not in result.stdout + result.stderr, "a sensitive value reached the log"


@pytest.fixture(scope="module")
def applied(moto, tmp_path_factory, ansible_playbook_module):
    """The small root applied once (bucket + DB instance + topic); later tests change or refuse changes to it."""
    root = Root(moto, tmp_path_factory.mktemp("artifacts"), "g" + uuid.uuid4().hex[:6])
    first = root.run(ansible_playbook_module)
    assert_ok(first)
    assert first.changed >= 1
    assert_no_secret(first)
    return root, first


@pytest.fixture(scope="module")
def ansible_playbook_module():
    from tests.conftest import run_playbook
    return run_playbook


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


# -- the plan guard ----------------------------------------------------------------------------------

def test_guard_refuses_replacing_the_db_and_deleting_the_bucket(applied, ansible_playbook):
    root, _ = applied
    result = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False})
    assert result.rc != 0, result
    assert "Plan guard: the plan would delete or replace 2 protected resource(s); nothing was applied" in result.stdout
    assert "replace aws_db_instance.main (aws_db_instance)" in result.stdout
    assert "delete aws_s3_bucket.artifacts[0] (aws_s3_bucket)" in result.stdout
    assert "terraform_apply_allowed_destroy_addresses" in result.stdout
    # nothing was applied: both still exist, unchanged
    assert root.buckets() == [f"{root.name}-artifacts"]
    assert root.dbs() == [(f"{root.name}-db", "cxr")]
    # allowing one address is not enough for the other
    partial = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False},
                       terraform_apply_allowed_destroy_addresses=["aws_s3_bucket.artifacts[0]"])
    assert partial.rc != 0
    assert "replace aws_db_instance.main" in partial.stdout
    assert "delete aws_s3_bucket.artifacts[0]" not in partial.stdout.split("Plan guard:")[1]
    assert root.buckets() == [f"{root.name}-artifacts"]


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


# -- allowed destroy goes through (last: it replaces the DB) -------------------------------------

def test_allow_destroy_lets_the_same_change_through(applied, ansible_playbook):
    root, _ = applied
    result = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False, "topic_suffix": "b"},
                      terraform_apply_allow_destroy=True)
    assert_ok(result)
    assert result.changed >= 1
    assert root.buckets() == []
    assert root.dbs() == [(f"{root.name}-db", "cxrnew")]
    assert_no_secret(result)


# -- fault: the play interrupted during apply ----------------------------------------------------

def _terraform_apply_running(plan_file: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"terraform") for a in argv[:1]) and b"apply" in argv and plan_file.encode() in argv:
            return True
    return False


def test_interrupted_apply_then_rerun_converges_without_duplicates_or_stale_lock(tmp_path, ansible_playbook):
    from tests.conftest import ROOT as REPO
    server = Moto(tmp_path / "moto.log")  # its own moto: this test creates a second DB instance
    try:
        root = Root(server, tmp_path / "artifacts", "i" + uuid.uuid4().hex[:6])
        cmd = [str(Path(sys.executable).parent / "ansible-playbook"), str(PLAYBOOK), "--tags", "terraform",
               "-e", json.dumps(root.extra_vars(terraform_apply_lock_timeout=600))]
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
        log = open(tmp_path / "interrupted.log", "wb")
        # Its own session, like a terminal's foreground job; SIGINT to the group is what Ctrl-C sends.
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        plan_file = str(root.artifacts / f"{root.name}.tfplan")
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and proc.poll() is None and not _terraform_apply_running(plan_file):
            time.sleep(0.5)
        assert proc.poll() is None, (tmp_path / "interrupted.log").read_text()[-4000:]
        time.sleep(5)  # the apply is creating resources (the DB instance takes the longest)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=120)
        log.close()
        assert proc.returncode != 0  # the play was interrupted
        assert "User interrupted execution" in (tmp_path / "interrupted.log").read_text()

        # The apply was let finish in the background (terraform_apply_on_interrupt=finish): the re-run waits for its
        # lock (never breaks it), then plans from the complete state.
        rerun = root.run(ansible_playbook, terraform_apply_lock_timeout=600)
        assert_ok(rerun)
        assert not _terraform_apply_running(plan_file)
        record = (root.artifacts / f"{root.name}.apply.interrupted.log").read_text()
        assert "signal: SIGINT after" in record and "not passed on: Terraform is let finish" in record, record
        assert "rc: 0" in record and "killed: False" in record, record  # it ended by itself: state written, unlocked
        assert oct((root.artifacts / f"{root.name}.apply.interrupted.log").stat().st_mode & 0o777) == "0o600"
        # converged, exactly one of each: nothing created twice, nothing left half-made
        assert root.buckets() == [f"{root.name}-artifacts"]
        assert root.dbs() == [(f"{root.name}-db", "cxr")]
        assert root.topics() == [f"{root.name}-alerts-a"]
        assert root.lock_object() == []  # no stale lock
        final = root.run(ansible_playbook)
        assert_ok(final)
        assert final.changed == 0, final
    finally:
        server.stop()


# -- the full stack ------------------------------------------------------------------------------

def test_full_stack_applies_to_moto_and_second_run_changes_nothing(tmp_path, ansible_playbook):
    import yaml
    server = Moto(tmp_path / "moto.log")  # its own moto (the stack has a DB instance; see the module docstring)
    try:
        local = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "terraform_apply.yml").read_text())
        variables = {k: v for k, v in local["terraform_apply_variables"].items() if "{{" not in str(v)}
        variables.update({"project": "cxr", "environment": "local", "region": "us-east-1", "replica_region": "us-west-2",
                          "aws_endpoint_url": server.url})
        root = Root(server, tmp_path / "artifacts", "cxr-local", project_dir=ROOT / "infrastructure" / "terraform",
                    variables=variables)
        first = root.run(ansible_playbook, terraform_apply_timeout=1800, timeout=2400)
        assert_ok(first)
        assert first.changed >= 1
        assert "local-sandbox-token-0123456789" not in first.stdout  # the sensitive redis_auth_token
        eks = server.client("eks").list_clusters()["clusters"]
        assert eks == ["cxr-local-eks"]
        rds = server.client("rds").describe_db_instances()["DBInstances"]
        assert len(rds) == 1 and rds[0]["BackupRetentionPeriod"] == 30
        buckets = {b["Name"] for b in server.client("s3").list_buckets()["Buckets"]}
        assert {root.bucket} < buckets and any("model" in b for b in buckets)
        assert "cluster_name" in " ".join(first.stdout.split()).split("terraform_apply_outputs:")[1][:2000]
        second = root.run(ansible_playbook, timeout=2400)
        assert_ok(second)
        assert second.changed == 0, second
    finally:
        server.stop()
