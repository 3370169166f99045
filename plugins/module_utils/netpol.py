# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small NetworkPolicy evaluator and the value checks of the cluster baseline (pure functions).

``allowed_flows`` answers, for a set of workloads and the NetworkPolicies that exist, which
(source, destination, port) flows Kubernetes admits, with the semantics of networking.k8s.io/v1:

* a pod is isolated for ingress (egress) when any policy in its namespace selects it and lists
  ``Ingress`` (``Egress``) in ``policyTypes`` (or, for ingress, has no ``policyTypes`` at all);
* a non-isolated direction allows everything;
* an isolated direction allows a peer when any selecting policy has a rule whose peers match it
  (``podSelector`` in the policy's namespace, ``namespaceSelector``, both together meaning AND)
  and whose ports match (no ports = all ports);
* a flow happens when the source's egress and the destination's ingress both allow it.

``ipBlock`` peers are not evaluated (workloads here are pods); that is the one simplification.
"""
from __future__ import annotations

import re

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_FACTORS = {None: 1, "m": 0.001, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
            "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class BaselineError(ValueError):
    """Bad input; the message names the value."""


def parse_quantity(value) -> float:
    """A Kubernetes quantity ('500m', '2', '4Gi') as a float (cores or bytes)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _QUANTITY.match(str(value).strip())
    if not m:
        raise BaselineError(f"'{value}' is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)")
    return float(m.group(1)) * _FACTORS[m.group(2)]


def check_hostname(name: str) -> str:
    """A DNS name of labels of 1-63 [a-z0-9-] characters, 253 at most, at least two labels."""
    text = str(name or "")
    if len(text) > 253 or "." not in text or not all(_LABEL.match(label) for label in text.split(".")):
        raise BaselineError(f"'{name}' is not a valid DNS hostname or domain")
    return text


def quota_shortfalls(quota: dict, requests: dict) -> list:
    """Quota entries lower than what the namespace's workloads request: ["requests.cpu 1 < 2.5", ...]."""
    out = []
    for key, needed in (requests or {}).items():
        if key not in (quota or {}):
            continue
        if parse_quantity(quota[key]) < parse_quantity(needed):
            out.append(f"{key} quota {quota[key]} is below the workloads' {needed}")
    return out


def selector_matches(selector, labels) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels; None matches nothing."""
    if selector is None:
        return False
    labels = labels or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def _types(policy) -> set:
    spec = policy.get("spec", {})
    types = spec.get("policyTypes")
    if types:
        return set(types)
    return {"Ingress"} | ({"Egress"} if "egress" in spec else set())


def _peer_matches(peer, policy_ns, other, namespaces) -> bool:
    if "ipBlock" in peer:
        return False
    ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
    if ns_sel is not None:
        ns_ok = selector_matches(ns_sel, namespaces.get(other["namespace"], {}))
    else:
        ns_ok = other["namespace"] == policy_ns
    pod_ok = True if pod_sel is None else selector_matches(pod_sel, other.get("labels"))
    return ns_ok and pod_ok


def _port_matches(ports, port, protocol) -> bool:
    if not ports:
        return True
    for p in ports:
        if p.get("protocol", "TCP") != protocol:
            continue
        if "port" not in p or p["port"] == port or (isinstance(p["port"], int) and p["port"] <= port <= p.get("endPort", p["port"])):
            return True
    return False


def _allowed(direction, pod, other, port, protocol, policies, namespaces) -> bool:
    kind, key, peers_key = ("Ingress", "ingress", "from") if direction == "ingress" else ("Egress", "egress", "to")
    selecting = [p for p in policies
                 if p.get("metadata", {}).get("namespace") == pod["namespace"]
                 and selector_matches(p.get("spec", {}).get("podSelector") or {}, pod.get("labels"))
                 and kind in _types(p)]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy.get("spec", {}).get(key) or []:
            peers = rule.get(peers_key)
            peer_ok = not peers or any(_peer_matches(peer, pod["namespace"], other, namespaces) for peer in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return False


def flow_allowed(src, dst, port, policies, namespaces, protocol="TCP") -> bool:
    return (_allowed("egress", src, dst, port, protocol, policies, namespaces)
            and _allowed("ingress", dst, src, port, protocol, policies, namespaces))


def allowed_flows(workloads, policies, namespaces, ports_of=None) -> set:
    """Every (src, dst, port/protocol) the policies admit between the workloads.

    workloads: [{"name", "namespace", "labels", "ports": [[port, protocol], ...]}]; names are
    ``namespace/name``. namespaces: {namespace: labels}.
    """
    out = set()
    for src in workloads:
        for dst in workloads:
            if src is dst:
                continue
            for port, protocol in (ports_of(dst) if ports_of else dst.get("ports") or []):
                if flow_allowed(src, dst, port, policies, namespaces, protocol):
                    out.add((f"{src['namespace']}/{src['name']}", f"{dst['namespace']}/{dst['name']}", f"{port}/{protocol}"))
    return out


# Cluster Autoscaler supports only the Kubernetes minor it was built for: its image minor must be the
# cluster's. One patch release per minor, pinned (registry.k8s.io/autoscaling/cluster-autoscaler).
# The chart cluster-autoscaler 9.46.6 defaults to v1.32.0, wrong for any other cluster version.
AUTOSCALER_TAGS = {"1.30": "v1.30.3", "1.31": "v1.31.1", "1.32": "v1.32.0"}
_MINOR = re.compile(r"^v?(\d+)\.(\d+)(?:\.\d+)?$")


def autoscaler_image_tag(cluster_version) -> str:
    """The cluster-autoscaler image tag whose minor is the cluster's (``"1.31"`` -> ``"v1.31.1"``)."""
    match = _MINOR.match(str(cluster_version).strip())
    if not match:
        raise BaselineError(f"cluster version {cluster_version!r} is not MAJOR.MINOR")
    minor = f"{match.group(1)}.{match.group(2)}"
    if minor not in AUTOSCALER_TAGS:
        raise BaselineError(f"no cluster-autoscaler release pinned for Kubernetes {minor} "
                            f"(pinned: {', '.join(sorted(AUTOSCALER_TAGS))}); add it to AUTOSCALER_TAGS")
    return AUTOSCALER_TAGS[minor]


def baseline_problems(namespaces, domain, ingresses, node_groups):
    """Every reason the baseline's domain, ingresses, namespace quotas and node groups cannot be applied."""
    problems = []
    try:
        check_hostname(domain)
    except BaselineError as exc:
        problems.append(f"cluster_baseline_domain: {exc}")
    for ing in ingresses:
        host = f"{ing.get('name')}.{domain}"
        try:
            check_hostname(host)
        except BaselineError as exc:
            problems.append(f"cluster_baseline_ingresses[{ing.get('name')}]: {exc}")
    for ns in namespaces:
        name = ns.get("name", "?")
        try:
            for short in quota_shortfalls(ns.get("quota") or {}, ns.get("workload_requests") or {}):
                problems.append(f"cluster_baseline_namespaces[{name}]: {short}")
        except BaselineError as exc:
            problems.append(f"cluster_baseline_namespaces[{name}]: {exc}")
    for group in node_groups:
        lo, hi = group.get("min_size", 0), group.get("max_size", 0)
        if int(lo) > int(hi) or int(lo) < 0:
            problems.append(f"cluster_baseline_node_groups[{group.get('name')}]: min_size {lo} > max_size {hi}"
                            if int(lo) > int(hi) else f"cluster_baseline_node_groups[{group.get('name')}]: negative min_size {lo}")
    return problems


def cluster_baseline_input_errors(variables):
    """The role's input rules over its variables dict (absent ones are not checked); pure."""
    if not isinstance(variables, dict):
        return ["cluster_baseline settings must be a dict, got %s" % type(variables).__name__]
    errors = []
    if "cluster_baseline_kubeconfig" in variables and not str(variables["cluster_baseline_kubeconfig"] or ""):
        errors.append("cluster_baseline_kubeconfig is empty. Name the target cluster's kubeconfig explicitly; an empty "
                      "value would fall back to ~/.kube/config or $KUBECONFIG, possibly another cluster")
    lists = {}
    for key in ("namespaces", "ingresses", "node_groups"):
        value = variables.get("cluster_baseline_" + key, [])
        if not isinstance(value, list):
            errors.append("cluster_baseline_%s must be a list, got %s" % (key, type(value).__name__))
            value = []
        lists[key] = [item for item in value if isinstance(item, dict)]
    if "cluster_baseline_domain" in variables:
        errors += baseline_problems(lists["namespaces"], variables["cluster_baseline_domain"], lists["ingresses"],
                                    lists["node_groups"])
    else:
        errors += baseline_problems(lists["namespaces"], "example.com", [], lists["node_groups"])
    return errors
