"""Shared by the terraform_apply test files: a private moto server and one role configuration (a Terraform root).

Each test module (or test) gets its own moto server (tests/support/moto_server.py, the sandbox's launcher) on a
free port: moto 5.2.5 gives every RDS instance the same DbiResourceId, so two DB instances in one moto confuse
the AWS provider, and these tests must not collide with other suites' resources in the shared sandbox.
The tests live in several files so that ``--dist loadfile`` runs the long ones (the guarded root, the interrupted
apply, the full stack) on different workers.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "infrastructure.yml"
GUARDED = ROOT / "tests" / "fixtures" / "terraform" / "guarded"
DB_PASSWORD = "fixture-db-password-7f3a9c"  # a sensitive Terraform input/output: must never be printed


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


# -- module-scoped fixtures of the terraform_apply test files (each file imports them: its own moto, its own root) --

@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def ansible_playbook_module():
    from tests.conftest import run_playbook
    return run_playbook


@pytest.fixture(scope="module")
def applied(moto, tmp_path_factory, ansible_playbook_module):
    """The small root applied once (bucket + DB instance + topic); later tests change or refuse changes to it."""
    import uuid
    root = Root(moto, tmp_path_factory.mktemp("artifacts"), "g" + uuid.uuid4().hex[:6])
    first = root.run(ansible_playbook_module)
    assert_ok(first)
    assert first.changed >= 1
    assert_no_secret(first)
    return root, first

