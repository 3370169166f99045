# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind playbooks/health_check.yml; the logic lives in module_utils/diagnostics.py."""
from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils import diagnostics

DOCUMENTATION = """
name: eks_findings
short_description: Troubleshooting findings from gathered platform data
description:
  - C(eks_findings), C(monitoring_findings), C(argocd_findings) and C(backup_findings) turn what the
    info modules returned into findings that name the cause and the fix; C(findings_summary) counts them.
"""


def _wrap(name, func, *list_args):
    def run(*args, **kwargs):
        for index in list_args:
            if index < len(args) and args[index] is not None and not isinstance(args[index], (list, tuple)):
                raise AnsibleFilterError(f"{name}: argument {index + 1} must be a list, got {type(args[index]).__name__}")
        try:
            return func(*args, **kwargs)
        except (AttributeError, KeyError, TypeError) as exc:
            raise AnsibleFilterError(f"{name}: malformed input: {exc}") from exc
    return run


def _eks(nodegroups, node_role_policies, cluster=None):
    if not isinstance(node_role_policies, dict):
        raise AnsibleFilterError("eks_findings: node_role_policies must be a mapping of role -> attached policies")
    return diagnostics.eks_findings(nodegroups, node_role_policies, cluster)


class FilterModule:
    def filters(self):
        return {
            "eks_findings": _wrap("eks_findings", _eks, 0),
            "monitoring_findings": _wrap("monitoring_findings", diagnostics.monitoring_findings, 0, 1, 2),
            "argocd_findings": _wrap("argocd_findings", diagnostics.argocd_findings, 0, 1, 2),
            "backup_findings": _wrap("backup_findings", diagnostics.backup_findings, 0, 1),
            "findings_summary": _wrap("findings_summary", diagnostics.summarize, 0),
        }
