# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one input check of every role; the rules live in module_utils (role_inputs.py and each role's file)."""
from __future__ import annotations

import os

import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils import role_inputs
from ansible_collections.cxr.mlops.plugins.module_utils.terraform_plan import TerraformPlanError, declared_variables

DOCUMENTATION = r"""
---
name: role_input_errors
short_description: Every problem of one role's inputs (unknown names, ranges, cross-field rules)
version_added: "0.1.0"
description:
  - Takes the role's variables (a dict C(name -> value)) and returns a list of messages, empty when all hold.
  - Names that carry the role's prefix but are not in its C(meta/argument_specs.yml) are refused with the closest
    known name; keys of C(terraform_apply_variables) that the Terraform root (C(terraform_apply_project_dir)) does
    not declare likewise (its C(*.tf) files are read with python-hcl2).
  - Plain role defaults (without Jinja) are merged under the given variables, so cross-field rules see both sides.
  - The value of a secret (no_log in the argument specs, or a name with password, token or secret) is never shown.
  - Raises an error naming the filter on a role it does not know or variables that are not a dict.
author:
  - cxr.mlops platform engineers
options:
  _input:
    description: The role's variables.
    type: dict
    required: true
  role:
    description: The role's name, e.g. C(cluster_baseline).
    type: str
    required: true
"""

EXAMPLES = r"""
- name: Refuse bad input
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join('; ') }}"
  vars:
    errors: "{{ {'cluster_baseline_domain': 'Bad_Host..example'} | cxr.mlops.role_input_errors('cluster_baseline') }}"
"""

RETURN = r"""
_value:
  description: One message per problem, each naming the variable and the rule.
  type: list
  elements: str
"""

ROLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "roles")


def _templated(value):
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_templated(v) for v in value)
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _load(path):
    with open(path) as handle:
        return yaml.safe_load(handle) or {}


def role_input_errors(variables, role):
    if role not in role_inputs.ROLES:
        raise AnsibleFilterError("role_input_errors: unknown role %r (known: %s)" % (role, ", ".join(role_inputs.ROLES)))
    if not isinstance(variables, dict):
        raise AnsibleFilterError("role_input_errors: expects the role's variables as a dict, got %s" % type(variables).__name__)
    role_dir = os.path.join(ROLES_DIR, role)
    try:
        options = _load(os.path.join(role_dir, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]
        defaults = _load(os.path.join(role_dir, "defaults", "main.yml"))
    except (OSError, KeyError, TypeError, yaml.YAMLError) as exc:
        raise AnsibleFilterError("role_input_errors: cannot read the argument specs or defaults of %s: %s" % (role, exc))
    plain = dict((k, v) for k, v in defaults.items() if not _templated(v))
    no_log = [name for name, spec in options.items() if isinstance(spec, dict) and spec.get("no_log")]
    declared = None
    root = variables.get("terraform_apply_project_dir") if role == "terraform_apply" else None
    if isinstance(root, str) and os.path.isdir(root):
        try:
            declared = declared_variables(root)
        except TerraformPlanError as exc:
            raise AnsibleFilterError("role_input_errors: %s" % exc)
    try:
        return role_inputs.role_input_errors(role, dict(variables), options=list(options), defaults=plain,
                                             no_log_names=no_log, declared_terraform=declared)
    except ValueError as exc:
        raise AnsibleFilterError("role_input_errors: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"role_input_errors": role_input_errors}
