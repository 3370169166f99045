#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: terraform_plan_guard
short_description: Refuse a saved Terraform plan that deletes or replaces protected resources
version_added: "0.1.0"
description:
  - Renders a saved plan file with C(terraform show -json), writes the JSON beside it (mode 0600, as
    plans can hold secrets) and summarises it (adds, changes, destroys, with addresses).
  - Fails, naming every offending address and action, when the plan would delete or replace a
    resource of a protected type (RDS, S3 buckets, KMS keys, ...) that the operator did not allow.
  - With O(expected_checksum), first checks that the plan file is the one that was approved
    (SHA-256), so a plan stashed by one job and applied by another after an approval cannot be
    swapped in between.
  - With O(check_state), then refuses a plan made against another Terraform state than the current one
    (C(terraform state pull)). The plan records the state serial and lineage it was made against, and a
    plan approved before another run wrote the state must be made and approved again.
  - Only addresses and actions are returned, never attribute values, so the result is safe to log.
    The plan JSON itself never enters Ansible variables.
  - The diff (C(--diff)) is the plan summary. The module reports C(changed) when the plan has
    changes (what an apply of it would change); it changes nothing itself.
author:
  - cxr.mlops platform engineers
options:
  plan_file:
    description: Saved plan (C(terraform plan -out)).
    type: path
    required: true
  project_dir:
    description: Terraform root the plan was made in (C(terraform -chdir)).
    type: path
    required: true
  binary:
    description: Terraform executable.
    type: str
    default: terraform
  plan_json_path:
    description: Where to write the plan JSON. Default is O(plan_file) with C(.json) appended.
    type: path
  checksum_path:
    description: When set, the SHA-256 of O(plan_file) is written there (the record an approval refers to).
    type: path
  expected_checksum:
    description: SHA-256 the plan file must have (the approved plan). Empty skips the check.
    type: str
    default: ""
  check_state:
    description:
      - Compare the state the plan was made against (serial and lineage, recorded in the plan file) with the
        current state (C(terraform state pull), never returned or logged) and fail when they differ.
      - Needs an initialised working directory (the same C(TF_DATA_DIR) and backend as the apply).
    type: bool
    default: false
  protected_types:
    description: Resource types (or shell patterns such as C(aws_rds_*)) that must not be deleted or replaced.
    type: list
    elements: str
    default: [aws_db_instance, aws_rds_cluster, aws_rds_cluster_instance, aws_s3_bucket, aws_kms_key,
              aws_elasticache_replication_group, aws_elasticache_cluster, aws_ecr_repository, aws_eks_cluster,
              aws_dynamodb_table]
  allow_destroy:
    description: Allow every delete and replace.
    type: bool
    default: false
  allowed_destroy_addresses:
    description: Exact resource addresses whose delete or replace is allowed.
    type: list
    elements: str
    default: []
  hint:
    description: Text appended to the refusal (e.g. which variables allow the destroy).
    type: str
    default: ""
  timeout:
    description: Seconds C(terraform show) may take.
    type: int
    default: 300
notes:
  - Supports check mode (it only reads the plan); the JSON and checksum files are the plan's own record and are
    written in check mode too.
seealso:
  - module: community.general.terraform
"""

EXAMPLES = r"""
- name: Guard the saved plan
  cxr.mlops.terraform_plan_guard:
    plan_file: /srv/artifacts/cxr.tfplan
    project_dir: infrastructure/terraform
    allowed_destroy_addresses:
      - module.storage.aws_s3_bucket.scratch
  register: guard

- name: Apply only the plan that was approved
  cxr.mlops.terraform_plan_guard:
    plan_file: /srv/artifacts/cxr.tfplan
    project_dir: infrastructure/terraform
    expected_checksum: "{{ approved_plan_checksum }}"
    check_state: true
"""

RETURN = r"""
summary:
  description: Counts and addresses by action (replace, delete, create, update, read, forget).
  returned: always
  type: dict
  sample: {"add": 1, "change": 0, "destroy": 1, "replace": 1, "forget": 0, "has_changes": true,
           "resources": {"replace": ["aws_db_instance.main"]}, "outputs_changed": []}
summary_text:
  description: The summary as text (also the diff).
  returned: always
  type: str
violations:
  description: Refused changes (C(address), C(type), C(action), C(reason)); empty when the plan passes.
  returned: always
  type: list
  elements: dict
checksum:
  description: SHA-256 of the plan file.
  returned: always
  type: str
plan_json_path:
  description: Where the plan JSON was written.
  returned: always
  type: str
prior_state:
  description: The state the plan was made against (C(serial), C(lineage); serial 0 and no lineage for no state).
  returned: always
  type: dict
  sample: {"serial": 12, "lineage": "165f0044-89fa-ab74-95c6-6a9f87abd456"}
"""

import os
import subprocess

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.cxr.mlops.plugins.module_utils.terraform_plan import (
    DEFAULT_PROTECTED_TYPES,
    TerraformPlanError,
    file_sha256,
    guard,
    guard_message,
    load_plan,
    plan_prior_state,
    stale_plan_message,
    state_identity,
    summarize,
    summary_text,
    unknown_allowed_addresses,
)


def _write_private(path, data):
    """Write ``data`` to ``path`` readable by the owner only (no window with wider permissions)."""
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _current_state(module, p):
    """Serial and lineage of the current state (terraform state pull; the state itself stays in this process)."""
    argv = [p["binary"], "-chdir=%s" % p["project_dir"], "state", "pull"]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=p["timeout"], check=False)
    except subprocess.TimeoutExpired:
        module.fail_json(msg="terraform state pull did not finish within %d s" % p["timeout"])
    except OSError as exc:
        module.fail_json(msg="cannot run %s: %s" % (p["binary"], exc))
    if proc.returncode != 0:
        module.fail_json(msg="terraform state pull failed (rc=%d): %s"
                             % (proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))
    try:
        return state_identity(proc.stdout)
    except TerraformPlanError as exc:
        module.fail_json(msg="plan guard: %s" % exc)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            plan_file=dict(type="path", required=True),
            project_dir=dict(type="path", required=True),
            binary=dict(type="str", default="terraform"),
            plan_json_path=dict(type="path"),
            checksum_path=dict(type="path"),
            expected_checksum=dict(type="str", default=""),
            check_state=dict(type="bool", default=False),
            protected_types=dict(type="list", elements="str", default=list(DEFAULT_PROTECTED_TYPES)),
            allow_destroy=dict(type="bool", default=False),
            allowed_destroy_addresses=dict(type="list", elements="str", default=[]),
            hint=dict(type="str", default=""),
            timeout=dict(type="int", default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params
    plan_file = p["plan_file"]
    if not os.path.isfile(plan_file):
        module.fail_json(msg="No saved plan at %s: run the plan step (terraform_apply_mode=plan) first." % plan_file)
    checksum = file_sha256(plan_file)
    expected = (p["expected_checksum"] or "").strip().lower()
    if expected and expected != checksum:
        module.fail_json(msg="The plan file %s (sha256 %s) is not the plan that was approved (sha256 %s); nothing was "
                             "applied. Run the plan step again and approve the new plan." % (plan_file, checksum, expected),
                         checksum=checksum)
    try:
        prior_state = plan_prior_state(plan_file)
    except TerraformPlanError as exc:
        module.fail_json(msg="plan guard: %s" % exc, checksum=checksum)
    if p["check_state"]:
        current = _current_state(module, p)
        stale = stale_plan_message(prior_state, current)
        if stale:
            module.fail_json(msg="The plan %s (sha256 %s) cannot be applied: %s; nothing was applied. Run the plan step "
                                 "again and approve the new plan." % (plan_file, checksum, stale),
                             checksum=checksum, prior_state=prior_state, current_state=current)

    argv = [p["binary"], "-chdir=%s" % p["project_dir"], "show", "-json", "-no-color", plan_file]
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=p["timeout"], check=False)
    except subprocess.TimeoutExpired:
        module.fail_json(msg="terraform show -json %s did not finish within %d s" % (plan_file, p["timeout"]))
    except OSError as exc:
        module.fail_json(msg="cannot run %s: %s" % (p["binary"], exc))
    if proc.returncode != 0:
        module.fail_json(msg="terraform show -json %s failed (rc=%d): %s"
                             % (plan_file, proc.returncode, proc.stderr.decode("utf-8", "replace").strip()))

    json_path = p["plan_json_path"] or plan_file + ".json"
    _write_private(json_path, proc.stdout)
    if p["checksum_path"]:
        _write_private(p["checksum_path"], ("%s  %s\n" % (checksum, os.path.basename(plan_file))).encode("utf-8"))

    try:
        plan = load_plan(proc.stdout.decode("utf-8"))
        summary = summarize(plan)
        violations = guard(plan, p["protected_types"], p["allow_destroy"], p["allowed_destroy_addresses"])
        unknown = [] if p["allow_destroy"] else unknown_allowed_addresses(plan, p["allowed_destroy_addresses"])
    except TerraformPlanError as exc:
        module.fail_json(msg="plan guard: %s" % exc)
    text = summary_text(summary)
    for address in unknown:
        module.warn("allowed_destroy_addresses lists %s, which this plan does not delete or replace" % address)
    result = dict(changed=summary["has_changes"], summary=summary, summary_text=text, violations=violations,
                  checksum=checksum, plan_json_path=json_path, prior_state=prior_state, diff=dict(prepared=text))
    if violations:
        result.pop("diff")
        module.fail_json(msg=guard_message(violations, p["hint"]), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
