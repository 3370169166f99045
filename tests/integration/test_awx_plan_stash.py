"""The AWX workflow plan -> approval -> apply, as AWX runs it: two ansible-runner jobs that share nothing but S3.

Each job is its own `ansible-runner run` process with its own private data dir, its own copy of the collection
(the tarball installed into an empty collections path per job, as each AWX job gets a fresh execution
environment container), its own copy of the Terraform root and its own artifacts dir. The apply job gets the
job template's extra vars plus the plan job's set_stats (the artifacts AWX hands to the next workflow node) and
nothing else: the plan itself travels as an SSE-KMS encrypted S3 object named by its sha256 in the Terraform state
bucket (terraform_apply_plan_stash=s3), against a private moto server.

The root (tests/fixtures/terraform/stash) is tiny, an SSM SecureString parameter holding a secret input (so the
plan file holds it in clear, as the real plan holds the Redis auth token) and an SNS topic, so both jobs take
seconds. Refused: a stashed plan whose bytes were changed after approval, and a plan whose Terraform state another
run wrote between plan and apply. The secret never reaches a job's output, events or set_stats artifacts.
"""
from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest
import yaml

from installed_collection import BIN, build_tarball, clean_env, collections_path, install  # tests/support
from tf_role import Moto, Root  # tests/support (on pytest's pythonpath, pyproject.toml)

ROOT = Path(__file__).resolve().parents[2]
STASH_ROOT = ROOT / "tests" / "fixtures" / "terraform" / "stash"
TOKEN = "fixture-auth-token-5c1e0b"  # the secret input the plan carries: must never be printed

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]

PLAYBOOK = [{
    "name": "cxr-terraform job template (plan or apply)",
    "hosts": "localhost", "connection": "local", "gather_facts": False,
    "tasks": [{"name": "Terraform", "ansible.builtin.include_role": {"name": "cxr.mlops.terraform_apply"}}],
}]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    return build_tarball(tmp_path_factory.mktemp("dist") / "dist")


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    server = Moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield server
    server.stop()


class Job:
    """One AWX job: a private data dir with its own installed collection, project and Terraform root copy."""

    def __init__(self, base: Path, name: str, tarball: Path, moto: Moto):
        self.dir = base / name
        self.name = name
        (self.dir / "project").mkdir(parents=True)
        (self.dir / "project" / "site.yml").write_text(yaml.safe_dump(PLAYBOOK, sort_keys=False))
        shutil.copytree(STASH_ROOT, self.dir / "project" / "terraform")
        self.collections = self.dir / "collections"
        self.collections.mkdir()
        install(tarball, self.collections)
        (self.dir / "inventory").mkdir()
        (self.dir / "inventory" / "hosts").write_text(f"localhost ansible_python_interpreter={sys.executable}\n")
        (self.dir / "env").mkdir()
        # what an AWS credential and the execution environment give a job
        (self.dir / "env" / "envvars").write_text(json.dumps({
            "ANSIBLE_COLLECTIONS_PATH": collections_path(self.collections), "ANSIBLE_LOCALHOST_WARNING": "False",
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": moto.url}))

    def run(self, extra_vars: dict) -> "JobResult":
        (self.dir / "env" / "extravars").write_text(json.dumps(extra_vars))
        proc = subprocess.run([str(BIN / "ansible-runner"), "run", str(self.dir), "-p", "site.yml", "--ident", "job"],
                              capture_output=True, text=True, env=clean_env(), timeout=900, check=False)
        return JobResult(self.dir / "artifacts" / "job", proc)


class JobResult:
    def __init__(self, artifacts: Path, proc: subprocess.CompletedProcess):
        self.artifacts = artifacts
        self.rc = int((artifacts / "rc").read_text()) if (artifacts / "rc").exists() else proc.returncode
        self.stdout = (artifacts / "stdout").read_text() if (artifacts / "stdout").exists() else proc.stdout
        self.events = [json.loads(p.read_text()) for p in sorted((artifacts / "job_events").glob("*.json"))]

    @property
    def stats(self) -> dict:
        """The set_stats data AWX passes to the next node of the workflow (the playbook_on_stats artifact_data)."""
        ends = [e for e in self.events if e.get("event") == "playbook_on_stats"]
        return ends[-1]["event_data"].get("artifact_data", {}) if ends else {}

    def text(self) -> str:
        """Everything the job recorded: stdout, events (stats included), the runner's files."""
        return "\n".join(p.read_text(errors="replace") for p in self.artifacts.rglob("*") if p.is_file())

    def __repr__(self) -> str:
        return f"job rc={self.rc}\n{self.stdout[-5000:]}"


def _template_vars(root: Root, job: Job, mode: str, **variables) -> dict:
    """The job template's extra vars and the inventory's variables (the same for every job but the paths)."""
    ev = root.extra_vars(variables={"aws_endpoint_url": root.moto.url, "name_prefix": root.name, "region": "us-east-1",
                                    "auth_token": TOKEN, **variables},
                         terraform_apply_mode=mode, terraform_apply_plan_stash="s3",
                         terraform_apply_secret_variables=["auth_token"],
                         terraform_apply_project_dir=str(job.dir / "project" / "terraform"))
    ev.pop("terraform_apply_artifacts_dir")  # the documented default under cxr_artifacts_dir
    ev["cxr_artifacts_dir"] = str(job.dir / "work")
    return ev


def _root(moto: Moto, tmp_path: Path, prefix: str) -> Root:
    name = prefix + uuid.uuid4().hex[:6]
    return Root(moto, tmp_path / "unused", name, project_dir=STASH_ROOT,
                variables={"aws_endpoint_url": moto.url, "name_prefix": name, "region": "us-east-1"})


def _topics(root: Root) -> list[str]:
    return sorted(t["TopicArn"].split(":")[-1] for t in root.moto.client("sns").list_topics()["Topics"]
                  if t["TopicArn"].split(":")[-1].startswith(root.name))


def _stashed(root: Root) -> list[str]:
    resp = root.moto.client("s3").list_objects_v2(Bucket=root.bucket, Prefix=f"plans/{root.name}/")
    return [o["Key"] for o in resp.get("Contents", [])]


def test_plan_and_apply_as_two_awx_jobs(tmp_path, tarball, moto):
    root = _root(moto, tmp_path, "aw")
    plan_job = Job(tmp_path, "plan", tarball, moto)
    planned = plan_job.run(_template_vars(root, plan_job, "plan"))
    assert planned.rc == 0, planned
    stats = planned.stats
    checksum = stats["terraform_apply_plan_checksum"]
    assert stats["terraform_apply_plan_summary"]["add"] == 2, stats
    assert set(stats) == {"terraform_apply_plan_checksum", "terraform_apply_plan_summary"}, "only checksum and summary"
    assert _topics(root) == [], "planning created nothing"
    key = f"plans/{root.name}/{checksum}.tfplan"
    assert _stashed(root) == [key]
    s3 = moto.client("s3")
    head = s3.head_object(Bucket=root.bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms", head
    original = s3.get_object(Bucket=root.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(original).hexdigest() == checksum
    with zipfile.ZipFile(io.BytesIO(original)) as plan:  # a saved plan is a zip; the tfplan member holds the inputs
        assert any(TOKEN.encode() in plan.read(n) for n in plan.namelist()), "the plan holds the secret (why it is encrypted)"
    assert TOKEN not in planned.text(), "the secret reached the plan job's output, events or stats"

    # tampered after the approval: the apply job refuses it and changes nothing
    s3.put_object(Bucket=root.bucket, Key=key, Body=original + b"\0", ServerSideEncryption="aws:kms")
    tamper_job = Job(tmp_path, "apply-tampered", tarball, moto)
    refused = tamper_job.run({**_template_vars(root, tamper_job, "apply"), **stats})
    assert refused.rc != 0, refused
    assert f"is not the plan that was approved (sha256 {checksum})" in refused.stdout, refused
    assert "nothing was applied" in refused.stdout
    assert _topics(root) == []
    assert TOKEN not in refused.text()

    # the approved bytes back: a fresh apply job (its own container, collection and data dir) applies exactly them
    s3.put_object(Bucket=root.bucket, Key=key, Body=original, ServerSideEncryption="aws:kms")
    apply_job = Job(tmp_path, "apply", tarball, moto)
    applied = apply_job.run({**_template_vars(root, apply_job, "apply"), **stats})
    assert applied.rc == 0, applied
    assert _topics(root) == [f"{root.name}-alerts-a"]
    param = moto.client("ssm").get_parameter(Name=f"/{root.name}/auth-token", WithDecryption=True)["Parameter"]
    assert param["Value"] == TOKEN
    assert _stashed(root) == [], "the applied plan is deleted from S3"
    assert TOKEN not in applied.text(), "the secret reached the apply job's output or events"
    assert not (plan_job.dir / "work").samefile(apply_job.dir / "work")


def test_apply_refuses_a_plan_whose_state_changed_since_approval(tmp_path, tarball, moto):
    root = _root(moto, tmp_path, "as")
    plan_job = Job(tmp_path, "plan", tarball, moto)
    planned = plan_job.run(_template_vars(root, plan_job, "plan", topic_suffix="b"))
    assert planned.rc == 0, planned
    stats = planned.stats

    # meanwhile another run (another operator, another workflow) writes the state: a new topic
    other = Job(tmp_path, "other", tarball, moto)
    other_vars = _template_vars(root, other, "plan_and_apply", topic_suffix="c")
    other_vars["terraform_apply_plan_stash"] = "local"
    written = other.run(other_vars)
    assert written.rc == 0, written
    assert _topics(root) == [f"{root.name}-alerts-c"]

    apply_job = Job(tmp_path, "apply", tarball, moto)
    refused = apply_job.run({**_template_vars(root, apply_job, "apply", topic_suffix="b"), **stats})
    assert refused.rc != 0, refused
    flat = " ".join(refused.stdout.split())
    assert "cannot be applied: the Terraform state is not the one the plan was made against" in flat, refused
    assert "Run the plan step again and approve the new plan" in flat
    assert _topics(root) == [f"{root.name}-alerts-c"], "nothing was applied"
    assert "TASK [cxr.mlops.terraform_apply : Terraform apply" not in refused.stdout

    # apply mode with an S3 stash and no checksum: refused before Terraform runs
    bare = Job(tmp_path, "apply-bare", tarball, moto)
    missing = bare.run(_template_vars(root, bare, "apply"))
    assert missing.rc != 0
    assert "needs terraform_apply_plan_checksum, the sha256 the plan job published with set_stats" in \
        " ".join(missing.stdout.split()), missing
