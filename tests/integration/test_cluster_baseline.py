"""cluster_baseline against the cluster (the sandbox's API test server, or KUBECONFIG's real cluster)."""
import json
import subprocess
import uuid

import pytest
import yaml

from ansible_collections.cxr.mlops.plugins.module_utils import netpol

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]
RUN = uuid.uuid4().hex[:6]
APP, BACKUP, MON = f"tb-{RUN}-app", f"tb-{RUN}-backup", f"tb-{RUN}-mon"


def scenario(**over):
    vars_ = {
        "cluster_baseline_namespaces": [
            {"name": APP, "pod_security": "restricted", "default_deny": True,
             "quota": {"requests.cpu": "4", "requests.memory": "8Gi", "pods": "20"},
             "limits": {"default": {"cpu": "500m", "memory": "1Gi"}, "default_request": {"cpu": "100m", "memory": "128Mi"}},
             "workload_requests": {"requests.cpu": "2", "requests.memory": "4Gi"}},
            {"name": BACKUP, "pod_security": "restricted", "default_deny": True},
            {"name": MON, "pod_security": "privileged", "default_deny": False},
        ],
        "cluster_baseline_allowed_flows": [
            {"name": "scrape", "from": {"namespace": MON, "labels": {"app.kubernetes.io/name": "prometheus"}},
             "to": {"namespace": APP, "labels": {"app.kubernetes.io/name": "cxr-inference"}},
             "ports": [{"port": 8080, "protocol": "TCP"}]},
            {"name": "app-dns", "from": {"namespace": APP, "labels": {}},
             "to": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}, "ports": [{"port": 53, "protocol": "UDP"}]},
            {"name": "backup-dns", "from": {"namespace": BACKUP, "labels": {}},
             "to": {"namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}}, "ports": [{"port": 53, "protocol": "UDP"}]},
        ],
        "cluster_baseline_external_flows": [],
        "cluster_baseline_ingresses": [{"name": "grafana", "namespace": MON, "service": "grafana", "port": 80}],
        "cluster_baseline_operator_groups": [{"group": "cxr-operators", "role": "edit", "namespaces": [APP]}],
        "cluster_baseline_certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
        "cluster_baseline_waf_acl_arn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/cxr/1",
        "cluster_baseline_irsa_role_arns": {"aws_load_balancer_controller": "arn:aws:iam::123456789012:role/lbc",
                                            "cluster_autoscaler": "", "aws_for_fluent_bit": "", "external_dns": ""},
    }
    vars_.update(over)
    return vars_


def kubectl(kubeconfig, *args):
    out = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, *args, "-o", "json"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def converged(kubeconfig, ansible_playbook, sandbox):
    env = {"KUBECONFIG": kubeconfig}
    first = ansible_playbook("playbooks/baseline.yml", extra_vars=scenario(), env=env)
    assert first.rc == 0, first
    return first


def test_an_empty_kubeconfig_is_refused_not_the_default_cluster(ansible_playbook, kubeconfig, sandbox):
    """Issue 18 case 3: `-e cluster_baseline_kubeconfig=` deployed to whatever $KUBECONFIG / ~/.kube/config named."""
    result = ansible_playbook("playbooks/baseline.yml", extra_vars=scenario(cluster_baseline_kubeconfig=""),
                              env={"KUBECONFIG": kubeconfig})
    assert result.rc != 0, result
    assert "cluster_baseline_kubeconfig is empty" in result.stdout, result
    assert result.changed == 0, result


def test_second_run_and_check_mode_report_no_change(converged, ansible_playbook, kubeconfig):
    again = ansible_playbook("playbooks/baseline.yml", extra_vars=scenario(), env={"KUBECONFIG": kubeconfig})
    assert again.rc == 0 and again.changed == 0, again
    check = ansible_playbook("playbooks/baseline.yml", "--check", extra_vars=scenario(), env={"KUBECONFIG": kubeconfig})
    assert check.rc == 0 and check.changed == 0, check


def test_namespaces_carry_pod_security_quota_and_no_token(converged, kubeconfig):
    ns = kubectl(kubeconfig, "get", "namespace", APP)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert kubectl(kubeconfig, "get", "namespace", MON)["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    quota = kubectl(kubeconfig, "-n", APP, "get", "resourcequota", "baseline")
    assert quota["spec"]["hard"]["requests.cpu"] == "4"
    limits = kubectl(kubeconfig, "-n", APP, "get", "limitrange", "baseline")
    assert limits["spec"]["limits"][0]["default"] == {"cpu": "500m", "memory": "1Gi"}
    assert kubectl(kubeconfig, "-n", APP, "get", "serviceaccount", "default")["automountServiceAccountToken"] is False


def test_operator_role_is_least_privilege(converged, kubeconfig):
    role = kubectl(kubeconfig, "-n", APP, "get", "role", "cxr-edit")
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert "secrets" not in resources and "*" not in resources
    binding = kubectl(kubeconfig, "-n", APP, "get", "rolebinding", "cxr-edit-cxr-operators")
    assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "cxr-operators"}]


def test_ingress_is_https_only_with_certificate_waf_and_host(converged, kubeconfig):
    ing = kubectl(kubeconfig, "-n", MON, "get", "ingress", "grafana")
    ann = ing["metadata"]["annotations"]
    assert ann["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTPS": 443}]'
    assert ann["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert ann["alb.ingress.kubernetes.io/wafv2-acl-arn"].startswith("arn:aws:wafv2:")
    assert ing["spec"]["tls"] == [{"hosts": ["grafana.cxr.local.example.com"]}]
    assert ing["spec"]["rules"][0]["host"] == "grafana.cxr.local.example.com"


def test_addons_are_installed_with_irsa_and_their_values(converged, kubeconfig):
    sa = kubectl(kubeconfig, "-n", "kube-system", "get", "serviceaccount", "aws-load-balancer-controller")
    assert sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == "arn:aws:iam::123456789012:role/lbc"
    received = kubectl(kubeconfig, "-n", "amazon-cloudwatch", "get", "configmap", "aws-for-fluent-bit-received-values")
    values = yaml.safe_load(received["data"]["values.yaml"])
    # Terraform owns the log group and its retention; Fluent Bit neither creates it nor pretends to set one.
    assert values["cloudWatchLogs"]["autoCreateGroup"] is False
    assert "logRetentionDays" not in values["cloudWatchLogs"]
    assert values["tolerations"] == [{"operator": "Exists"}]
    autoscaler = yaml.safe_load(kubectl(kubeconfig, "-n", "kube-system", "get", "configmap",
                                        "cluster-autoscaler-received-values")["data"]["values.yaml"])
    assert autoscaler["autoDiscovery"]["clusterName"]
    # The autoscaler's minor is the cluster's (1.31), not the chart's default v1.32.
    assert autoscaler["image"]["tag"].startswith("v1.31.")


def test_allowed_flows_match_the_matrix_and_nothing_else(converged, kubeconfig):
    policies = [p for ns in (APP, BACKUP, MON) for p in kubectl(kubeconfig, "-n", ns, "get", "networkpolicy")["items"]]
    namespaces = {ns: {"kubernetes.io/metadata.name": ns} for ns in (APP, BACKUP, MON, "kube-system")}
    workloads = [
        {"name": "inference", "namespace": APP, "labels": {"app.kubernetes.io/name": "cxr-inference"}, "ports": [[8080, "TCP"]]},
        {"name": "other", "namespace": APP, "labels": {"app": "other"}, "ports": [[8080, "TCP"]]},
        {"name": "backup", "namespace": BACKUP, "labels": {"app": "backup"}, "ports": [[8080, "TCP"]]},
        {"name": "prometheus", "namespace": MON, "labels": {"app.kubernetes.io/name": "prometheus"}, "ports": [[9090, "TCP"]]},
        {"name": "coredns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ports": [[53, "UDP"]]},
    ]
    flows = {f for f in netpol.allowed_flows(workloads, policies, namespaces) if APP in f[0] + f[1] or BACKUP in f[0] + f[1]}
    assert flows == {
        (f"{MON}/prometheus", f"{APP}/inference", "8080/TCP"),
        (f"{APP}/inference", "kube-system/coredns", "53/UDP"),
        (f"{APP}/other", "kube-system/coredns", "53/UDP"),
        (f"{BACKUP}/backup", "kube-system/coredns", "53/UDP"),
    }


@pytest.mark.parametrize("override,expected", [
    ({"cluster_baseline_domain": "bad_domain"}, "'bad_domain' is not a valid DNS hostname"),
    ({"cluster_baseline_namespaces": [{"name": f"tb-{RUN}-quota", "pod_security": "restricted", "default_deny": True,
                                        "quota": {"requests.cpu": "1"}, "workload_requests": {"requests.cpu": "3"}}]},
     "requests.cpu quota 1 is below the workloads' 3"),
])
def test_bad_input_is_refused_before_anything_changes(override, expected, ansible_playbook, kubeconfig, sandbox):
    result = ansible_playbook("playbooks/baseline.yml", extra_vars=scenario(**override), env={"KUBECONFIG": kubeconfig})
    assert result.rc != 0 and expected in result.stdout, result
    assert result.changed == 0
    missing = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "namespace", f"tb-{RUN}-quota"],
                             capture_output=True, text=True, check=False)
    assert missing.returncode != 0


def test_default_storage_class_is_encrypted_gp3_and_claims_get_it(converged, kubeconfig):
    """The EBS CSI "Storage Classes" document (parameters type and encrypted of ebs.csi.aws.com) and the
    DefaultStorageClass admission plugin: a claim without a class gets the default one (it binds once a pod
    uses it: WaitForFirstConsumer)."""
    sc = kubectl(kubeconfig, "get", "storageclass", "gp3")
    assert sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"]["type"] == "gp3" and sc["parameters"]["encrypted"] == "true"
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"probe-{RUN}", "namespace": APP},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", "-"], input=json.dumps(claim), text=True,
                   check=True, capture_output=True)
    try:
        pvc = kubectl(kubeconfig, "-n", APP, "get", "pvc", f"probe-{RUN}")
        assert pvc["spec"]["storageClassName"] == "gp3"
    finally:
        subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "-n", APP, "delete", "pvc", f"probe-{RUN}",
                        "--wait=false"], check=False, capture_output=True)


def test_an_ingress_dropped_from_the_list_is_removed_and_check_mode_says_so(converged, ansible_playbook, kubeconfig):
    """An upgrade from a release that published Prometheus (no login of its own) takes its Ingress away."""
    stale = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
             "metadata": {"name": "prometheus", "namespace": MON,
                          "labels": {"app.kubernetes.io/managed-by": "cxr.mlops", "cxr.mlops/component": "cluster-baseline"}},
             "spec": {"ingressClassName": "alb", "rules": [{"host": "prometheus.example.com", "http": {"paths": [
                 {"path": "/", "pathType": "Prefix", "backend": {"service": {
                     "name": "kube-prometheus-stack-prometheus", "port": {"number": 9090}}}}]}}]}}
    subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "-f", "-"], input=json.dumps(stale),
                   text=True, check=True, capture_output=True)
    env = {"KUBECONFIG": kubeconfig}
    check = ansible_playbook("playbooks/baseline.yml", "--check", extra_vars=scenario(), env=env)
    assert check.rc == 0 and check.changed == 1, check
    assert kubectl(kubeconfig, "-n", MON, "get", "ingress", "prometheus")["metadata"]["name"] == "prometheus"
    run = ansible_playbook("playbooks/baseline.yml", extra_vars=scenario(), env=env)
    assert run.rc == 0 and run.changed == 1, run
    names = [i["metadata"]["name"] for i in kubectl(kubeconfig, "-n", MON, "get", "ingress")["items"]]
    assert names == ["grafana"]
