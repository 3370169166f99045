# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of playbooks/dr_failover.yml; the logic lives in module_utils/backup.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: dr
short_description: Filters for disaster recovery (age of a recovery point against the RPO)
version_added: "0.1.0"
description:
  - C(dr_recovery_point) takes the newest restorable time (an RDS snapshot's creation time, a latest restorable
    time) and returns its age in minutes and whether it is within the RPO.
  - Raises an error naming the filter on a time that is not ISO 8601 or a non-positive RPO.
author:
  - cxr.mlops platform engineers
options: {}
"""

EXAMPLES = r"""
- name: Refuse a recovery point older than one hour
  ansible.builtin.assert:
    that: (snapshot.snapshot_create_time | cxr.mlops.dr_recovery_point(60)).within_rpo
"""

RETURN = r"""
_value:
  description: C(recovery_point) (UTC, ISO 8601), C(age_minutes), C(rpo_minutes), C(within_rpo).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils.backup import BackupComplianceError, recovery_point


def dr_recovery_point(restorable_time, rpo_minutes, now=None):
    try:
        return recovery_point(restorable_time, rpo_minutes, now)
    except BackupComplianceError as exc:
        raise AnsibleFilterError("dr_recovery_point: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"dr_recovery_point": dr_recovery_point}
