"""playbooks/health_check.yml through real ansible-playbook runs, with faults injected in the sandbox.

AWS side: the sandbox's moto (boto3 creates a VPC, a security group, the roles, an EKS cluster and a managed node
group whose node role lacks AmazonEKS_CNI_Policy; no Terraform, to stay fast). Cluster side: the ``kubeconfig``
fixture (the Kubernetes API test server, or a real cluster through KUBECONFIG): a namespace of this test with a
Service and a ServiceMonitor whose selector matches no Service. The ServiceMonitor CRD is the schema-light copy of
the monitoring test chart, installed only when the cluster does not have it already (and then removed again).

The report must name both faults with their fixes, must be identical in --check, must change nothing, and must
be clean for those areas once both faults are fixed.
"""
from __future__ import annotations

import json
import re
import subprocess
import uuid
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "health_check.yml"
CRD = ROOT / "tests" / "fixtures" / "charts" / "kube-prometheus-stack" / "crds" / "crd-servicemonitor.yaml"
CRD_NAME = "servicemonitors.monitoring.coreos.com"
NODE_POLICIES = ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"]  # AmazonEKS_CNI_Policy missing
CNI = "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args], input=stdin, capture_output=True, text=True,
                          check=check, timeout=60)


def assume(service: str) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]})


@pytest.fixture(scope="module")
def aws(sandbox, aws_env):
    session = boto3.session.Session(aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    return {name: session.client(name, endpoint_url=aws_env["AWS_ENDPOINT_URL"]) for name in ("iam", "ec2", "eks")}


@pytest.fixture(scope="module")
def eks_fault(aws):
    """An EKS cluster whose node group's role lacks AmazonEKS_CNI_Policy (security groups are fine)."""
    suffix = uuid.uuid4().hex[:8]
    iam, ec2, eks = aws["iam"], aws["ec2"], aws["eks"]
    cluster_role = iam.create_role(RoleName=f"hc-cluster-{suffix}", AssumeRolePolicyDocument=assume("eks.amazonaws.com"))
    iam.attach_role_policy(RoleName=f"hc-cluster-{suffix}", PolicyArn="arn:aws:iam::aws:policy/AmazonEKSClusterPolicy")
    node_role = f"hc-node-{suffix}"
    node_arn = iam.create_role(RoleName=node_role, AssumeRolePolicyDocument=assume("ec2.amazonaws.com"))["Role"]["Arn"]
    for policy in NODE_POLICIES:
        iam.attach_role_policy(RoleName=node_role, PolicyArn=f"arn:aws:iam::aws:policy/{policy}")
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    sg = ec2.create_security_group(GroupName=f"hc-{suffix}", Description="cluster", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "UserIdGroupPairs": [{"GroupId": sg}]}])
    name = f"hc-{suffix}"
    eks.create_cluster(name=name, roleArn=cluster_role["Role"]["Arn"],
                       resourcesVpcConfig={"subnetIds": [subnet], "securityGroupIds": [sg]})
    eks.create_nodegroup(clusterName=name, nodegroupName="ondemand", subnets=[subnet], nodeRole=node_arn,
                         scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
    yield {"cluster": name, "node_role": node_role, "security_group": sg}
    eks.delete_nodegroup(clusterName=name, nodegroupName="ondemand")
    eks.delete_cluster(name=name)


@pytest.fixture(scope="module")
def monitoring_fault(kubeconfig):
    """A namespace with a Service (app=cxr-inference, port 'metrics') and a ServiceMonitor selecting app=wrong."""
    installed_crd = kubectl(kubeconfig, "get", "crd", CRD_NAME, check=False).returncode != 0
    if installed_crd:
        kubectl(kubeconfig, "apply", "-f", str(CRD))
        kubectl(kubeconfig, "wait", "--for", "condition=established", f"crd/{CRD_NAME}", "--timeout=60s")
    namespace = f"hc-{uuid.uuid4().hex[:8]}"
    kubectl(kubeconfig, "create", "namespace", namespace)
    manifests = {
        "apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Service",
             "metadata": {"name": "cxr-inference", "namespace": namespace, "labels": {"app": "cxr-inference"}},
             "spec": {"selector": {"app": "cxr-inference"}, "ports": [{"name": "metrics", "port": 8000}]}},
            {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
             "metadata": {"name": "cxr-inference", "namespace": namespace},
             "spec": {"selector": {"matchLabels": {"app": "cxr-inference-wrong"}},
                      "endpoints": [{"port": "metrics", "interval": "15s"}]}},
        ]}
    # No client-side schema validation: the test server publishes no OpenAPI schema for custom resources.
    kubectl(kubeconfig, "apply", "--validate=false", "-f", "-", stdin=json.dumps(manifests))
    yield {"namespace": namespace, "service_monitor": f"{namespace}/cxr-inference"}
    kubectl(kubeconfig, "delete", "namespace", namespace, "--wait=false", check=False)
    if installed_crd:
        kubectl(kubeconfig, "delete", "crd", CRD_NAME, "--wait=false", check=False)


def printed_report(stdout: str) -> list[str]:
    """The lines of the 'Print the report' task (results are JSON: ANSIBLE_CALLBACK_RESULT_FORMAT=json)."""
    match = re.search(r"TASK \[Print the report\].*?=> (\{.*?\n\})", stdout, re.DOTALL)
    assert match, stdout[-3000:]
    return json.loads(match.group(1))["msg"]


@pytest.fixture(scope="module")
def check(ansible_playbook, sandbox, aws_env, kubeconfig, eks_fault, monitoring_fault, tmp_path_factory):
    report_dir = tmp_path_factory.mktemp("health-check")

    def run(*args: str, **extra):
        extra_vars = {
            "cxr_aws_env": aws_env,
            "health_check_kubeconfig": kubeconfig,
            "health_check_prometheus_url": sandbox["prometheus"],
            "health_check_cluster_name": eks_fault["cluster"],
            "health_check_areas": ["eks", "monitoring"],
            "health_check_monitoring_namespaces": [monitoring_fault["namespace"]],
            "health_check_report_dir": str(report_dir),
            **extra,
        }
        result = ansible_playbook(PLAYBOOK, *args, extra_vars=extra_vars, timeout=300,
                                  env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
        report = json.loads((report_dir / "health-check.json").read_text()) if (report_dir / "health-check.json").exists() else None
        return result, report, report_dir

    return run


def by_check(report: dict, area: str) -> dict:
    return {f["check"]: f for f in report["findings"] if f["area"] == area}


def test_faults_are_found_with_their_fixes_and_check_mode_tells_the_same(check, eks_fault, monitoring_fault, aws, kubeconfig):
    first, report, report_dir = check()
    assert first.rc == 0, first
    assert report["status"] == "critical"
    assert report["checked"] == ["eks", "monitoring"]

    eks = by_check(report, "eks")
    assert set(eks) == {"node IAM role policies"}, report["findings"]
    assert eks["node IAM role policies"]["resource"] == eks_fault["node_role"]
    assert "AmazonEKS_CNI_Policy" in eks["node IAM role policies"]["cause"]
    assert "AmazonEKSWorkerNodePolicy" not in eks["node IAM role policies"]["cause"]
    assert "attach the missing managed policies" in eks["node IAM role policies"]["fix"]

    monitoring = by_check(report, "monitoring")
    sm = monitoring["ServiceMonitor selects a Service"]
    assert sm["resource"] == monitoring_fault["service_monitor"]
    assert "cxr-inference-wrong" in sm["cause"] and "matches no Service" in sm["cause"]
    assert "selector" in sm["fix"]
    assert "prometheus reachable" not in monitoring  # the sandbox's Prometheus answered

    markdown = (report_dir / "health-check.md").read_text()
    assert "| eks | critical | node IAM role policies |" in markdown
    assert monitoring_fault["service_monitor"] in markdown
    table = printed_report(first.stdout)
    assert any("AmazonEKS_CNI_Policy" in line for line in table)

    # A second run changes nothing (identical report files); health_check_fail_on=critical then fails the run,
    # after the report is printed and written.
    second, again, _ = check(health_check_fail_on="critical")
    assert second.rc != 0 and second.changed == 0, second
    assert "Health check critical" in second.stdout and "node IAM role policies" in second.stdout
    assert again == report
    assert printed_report(second.stdout) == table

    # --check prints the same report and changes nothing.
    dry, _, _ = check("--check", "--diff", health_check_report_dir="")
    assert dry.rc == 0 and dry.changed == 0, dry
    assert printed_report(dry.stdout) == table

    # Fix both faults: attach the policy, correct the selector. The two areas are then clean.
    aws["iam"].attach_role_policy(RoleName=eks_fault["node_role"], PolicyArn=CNI)
    kubectl(kubeconfig, "-n", monitoring_fault["namespace"], "patch", "servicemonitor", "cxr-inference", "--type=merge",
            "-p", json.dumps({"spec": {"selector": {"matchLabels": {"app": "cxr-inference"}}}}))
    fixed, _, _ = check(health_check_fail_on="warning", health_check_report_dir="")
    assert fixed.rc == 0 and fixed.changed == 0, fixed
    lines = printed_report(fixed.stdout)
    assert lines[0] == "Health check (local): OK - 0 finding(s); checked: eks, monitoring"
    assert [line for line in lines[1:] if not line.startswith("[NOT CHECKED]")] == []
    assert not any(line.startswith(("[NOT CHECKED] eks", "[NOT CHECKED] monitoring")) for line in lines)


def test_areas_without_inputs_are_reported_not_checked(ansible_playbook, sandbox, aws_env, kubeconfig):
    result = ansible_playbook(PLAYBOOK, extra_vars={
        "cxr_aws_env": aws_env, "health_check_kubeconfig": kubeconfig, "health_check_cluster_name": "",
        "health_check_areas": ["eks", "cost"], "health_check_report_dir": "", "health_check_fail_on": "warning"},
        env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300)
    assert result.rc == 0 and result.changed == 0, result
    table = "\n".join(printed_report(result.stdout))
    assert "[NOT CHECKED] eks: no cluster name" in table
    assert "[NOT CHECKED] cost: no Terraform plan" in table
    assert "[NOT CHECKED] monitoring: not in health_check_areas" in table


def test_a_missing_cluster_is_a_finding_not_a_crash(ansible_playbook, sandbox, aws_env, kubeconfig):
    result = ansible_playbook(PLAYBOOK, extra_vars={
        "cxr_aws_env": aws_env, "health_check_kubeconfig": kubeconfig, "health_check_cluster_name": "hc-absent",
        "health_check_areas": ["eks"], "health_check_report_dir": ""},
        env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300)
    assert result.rc == 0 and result.changed == 0, result
    table = "\n".join(printed_report(result.stdout))
    assert "[CRITICAL] eks | cluster exists | hc-absent" in table
    assert "EKS cluster hc-absent was not found" in table


@pytest.mark.parametrize("extra, message", [
    ({"health_check_fail_on": "sometimes"}, "health_check_fail_on must be none, critical or warning (got 'sometimes')"),
    ({"health_check_areas": ["eks", "dns"]}, "health_check_areas a list out of eks, monitoring, argocd, backups, cost"),
    ({"health_check_cluster_name": "bad name!"}, "health_check_cluster_name an EKS cluster name (got 'bad name!')"),
    ({"health_check_backup_rpo_hours": 0}, "health_check_backup_rpo_hours > 0 (got 0)"),
])
def test_bad_input_is_refused_before_anything_runs(ansible_playbook, extra, message, tmp_path):
    result = ansible_playbook(PLAYBOOK, extra_vars={"health_check_report_dir": str(tmp_path / "r"), **extra}, timeout=120)
    assert result.rc != 0
    assert "Check the health check's inputs" in result.stdout
    assert message in " ".join(result.stdout.split())
    assert result.recap["localhost"]["ok"] == 0 and result.changed == 0
    assert not (tmp_path / "r").exists()


def test_an_unreachable_cluster_is_a_finding_not_a_crash(ansible_playbook, sandbox, aws_env, tmp_path):
    dead = tmp_path / "kubeconfig"
    dead.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "dead",
        "clusters": [{"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "dead", "user": {"token": "x"}}],
        "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead"}}]}))
    result = ansible_playbook(PLAYBOOK, extra_vars={
        "cxr_aws_env": aws_env, "health_check_kubeconfig": str(dead), "health_check_areas": ["monitoring", "argocd"],
        "health_check_prometheus_url": sandbox["prometheus"], "health_check_report_dir": ""},
        env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}, timeout=300)
    assert result.rc == 0 and result.changed == 0, result
    table = "\n".join(printed_report(result.stdout))
    assert "[CRITICAL] monitoring | data readable | Monitoring - list ServiceMonitors" in table
    assert "check the kubeconfig (health_check_kubeconfig)" in table
    assert "[NOT CHECKED] argocd" in table
