"""The eks_access role through real ansible-playbook runs: moto's EKS for DescribeCluster, the sandbox's
Kubernetes API test server as the endpoint (moto's EKS endpoint is fake), real kubectl and kubernetes.core.

Against a real cluster (KUBECONFIG) these tests skip: they need an EKS cluster and AWS credentials that the
test double stands in for.
"""
from __future__ import annotations

import base64
import stat
import subprocess
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import yaml

from tests.conftest import real_cluster_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "infrastructure.yml"

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]


@pytest.fixture(scope="module")
def eks_cluster(sandbox):
    if real_cluster_kubeconfig():
        pytest.skip("eks_access tests need moto's EKS and the sandbox's API server, not a KUBECONFIG cluster")
    eks = boto3.client("eks", endpoint_url=sandbox["moto"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    name = "eksacc-" + uuid.uuid4().hex[:8]
    eks.create_cluster(name=name, roleArn="arn:aws:iam::123456789012:role/eks-cluster",
                       resourcesVpcConfig={"subnetIds": ["subnet-0123456789abcdef0"]})
    yield name
    eks.delete_cluster(name=name)


def run(ansible_playbook, sandbox, *args, **role_vars):
    extra = {"cxr_aws_endpoint_url": sandbox["moto"], "eks_access_endpoint_override": sandbox["kubeapi"],
             "eks_access_ca_mode": "none", "eks_access_auth": "token", **role_vars}
    return ansible_playbook(PLAYBOOK, "--tags", "eks", *args, extra_vars=extra, timeout=600)


def kubeconfig_token(path: Path) -> str:
    return yaml.safe_load(path.read_text())["users"][0]["user"]["token"]


def test_token_kubeconfig_works_with_kubectl_and_second_run_changes_nothing(eks_cluster, sandbox, tmp_path,
                                                                             ansible_playbook):
    path = tmp_path / "kube" / "config"
    first = run(ansible_playbook, sandbox, eks_access_cluster_name=eks_cluster, eks_access_kubeconfig_path=str(path))
    assert first.rc == 0, first
    assert first.changed >= 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = kubeconfig_token(path)
    assert token not in first.stdout + first.stderr  # never logged
    # the token has the format aws eks get-token prints
    assert token.startswith("k8s-aws-v1.")
    body = token[len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()
    query = parse_qs(urlparse(url).query)
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == eks_cluster
    assert config["clusters"][0]["cluster"] == {"server": sandbox["kubeapi"]}
    assert "Verify access to the API server" in first.stdout and "ok: [localhost]" in first.stdout

    # accepted by kubectl
    kubectl = subprocess.run(["kubectl", "--kubeconfig", str(path), "get", "namespace", "default", "-o", "name"],
                             capture_output=True, text=True, timeout=60, check=False)
    assert kubectl.returncode == 0, kubectl.stderr
    assert kubectl.stdout.strip() == "namespace/default"

    # second run: the token is still valid for long enough, so the file is not rewritten
    before = path.read_bytes()
    second = run(ansible_playbook, sandbox, eks_access_cluster_name=eks_cluster, eks_access_kubeconfig_path=str(path))
    assert second.rc == 0, second
    assert second.changed == 0, second
    assert path.read_bytes() == before
    assert "token reused" in second.stdout

    # a token with too little time left is replaced
    third = run(ansible_playbook, sandbox, eks_access_cluster_name=eks_cluster, eks_access_kubeconfig_path=str(path),
                eks_access_token_min_remaining=840, eks_access_verify=False)
    assert third.rc == 0, third
    if "token reused" not in third.stdout:  # unless it was minted within the last minute
        assert third.changed >= 1 and kubeconfig_token(path) != token


def test_exec_kubeconfig_for_long_runs(eks_cluster, sandbox, tmp_path, ansible_playbook):
    path = tmp_path / "config"
    args = dict(eks_access_cluster_name=eks_cluster, eks_access_kubeconfig_path=str(path), eks_access_auth="exec",
                eks_access_role_arn="arn:aws:iam::123456789012:role/deployer", eks_access_verify=False)
    first = run(ansible_playbook, sandbox, **args)
    assert first.rc == 0, first
    user = yaml.safe_load(path.read_text())["users"][0]["user"]
    assert "token" not in user
    assert user["exec"]["command"] == "aws"
    assert user["exec"]["args"] == ["--region", "us-east-1", "eks", "get-token", "--cluster-name", eks_cluster,
                                    "--output", "json", "--role-arn", "arn:aws:iam::123456789012:role/deployer"]
    second = run(ansible_playbook, sandbox, **args)
    assert second.rc == 0 and second.changed == 0, second


def test_check_mode_writes_nothing(eks_cluster, sandbox, tmp_path, ansible_playbook):
    path = tmp_path / "config"
    result = run(ansible_playbook, sandbox, "--check", eks_access_cluster_name=eks_cluster,
                 eks_access_kubeconfig_path=str(path))
    assert result.rc == 0, result
    assert result.changed >= 1  # it would write the kubeconfig
    assert not path.exists()


@pytest.mark.parametrize("role_vars, expected", [
    ({"eks_access_cluster_name": ""}, "eks_access_cluster_name=\"\" (must not be empty"),
    ({"eks_access_token_min_remaining": 2000}, "eks_access_token_min_remaining=2000 (0-840"),
    ({"eks_access_cluster_name": "no-such-cluster"}, "EKS cluster no-such-cluster does not exist"),
], ids=["empty-name", "min-remaining", "unknown-cluster"])
def test_bad_input_is_refused_and_nothing_is_written(eks_cluster, sandbox, tmp_path, ansible_playbook, role_vars, expected):
    path = tmp_path / "config"
    result = run(ansible_playbook, sandbox, **{"eks_access_cluster_name": eks_cluster,
                                               "eks_access_kubeconfig_path": str(path), **role_vars})
    assert result.rc != 0
    assert expected in result.stdout, result
    assert not path.exists()
