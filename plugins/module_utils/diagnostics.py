# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Troubleshooting findings for playbooks/health_check.yml, as pure functions over gathered data.

Each function takes what the info modules returned (boto3 shapes for AWS, Kubernetes objects as
dicts, Prometheus API payloads) and returns a list of findings::

    {"area": "eks", "severity": "critical" | "warning", "check": "...", "resource": "...",
     "cause": "...", "fix": "..."}

An empty list means the area is healthy. Nothing here talks to a network.
"""
from __future__ import annotations

from ansible_collections.cxr.mlops.plugins.module_utils.netpol import selector_matches

NODE_ROLE_POLICIES = (
    "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
    "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
    "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
)


def finding(area, severity, check, resource, cause, fix):
    return {"area": area, "severity": severity, "check": check, "resource": resource, "cause": cause, "fix": fix}


def _policy_arns(attached):
    out = set()
    for item in attached or []:
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict):
            out.add(item.get("PolicyArn") or item.get("policy_arn") or "")
    return out


def eks_findings(nodegroups, node_role_policies, cluster=None):
    """Why nodes would not join: node-group health, node IAM role policies, cluster state.

    nodegroups: list of EKS DescribeNodegroup ``nodegroup`` dicts.
    node_role_policies: {role_name_or_arn: [attached policy ARNs or AttachedPolicies dicts]}.
    cluster: EKS DescribeCluster ``cluster`` dict (optional).
    """
    out = []
    if cluster is not None and cluster.get("status") not in (None, "ACTIVE"):
        out.append(finding("eks", "critical", "cluster status", cluster.get("name", "?"),
                           f"the cluster is {cluster.get('status')}, not ACTIVE",
                           "wait for the cluster update to finish, or read its health issues (aws eks describe-cluster)"))
    if not nodegroups:
        out.append(finding("eks", "critical", "node groups", (cluster or {}).get("name", "cluster"),
                           "the cluster has no managed node groups, so no node can join",
                           "apply the Terraform eks module (terraform_apply) to create the node groups"))
    for ng in nodegroups or []:
        name = ng.get("nodegroupName", "?")
        if ng.get("status") not in (None, "ACTIVE", "UPDATING"):
            out.append(finding("eks", "critical", "node group status", name, f"status {ng.get('status')}",
                               "read the node group's health issues; recreate it through Terraform if it is DEGRADED"))
        for issue in (ng.get("health") or {}).get("issues") or []:
            out.append(finding("eks", "critical", "node group health", name,
                               f"{issue.get('code')}: {issue.get('message')}",
                               "fix the cause the health issue names (IAM role, security group, subnet capacity)"))
        scaling = ng.get("scalingConfig") or {}
        if scaling and scaling.get("desiredSize", 1) < scaling.get("minSize", 0):
            out.append(finding("eks", "warning", "node group scaling", name,
                               f"desired size {scaling.get('desiredSize')} below minimum {scaling.get('minSize')}",
                               "set desired between min and max in the inventory and re-run terraform_apply"))
        role = ng.get("nodeRole", "")
        role_name = role.rsplit("/", 1)[-1]
        attached = node_role_policies.get(role_name, node_role_policies.get(role))
        if attached is None:
            out.append(finding("eks", "critical", "node IAM role", name, f"node role {role or '(none)'} was not found",
                               "create the node role through Terraform (eks module) and attach it to the node group"))
            continue
        missing = [p for p in NODE_ROLE_POLICIES if p not in _policy_arns(attached)]
        if missing:
            out.append(finding("eks", "critical", "node IAM role policies", role_name,
                               "nodes cannot join without " + ", ".join(p.rsplit("/", 1)[-1] for p in missing),
                               "attach the missing managed policies to the node role (Terraform eks module) "
                               "and re-run terraform_apply"))
    return out


def monitoring_findings(service_monitors, services, targets=None, prometheus_error=None):
    """ServiceMonitors that select no Service, and Prometheus scrape targets that are down.

    service_monitors / services: Kubernetes objects (dicts). targets: the ``activeTargets`` list of
    Prometheus ``/api/v1/targets``. prometheus_error: the error text when Prometheus did not answer.
    """
    out = []
    if prometheus_error:
        out.append(finding("monitoring", "critical", "prometheus reachable", "prometheus", str(prometheus_error),
                           "check the Prometheus pod and its Service (kubectl -n monitoring get pods,svc)"))
    for sm in service_monitors or []:
        meta = sm.get("metadata", {})
        spec = sm.get("spec", {})
        name = f"{meta.get('namespace', '')}/{meta.get('name', '?')}"
        ns_sel = spec.get("namespaceSelector") or {}
        namespaces = None if ns_sel.get("any") else set(ns_sel.get("matchNames") or [meta.get("namespace")])
        selected = [s for s in services or []
                    if (namespaces is None or s.get("metadata", {}).get("namespace") in namespaces)
                    and selector_matches(spec.get("selector") or {}, s.get("metadata", {}).get("labels"))]
        if not selected:
            out.append(finding("monitoring", "critical", "ServiceMonitor selects a Service", name,
                               f"selector {spec.get('selector') or {}} matches no Service"
                               + (f" in {sorted(namespaces)}" if namespaces else ""),
                               "make the ServiceMonitor's selector match the Service's labels (or fix the labels)"))
            continue
        ports = {p.get("name") for s in selected for p in s.get("spec", {}).get("ports") or []}
        for ep in spec.get("endpoints") or []:
            if ep.get("port") and ep["port"] not in ports:
                out.append(finding("monitoring", "warning", "ServiceMonitor port", name,
                                   f"endpoint port '{ep['port']}' is not a named port of the selected Service(s)",
                                   "use the Service's port name in the ServiceMonitor endpoint"))
    for target in targets or []:
        if target.get("health") == "down":
            labels = target.get("labels", {})
            out.append(finding("monitoring", "warning", "scrape target up",
                               f"{labels.get('job', '?')}/{labels.get('instance', '?')}",
                               target.get("lastError") or "target is down",
                               "check the pod behind the target and the network policy that admits Prometheus"))
    return out


def argocd_findings(applications, repository_secrets, repositories_needed=()):
    """Applications that are not Synced/Healthy, and repositories without credentials."""
    out = []
    have = {(s.get("data") or {}).get("url") or (s.get("stringData") or {}).get("url")
            or (s.get("metadata", {}).get("annotations") or {}).get("cxr.mlops/repository-url")
            for s in repository_secrets or []}
    for url in repositories_needed or []:
        if url not in have:
            out.append(finding("argocd", "critical", "repository credentials", url,
                               "no secret labelled argocd.argoproj.io/secret-type=repository carries this URL",
                               "re-run argocd_bootstrap with the repository credentials in the vault"))
    for app in applications or []:
        name = app.get("metadata", {}).get("name", "?")
        status = app.get("status") or {}
        sync = (status.get("sync") or {}).get("status", "Unknown")
        health = (status.get("health") or {}).get("status", "Unknown")
        if sync != "Synced":
            cond = "; ".join(c.get("message", "") for c in status.get("conditions") or [])
            out.append(finding("argocd", "warning", "application synced", name, f"sync status {sync}" + (f": {cond}" if cond else ""),
                               "argocd app diff / sync; check the repository credentials and the sync options"))
        if health not in ("Healthy", "Unknown") or (health == "Unknown" and sync == "Synced"):
            out.append(finding("argocd", "warning", "application healthy", name, f"health {health}",
                               "look at the unhealthy resources: argocd app get " + name))
    return out


def backup_findings(cronjobs, jobs, compliance=None):
    """CronJobs whose last run failed or that never succeeded, plus backup_compliance violations."""
    out = []
    by_owner = {}
    for job in jobs or []:
        for ref in job.get("metadata", {}).get("ownerReferences") or []:
            if ref.get("kind") == "CronJob":
                by_owner.setdefault(ref.get("name"), []).append(job)
    for cj in cronjobs or []:
        name = cj.get("metadata", {}).get("name", "?")
        if (cj.get("spec") or {}).get("suspend"):
            out.append(finding("backups", "warning", "CronJob active", name, "the CronJob is suspended",
                               "unsuspend it: kubectl patch cronjob " + name + " -p '{\"spec\":{\"suspend\":false}}'"))
        runs = sorted(by_owner.get(name, []), key=lambda j: j.get("metadata", {}).get("creationTimestamp") or "")
        if runs:
            last = runs[-1]
            failed = any(c.get("type") == "Failed" and c.get("status") == "True"
                         for c in (last.get("status") or {}).get("conditions") or [])
            if failed:
                out.append(finding("backups", "critical", "last backup job", last["metadata"].get("name", name),
                                   "the last run failed: " + "; ".join(
                                       c.get("message", "") for c in last["status"]["conditions"] if c.get("type") == "Failed"),
                                   "kubectl logs job/" + last["metadata"].get("name", name)
                                   + "; check the IRSA role's S3/KMS permissions"))
        elif not (cj.get("status") or {}).get("lastSuccessfulTime"):
            out.append(finding("backups", "warning", "backup has run", name, "no run of this CronJob is recorded",
                               "trigger one: kubectl create job --from=cronjob/" + name + " " + name + "-manual"))
    if compliance is not None and not compliance.get("compliant", False):
        for reason in compliance.get("reasons") or compliance.get("violations") or ["not compliant"]:
            out.append(finding("backups", "critical", "backup compliance", "backups", str(reason),
                               "see docs/runbooks/restore.md and the backup CronJobs' logs"))
    return out


def summarize(findings):
    """Counts per area and severity, and an overall status (ok / warning / critical)."""
    counts = {}
    for f in findings:
        counts.setdefault(f["area"], {"critical": 0, "warning": 0})[f["severity"]] += 1
    worst = "critical" if any(f["severity"] == "critical" for f in findings) else ("warning" if findings else "ok")
    return {"status": worst, "total": len(findings), "by_area": counts}
