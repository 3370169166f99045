# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small filters of the terraform_apply role; the logic lives in module_utils/terraform_plan.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: terraform
short_description: Filters for Terraform outputs, failures and input checks
version_added: "0.1.0"
description:
  - C(terraform_outputs) turns C(terraform output -json) into a flat C(name -> value) dict.
  - C(terraform_sensitive_outputs) lists the names of the sensitive outputs.
  - C(terraform_failure) turns a registered failed terraform command into one clear message
    (a held state lock names its ID and holder).
  - C(terraform_input_errors) lists region, CIDR and min/desired/max errors of a variables dict.
  - Each filter raises an error naming itself on bad input.
author:
  - cxr.mlops platform engineers
options: {}
"""

EXAMPLES = r"""
- name: Export the outputs
  ansible.builtin.set_fact:
    tf_outputs: "{{ output_cmd.stdout | cxr.mlops.terraform_outputs }}"
  no_log: true

- name: Refuse bad input
  ansible.builtin.assert:
    that: errors | length == 0
    fail_msg: "{{ errors | join('; ') }}"
  vars:
    errors: "{{ {'vpc_cidr': '10.0.0.0/33'} | cxr.mlops.terraform_input_errors(cidr_keys=['vpc_cidr']) }}"
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.module_utils.terraform_plan import (
    TerraformPlanError,
    failure_message,
    flatten_outputs,
    validate_inputs,
)


def terraform_outputs(outputs):
    try:
        return flatten_outputs(outputs)[0]
    except TerraformPlanError as exc:
        raise AnsibleFilterError("terraform_outputs: %s" % exc)


def terraform_sensitive_outputs(outputs):
    try:
        return flatten_outputs(outputs)[1]
    except TerraformPlanError as exc:
        raise AnsibleFilterError("terraform_sensitive_outputs: %s" % exc)


def terraform_failure(result, step, timeout=None):
    if not isinstance(result, dict):
        raise AnsibleFilterError("terraform_failure: expects a registered command result, got %s" % type(result).__name__)
    return failure_message(step, result.get("rc"), result.get("stdout", ""), result.get("stderr", ""), timeout)


def terraform_input_errors(variables, region_keys=(), allowed_regions=(), cidr_keys=(), size_bounds=(), prefix=""):
    for name, value in (("region_keys", region_keys), ("allowed_regions", allowed_regions),
                        ("cidr_keys", cidr_keys), ("size_bounds", size_bounds)):
        if not isinstance(value, (list, tuple)):
            raise AnsibleFilterError("terraform_input_errors: %s must be a list, got %s" % (name, type(value).__name__))
    return validate_inputs(variables, region_keys, allowed_regions, cidr_keys, size_bounds, prefix)


class FilterModule(object):
    def filters(self):
        return {
            "terraform_outputs": terraform_outputs,
            "terraform_sensitive_outputs": terraform_sensitive_outputs,
            "terraform_failure": terraform_failure,
            "terraform_input_errors": terraform_input_errors,
        }
