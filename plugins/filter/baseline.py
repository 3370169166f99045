# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# Apache License 2.0
"""Filters of the cluster baseline; the logic lives in module_utils/netpol.py."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils import netpol

DOCUMENTATION = """
name: baseline_problems
short_description: Every reason the cluster baseline's inputs cannot be applied
description:
  - Checks the domain and each ingress hostname, each namespace quota against its workloads' requests,
    the node-group bounds and the namespaces the flows name. Returns a list of messages, each naming the value.
"""


def baseline_problems(namespaces, domain, ingresses, node_groups):
    if not isinstance(namespaces, list) or not isinstance(ingresses, list) or not isinstance(node_groups, list):
        raise AnsibleFilterError("baseline_problems: namespaces, ingresses and node_groups must be lists")
    problems = []
    try:
        netpol.check_hostname(domain)
    except netpol.BaselineError as exc:
        problems.append(f"cluster_baseline_domain: {exc}")
    for ing in ingresses:
        host = f"{ing.get('name')}.{domain}"
        try:
            netpol.check_hostname(host)
        except netpol.BaselineError as exc:
            problems.append(f"cluster_baseline_ingresses[{ing.get('name')}]: {exc}")
    for ns in namespaces:
        name = ns.get("name", "?")
        try:
            for short in netpol.quota_shortfalls(ns.get("quota") or {}, ns.get("workload_requests") or {}):
                problems.append(f"cluster_baseline_namespaces[{name}]: {short}")
        except netpol.BaselineError as exc:
            problems.append(f"cluster_baseline_namespaces[{name}]: {exc}")
    for group in node_groups:
        lo, hi = group.get("min_size", 0), group.get("max_size", 0)
        if int(lo) > int(hi) or int(lo) < 0:
            problems.append(f"cluster_baseline_node_groups[{group.get('name')}]: min_size {lo} > max_size {hi}"
                            if int(lo) > int(hi) else f"cluster_baseline_node_groups[{group.get('name')}]: negative min_size {lo}")
    return problems


class FilterModule:
    def filters(self):
        return {"baseline_problems": baseline_problems}
