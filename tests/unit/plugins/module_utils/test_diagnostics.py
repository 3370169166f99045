"""Each finding must name the cause and the fix; healthy input gives no finding."""
import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import diagnostics as d

ROLE = "arn:aws:iam::123456789012:role/cxr-local-node"
ALL_POLICIES = [{"PolicyArn": p} for p in d.NODE_ROLE_POLICIES]


def nodegroup(**over):
    ng = {"nodegroupName": "on-demand", "status": "ACTIVE", "nodeRole": ROLE,
          "scalingConfig": {"minSize": 2, "maxSize": 4, "desiredSize": 2}, "health": {"issues": []}}
    ng.update(over)
    return ng


def test_healthy_node_groups_have_no_findings():
    assert d.eks_findings([nodegroup()], {"cxr-local-node": ALL_POLICIES}, {"name": "c", "status": "ACTIVE"}) == []


def test_missing_cni_policy_is_named_with_its_fix():
    policies = [p for p in ALL_POLICIES if "CNI" not in p["PolicyArn"]]
    (f,) = d.eks_findings([nodegroup()], {"cxr-local-node": policies})
    assert f["severity"] == "critical" and "AmazonEKS_CNI_Policy" in f["cause"]
    assert "attach" in f["fix"]


def test_unknown_node_role_and_health_issues_are_reported():
    ng = nodegroup(status="DEGRADED", health={"issues": [{"code": "Ec2SecurityGroupNotFound", "message": "sg-1 gone"}]})
    found = d.eks_findings([ng], {})
    checks = {f["check"] for f in found}
    assert checks == {"node group status", "node group health", "node IAM role"}
    assert any("Ec2SecurityGroupNotFound" in f["cause"] for f in found)


def test_no_node_groups_is_critical():
    (f,) = d.eks_findings([], {}, {"name": "c", "status": "ACTIVE"})
    assert f["check"] == "node groups" and f["severity"] == "critical"


def svc(name, labels, ports=("http-metrics",), ns="cxr-inference"):
    return {"metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"ports": [{"name": p, "port": 8080} for p in ports]}}


def sm(selector, port="http-metrics", ns="cxr-inference"):
    return {"metadata": {"name": "inference", "namespace": ns},
            "spec": {"selector": {"matchLabels": selector}, "endpoints": [{"port": port}]}}


def test_service_monitor_with_a_wrong_selector_is_found():
    services = [svc("inference", {"app": "cxr-inference"})]
    assert d.monitoring_findings([sm({"app": "cxr-inference"})], services) == []
    (f,) = d.monitoring_findings([sm({"app": "cxr-infrence"})], services)
    assert "matches no Service" in f["cause"] and "selector" in f["fix"]


def test_service_monitor_port_name_and_down_targets():
    services = [svc("inference", {"app": "x"})]
    found = d.monitoring_findings([sm({"app": "x"}, port="metrics")], services,
                                  [{"health": "down", "labels": {"job": "j", "instance": "i"}, "lastError": "refused"}])
    assert [f["check"] for f in found] == ["ServiceMonitor port", "scrape target up"]
    assert found[1]["cause"] == "refused"


def test_service_monitor_in_another_namespace_does_not_match():
    (f,) = d.monitoring_findings([sm({"app": "x"}, ns="monitoring")], [svc("inference", {"app": "x"})])
    assert "['monitoring']" in f["cause"]


def test_argocd_out_of_sync_and_missing_repository():
    apps = [{"metadata": {"name": "root"}, "status": {"sync": {"status": "OutOfSync"}, "health": {"status": "Healthy"}}},
            {"metadata": {"name": "ok"}, "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}]
    found = d.argocd_findings(apps, [], ["https://git.example/platform.git"])
    assert [f["check"] for f in found] == ["repository credentials", "application synced"]


def test_backup_failed_job_and_non_compliance():
    cj = {"metadata": {"name": "db-backup"}, "spec": {}, "status": {"lastSuccessfulTime": "2026-11-25T01:00:00Z"}}
    job = {"metadata": {"name": "db-backup-1", "creationTimestamp": "2026-11-26T01:00:00Z",
                        "ownerReferences": [{"kind": "CronJob", "name": "db-backup"}]},
           "status": {"conditions": [{"type": "Failed", "status": "True", "message": "BackoffLimitExceeded"}]}}
    found = d.backup_findings([cj], [job], {"compliant": False, "reasons": ["newest backup is 30 h old (RPO 1 h)"]})
    assert [f["check"] for f in found] == ["last backup job", "backup compliance"]
    assert "BackoffLimitExceeded" in found[0]["cause"]


@pytest.mark.parametrize("findings,status", [([], "ok"),
                                              ([d.finding("eks", "warning", "c", "r", "x", "y")], "warning"),
                                              ([d.finding("eks", "warning", "c", "r", "x", "y"),
                                                d.finding("backups", "critical", "c", "r", "x", "y")], "critical")])
def test_summary_status_is_the_worst_finding(findings, status):
    assert d.summarize(findings)["status"] == status
