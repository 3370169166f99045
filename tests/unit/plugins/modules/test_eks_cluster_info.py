"""cxr.mlops.eks_cluster_info and its pure helpers (plugins/module_utils/eks_info.py).

The helpers are tested on API-shaped data; the module runs in-process through AnsibleAWSModule against the
sandbox's moto server (real EKS, IAM and EC2 calls; no stubs).
"""
from __future__ import annotations

import datetime
import json
import uuid

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.cxr.mlops.plugins.module_utils import eks_info
from ansible_collections.cxr.mlops.plugins.modules import eks_cluster_info


# ------------------------------------------------------------------------------------- pure helpers
@pytest.mark.parametrize("name", ["cxr-production-eks", "a", "A_1", "x" * 100])
def test_valid_cluster_names(name):
    assert eks_info.validate_cluster_name(name) == name


@pytest.mark.parametrize("name", ["", "-lead", "bad name", "x" * 101, None, 42])
def test_invalid_cluster_names_are_refused(name):
    with pytest.raises(ValueError, match="not a valid EKS cluster name"):
        eks_info.validate_cluster_name(name)


def test_summarize_makes_times_json_safe_and_collects_roles_and_groups():
    created = datetime.datetime(2026, 11, 26, 4, 0, tzinfo=datetime.UTC)
    cluster = {"name": "c", "createdAt": created,
               "resourcesVpcConfig": {"clusterSecurityGroupId": "sg-c", "securityGroupIds": ["sg-a", "sg-c"]}}
    nodegroups = [{"nodegroupName": "a", "nodeRole": "arn:aws:iam::1:role/path/node", "createdAt": created},
                  {"nodegroupName": "b", "nodeRole": "arn:aws:iam::1:role/path/node"},
                  {"nodegroupName": "c", "nodeRole": "arn:aws:iam::1:role/spot"}]
    out = eks_info.summarize(cluster, nodegroups)
    json.dumps(out)
    assert out["found"] is True
    assert out["cluster"]["createdAt"] == "2026-11-26T04:00:00+00:00"
    assert out["node_role_names"] == ["node", "spot"]
    assert out["security_group_ids"] == ["sg-c", "sg-a"]


def test_summarize_of_an_absent_cluster():
    assert eks_info.summarize(None, []) == {"found": False, "cluster": {}, "nodegroups": [], "node_role_names": [],
                                            "security_group_ids": []}


def sg(group_id, ingress=(), egress=({"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "0.0.0.0/0"}]},)):
    return {"group_id": group_id, "ip_permissions": list(ingress), "ip_permissions_egress": list(egress)}


CLUSTER = {"name": "c", "resourcesVpcConfig": {"securityGroupIds": ["sg-1"]}}
SELF_443 = {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "user_id_group_pairs": [{"group_id": "sg-1"}]}


def test_security_groups_that_admit_443_from_themselves_are_fine():
    assert eks_info.security_group_findings(CLUSTER, [sg("sg-1", [SELF_443])]) == []


def test_all_traffic_from_a_cidr_also_admits_443():
    rule = {"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "10.0.0.0/16"}]}
    assert eks_info.security_group_findings(CLUSTER, [sg("sg-1", [rule])]) == []


def test_no_ingress_on_443_is_a_critical_finding_with_its_fix():
    rule_22 = {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "ip_ranges": [{"cidr_ip": "0.0.0.0/0"}]}
    [f] = eks_info.security_group_findings(CLUSTER, [sg("sg-1", [rule_22])])
    assert (f["area"], f["severity"], f["check"], f["resource"]) == ("eks", "critical", "security group ingress 443", "sg-1")
    assert "kubelets cannot reach the API server" in f["cause"]
    assert "allow inbound TCP 443" in f["fix"]


def test_443_from_an_unrelated_group_does_not_count():
    other = {"ip_protocol": "tcp", "from_port": 443, "to_port": 443, "user_id_group_pairs": [{"group_id": "sg-x"}]}
    findings = eks_info.security_group_findings(CLUSTER, [sg("sg-1", [other])])
    assert [f["check"] for f in findings] == ["security group ingress 443"]


def test_missing_group_and_missing_egress():
    cluster = {"name": "c", "resourcesVpcConfig": {"clusterSecurityGroupId": "sg-gone", "securityGroupIds": ["sg-1"]}}
    findings = eks_info.security_group_findings(cluster, [sg("sg-1", [SELF_443], egress=())])
    assert [(f["check"], f["resource"], f["severity"]) for f in findings] == [
        ("cluster security group", "sg-gone", "critical"), ("security group egress 10250", "sg-1", "warning")]


def test_a_cluster_without_security_groups_gives_no_findings():
    assert eks_info.security_group_findings({"name": "c"}, []) == []


# ------------------------------------------------------------------------------------- the module
def run_module(capsys, **args):
    with patch_module_args(args), pytest.raises(SystemExit) as exc:
        eks_cluster_info.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = exc.value.code
    return out


def test_bad_name_is_refused_before_any_aws_call(capsys, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    out = run_module(capsys, name="no spaces allowed")
    assert out["_rc"] == 1 and "eks_cluster_info: name 'no spaces allowed' is not a valid EKS cluster name" in out["msg"]


@pytest.fixture
def moto(monkeypatch, aws_env):
    for key, value in aws_env.items():
        monkeypatch.setenv(key, value)
    import boto3

    return {svc: boto3.client(svc, region_name="us-east-1") for svc in ("eks", "iam", "ec2")}


@pytest.mark.sandbox
def test_an_absent_cluster_is_reported_not_failed(capsys, moto):
    out = run_module(capsys, name=f"absent-{uuid.uuid4().hex[:8]}")
    assert out["_rc"] == 0 and out["changed"] is False
    assert out["found"] is False and out["nodegroups"] == [] and out["security_group_findings"] == []


@pytest.mark.sandbox
def test_describes_cluster_node_groups_and_security_groups(capsys, moto):
    suffix = uuid.uuid4().hex[:8]
    trust = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    role = moto["iam"].create_role(RoleName=f"eksinfo-{suffix}", AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    vpc = moto["ec2"].create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnet = moto["ec2"].create_subnet(VpcId=vpc, CidrBlock="10.77.1.0/24")["Subnet"]["SubnetId"]
    group = moto["ec2"].create_security_group(GroupName=f"eksinfo-{suffix}", Description="x", VpcId=vpc)["GroupId"]
    name = f"eksinfo-{suffix}"
    moto["eks"].create_cluster(name=name, roleArn=role, resourcesVpcConfig={"subnetIds": [subnet], "securityGroupIds": [group]})
    for ng in ("spot", "ondemand"):
        moto["eks"].create_nodegroup(clusterName=name, nodegroupName=ng, subnets=[subnet], nodeRole=role)
    try:
        out = run_module(capsys, name=name)
        assert out["_rc"] == 0 and out["changed"] is False and out["found"] is True
        assert out["cluster"]["name"] == name and out["cluster"]["status"] == "ACTIVE"
        assert [ng["nodegroupName"] for ng in out["nodegroups"]] == ["ondemand", "spot"]
        assert out["node_role_names"] == [f"eksinfo-{suffix}"]
        assert out["security_group_ids"] == [group]
        assert out["security_groups"][0]["group_id"] == group
        # A fresh group admits nothing: nodes could not reach the API server.
        assert [f["check"] for f in out["security_group_findings"]] == ["security group ingress 443"]

        moto["ec2"].authorize_security_group_ingress(GroupId=group, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": group}]}])
        fixed = run_module(capsys, name=name, nodegroups=False)
        assert fixed["security_group_findings"] == [] and fixed["nodegroups"] == []
    finally:
        for ng in ("spot", "ondemand"):
            moto["eks"].delete_nodegroup(clusterName=name, nodegroupName=ng)
        moto["eks"].delete_cluster(name=name)
