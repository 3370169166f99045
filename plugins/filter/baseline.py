# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
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
---
name: autoscaler_image_tag
short_description: The cluster-autoscaler image tag of the cluster's Kubernetes minor
description:
  - Maps C(cluster_version) (C(1.31)) to the pinned cluster-autoscaler release of that minor (C(v1.31.1)).
"""


def autoscaler_image_tag(cluster_version):
    try:
        return netpol.autoscaler_image_tag(cluster_version)
    except netpol.BaselineError as exc:
        raise AnsibleFilterError(f"autoscaler_image_tag: {exc}") from None


def baseline_problems(namespaces, domain, ingresses, node_groups):
    if not isinstance(namespaces, list) or not isinstance(ingresses, list) or not isinstance(node_groups, list):
        raise AnsibleFilterError("baseline_problems: namespaces, ingresses and node_groups must be lists")
    return netpol.baseline_problems(namespaces, domain, ingresses, node_groups)


class FilterModule:
    def filters(self):
        return {"baseline_problems": baseline_problems, "autoscaler_image_tag": autoscaler_image_tag}
