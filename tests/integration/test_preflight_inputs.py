"""Issue 18 cases 1-2: every role's inputs are checked in preflight, before anything changes.

site.yml runs against a sandbox of its own whose moto and Kubernetes API test server are already up, so
"nothing changed" is checked where a change would land: no Terraform state bucket and no VPC on moto, no
namespace on the API server, no kubeconfig or Terraform working files in the artifacts folder.
"""
import json
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
INVENTORY_TF_VARS = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "terraform_apply.yml")
                                   .read_text())["terraform_apply_variables"]


@pytest.fixture
def running_sandbox(private_sandbox):
    """moto and the Kubernetes API test server of a private sandbox, up before site.yml starts."""
    up = subprocess.run([sys.executable, str(ROOT / "tests" / "support" / "sandbox.py"), "up", "--state-dir",
                         private_sandbox["CXR_SANDBOX_DIR"], "--port-base", private_sandbox["CXR_SANDBOX_PORT_BASE"],
                         "--only", "moto,kubeapi"], capture_output=True, text=True, timeout=300, check=False)
    assert up.returncode == 0, up.stdout + up.stderr
    return private_sandbox


def namespaces(base: int) -> set:
    with urllib.request.urlopen(f"http://127.0.0.1:{base + 1}/api/v1/namespaces", timeout=10) as resp:
        return {ns["metadata"]["name"] for ns in json.load(resp)["items"]}


def nothing_changed(env: dict, project: str, before_ns: set) -> None:
    base = int(env["CXR_SANDBOX_PORT_BASE"])
    aws = dict(endpoint_url=f"http://127.0.0.1:{base}", region_name="us-east-1", aws_access_key_id="testing",
               aws_secret_access_key="testing")
    buckets = [b["Name"] for b in boto3.client("s3", **aws).list_buckets()["Buckets"]]
    assert not [b for b in buckets if b.startswith(project)], f"a Terraform state bucket was created: {buckets}"
    assert boto3.client("ec2", **aws).describe_vpcs(Filters=[{"Name": "cidr", "Values": ["10.40.0.0/16"]}])["Vpcs"] == []
    assert namespaces(base) == before_ns, "a namespace was created"
    artifacts = Path(env["CXR_SANDBOX_DIR"]) / "artifacts"
    assert not artifacts.exists(), f"files were written: {sorted(p.name for p in artifacts.rglob('*'))}"


def test_a_bad_late_value_and_typos_are_all_refused_in_preflight(ansible_playbook, running_sandbox):
    project = "t18" + uuid.uuid4().hex[:6]
    before = namespaces(int(running_sandbox["CXR_SANDBOX_PORT_BASE"]))
    result = ansible_playbook("site.yml", extra_vars={
        "cxr_project_name": project,
        "cluster_baseline_domain": "Bad_Host..example",
        "helm_monitoring_acuracy_threshold": 0.99,
        "terraform_apply_variables": {**INVENTORY_TF_VARS, "vpc_cdir": "10.41.0.0/16"},
    }, env=running_sandbox, timeout=300)
    out = " ".join(result.stdout.split())  # the yaml callback wraps long messages
    assert result.rc != 0, result
    assert "Preflight refused the run, nothing was changed (5 problem(s))" in out, result.stdout
    assert "cluster_baseline_domain: 'Bad_Host..example' is not a valid DNS hostname" in out
    assert ("helm_monitoring_acuracy_threshold is not a variable of the role helm_monitoring "
            "(did you mean 'helm_monitoring_accuracy_threshold'?)") in out
    assert "terraform_apply_variables.vpc_cdir is not declared by the Terraform root's variables " \
           "(did you mean 'vpc_cidr'?)" in out
    assert "TASK [cxr.mlops." not in result.stdout, "a role started after a failed preflight"
    nothing_changed(running_sandbox, project, before)


def test_a_secret_value_is_never_shown(ansible_playbook, running_sandbox):
    token = "a-redis-token-" + uuid.uuid4().hex
    tf_vars = {**INVENTORY_TF_VARS, "redis_auth_token": token, "vpc_cidr": "10.40.0.0/33"}
    result = ansible_playbook("site.yml", "-v", extra_vars={"terraform_apply_variables": tf_vars,
                                                            "eks_access_token_min_remaining": 2000},
                              env=running_sandbox, timeout=300)
    out = " ".join(result.stdout.split())
    assert result.rc != 0
    assert "terraform_apply_variables.vpc_cidr='10.40.0.0/33' is not a valid CIDR" in out
    assert "eks_access_token_min_remaining=2000 (0-840" in out
    assert token not in result.stdout + result.stderr
