# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""EKS descriptions for the health check: pure functions, no network.

* ``validate_cluster_name``: the EKS naming rule, checked before any AWS call.
* ``summarize``: what the module ``cxr.mlops.eks_cluster_info`` returns from DescribeCluster /
  DescribeNodegroup payloads (JSON-safe, plus the node role names and security group ids).
* ``security_group_findings``: why nodes could not reach the control plane (or the reverse), from the
  cluster description and the ``amazon.aws.ec2_security_group_info`` list of its security groups.
  Findings have the shape of ``module_utils/diagnostics.py`` (area ``eks``).
"""
from __future__ import annotations

import datetime
import re

from ansible_collections.cxr.mlops.plugins.module_utils.diagnostics import finding

_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")


def validate_cluster_name(name):
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"name {name!r} is not a valid EKS cluster name (1-100 letters, digits, '-' or '_', starting with a letter or digit)")
    return name


def _json_safe(value):
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return value


def security_group_ids(cluster):
    """The cluster security group first, then the additional control-plane groups, de-duplicated."""
    vpc = (cluster or {}).get("resourcesVpcConfig") or {}
    ids = [vpc.get("clusterSecurityGroupId")] + list(vpc.get("securityGroupIds") or [])
    out = []
    for sg in ids:
        if sg and sg not in out:
            out.append(sg)
    return out


def summarize(cluster, nodegroups):
    """Return value of eks_cluster_info: found, cluster, nodegroups, node_role_names, security_group_ids."""
    cluster = _json_safe(cluster) if cluster else {}
    nodegroups = _json_safe(list(nodegroups or []))
    roles = []
    for ng in nodegroups:
        role = (ng.get("nodeRole") or "").rsplit("/", 1)[-1]
        if role and role not in roles:
            roles.append(role)
    return {"found": bool(cluster), "cluster": cluster, "nodegroups": nodegroups, "node_role_names": roles,
            "security_group_ids": security_group_ids(cluster)}


def _covers(rule, port):
    """Whether an ec2_security_group_info permission (snake_case) admits TCP ``port``."""
    proto = str(rule.get("ip_protocol", ""))
    if proto == "-1":
        return True
    if proto not in ("tcp", "6"):
        return False
    low, high = rule.get("from_port"), rule.get("to_port")
    if low is None or high is None:
        return False
    return int(low) <= port <= int(high)


def _peers(rule):
    groups = {p.get("group_id") for p in rule.get("user_id_group_pairs") or []}
    cidrs = {r.get("cidr_ip") for r in rule.get("ip_ranges") or []} | {r.get("cidr_ipv6") for r in rule.get("ipv6_ranges") or []}
    return groups - {None}, cidrs - {None}


def _admits(groups, direction, port, peers):
    """Whether any of ``groups`` admits TCP ``port`` in ``direction`` from/to a group in ``peers`` or any CIDR."""
    for sg in groups:
        for rule in sg.get(direction) or []:
            if not _covers(rule, port):
                continue
            rule_groups, cidrs = _peers(rule)
            if cidrs or rule_groups & peers:
                return True
    return False


def security_group_findings(cluster, security_groups):
    """Findings about the control-plane security groups; [] when they let nodes and control plane talk.

    cluster: DescribeCluster ``cluster`` dict. security_groups: the ``security_groups`` list returned by
    amazon.aws.ec2_security_group_info for :func:`security_group_ids` of the cluster.
    """
    wanted = security_group_ids(cluster)
    name = (cluster or {}).get("name", "cluster")
    if not wanted:
        return []
    by_id = {sg.get("group_id"): sg for sg in security_groups or []}
    out = []
    missing = [sg for sg in wanted if sg not in by_id]
    for sg in missing:
        out.append(finding("eks", "critical", "cluster security group", sg,
                           f"security group {sg} of cluster {name} does not exist",
                           "re-run terraform_apply so the eks module recreates the security group and the cluster uses it"))
    present = [by_id[sg] for sg in wanted if sg in by_id]
    if not present:
        return out
    peers = {sg.get("group_id") for sg in present}
    if not _admits(present, "ip_permissions", 443, peers):
        out.append(finding("eks", "critical", "security group ingress 443", ",".join(sorted(peers)),
                           "no rule of the cluster's security groups admits TCP 443 from the nodes, so kubelets cannot "
                           "reach the API server and nodes never register",
                           "allow inbound TCP 443 from the node/cluster security group (Terraform eks module "
                           "security group rules) and re-run terraform_apply"))
    if not _admits(present, "ip_permissions_egress", 10250, peers):
        out.append(finding("eks", "warning", "security group egress 10250", ",".join(sorted(peers)),
                           "no egress rule lets the control plane reach the kubelets on TCP 10250 (logs, exec, metrics fail)",
                           "allow outbound TCP 10250 (or all traffic) to the node security group in the eks module "
                           "and re-run terraform_apply"))
    return out


def eks_access_input_errors(variables):
    """The eks_access role's input rules over its variables dict (absent ones are not checked); pure."""
    import json

    if not isinstance(variables, dict):
        return ["eks_access settings must be a dict, got %s" % type(variables).__name__]
    errors = []
    if "eks_access_cluster_name" in variables and not str(variables["eks_access_cluster_name"] or ""):
        errors.append("eks_access_cluster_name=%s (must not be empty; set it or run terraform_apply first)"
                      % json.dumps(variables["eks_access_cluster_name"]))
    if "eks_access_token_min_remaining" in variables:
        value = variables["eks_access_token_min_remaining"]
        try:
            ok = not isinstance(value, bool) and 0 <= int(value) <= 840
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append("eks_access_token_min_remaining=%s (0-840: tokens live 900 s)" % value)
    override = str(variables.get("eks_access_endpoint_override", "") or "")
    if override and not re.match(r"^https?://", override):
        errors.append("eks_access_endpoint_override=%s (empty or an http(s) URL)" % json.dumps(override))
    mode = variables.get("eks_access_ca_mode", "cluster")
    if mode != "cluster" and "eks_access_endpoint_override" in variables and not override:
        errors.append("eks_access_ca_mode=%s (insecure/none only together with an endpoint override)" % mode)
    return errors
