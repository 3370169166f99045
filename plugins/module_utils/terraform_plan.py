# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Terraform plan JSON, the plan guard and the other pure logic of the terraform_apply role.

* :func:`load_plan` reads the output of ``terraform show -json PLANFILE``.
* :func:`plan_changes` / :func:`summarize` turn ``resource_changes`` into one action per address
  (``create``, ``update``, ``delete``, ``replace``, ``read``, ``forget``, ``no-op``) and the
  adds/changes/destroys counts Terraform itself prints.
* :func:`guard` lists the deletes and replaces of protected resource types that the operator did
  not allow; :func:`guard_message` explains them, naming every address and action.
* :func:`flatten_outputs` turns ``terraform output -json`` into a flat ``name -> value`` dict and
  the list of sensitive output names.
* :func:`parse_lock_error` / :func:`failure_message` turn a failed terraform call into one clear
  sentence (a held state lock names its ID and holder and is never broken).
* :func:`validate_inputs` checks regions, CIDRs and min/desired/max bounds of a variables dict
  before Terraform runs.
* :func:`plan_prior_state` reads the state (serial, lineage) a saved plan was made against;
  :func:`state_identity` the same of ``terraform state pull``; :func:`stale_plan_message` says why
  a plan made against another state must not be applied.

Pure functions only (no network); :func:`load_plan`, :func:`file_sha256` and
:func:`plan_prior_state` read files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import hashlib
import ipaddress
import json
import re
import zipfile

# Resource types whose delete or replace loses data or breaks everything built on them.
DEFAULT_PROTECTED_TYPES = (
    "aws_db_instance",
    "aws_rds_cluster",
    "aws_rds_cluster_instance",
    "aws_s3_bucket",
    "aws_kms_key",
    "aws_elasticache_replication_group",
    "aws_elasticache_cluster",
    "aws_ecr_repository",
    "aws_eks_cluster",
    "aws_dynamodb_table",
)

# Order in which actions are listed in summaries.
ACTION_ORDER = ("replace", "delete", "create", "update", "read", "forget", "no-op")


class TerraformPlanError(ValueError):
    """The plan, outputs or inputs cannot be used; the message says why and what to do."""


# -- plan JSON ------------------------------------------------------------------------------------

def load_plan(source, what="plan"):
    """A parsed ``terraform show -json`` plan, from a path, a JSON string or a dict."""
    if isinstance(source, dict):
        plan, name = source, "<dict>"
    elif isinstance(source, str):
        text, name = source, "<string>"
        if not source.lstrip().startswith("{"):
            name = source
            try:
                with open(source, "r") as handle:
                    text = handle.read()
            except (IOError, OSError) as exc:
                raise TerraformPlanError("%s %s cannot be read: %s" % (what, source, exc))
        try:
            plan = json.loads(text)
        except ValueError as exc:
            raise TerraformPlanError("%s %s is not JSON (%s): pass the output of `terraform show -json PLANFILE`"
                                     % (what, name, exc))
    else:
        raise TerraformPlanError("%s must be a path, a JSON string or a dict, got %s" % (what, type(source).__name__))
    if not isinstance(plan, dict) or "format_version" not in plan:
        raise TerraformPlanError("%s %s is not Terraform plan JSON (no format_version): pass the output of "
                                 "`terraform show -json PLANFILE`" % (what, name))
    if "resource_changes" not in plan and "planned_values" not in plan:
        if "values" in plan:
            raise TerraformPlanError("%s %s is Terraform state JSON, not a plan" % (what, name))
        raise TerraformPlanError("%s %s is not Terraform plan JSON (no resource_changes)" % (what, name))
    if not isinstance(plan.get("resource_changes", []), list):
        raise TerraformPlanError("%s %s: resource_changes must be a list" % (what, name))
    return plan


def action_of(actions):
    """One word for Terraform's ``change.actions`` list."""
    actions = list(actions or [])
    if sorted(actions) == ["create", "delete"]:
        return "replace"  # ["delete", "create"] or create_before_destroy's ["create", "delete"]
    if len(actions) == 1 and actions[0] in ("create", "update", "delete", "read", "forget", "no-op"):
        return actions[0]
    if not actions:
        return "no-op"
    raise TerraformPlanError("unknown Terraform change actions %r" % (actions,))


def plan_changes(plan):
    """Every managed resource change of the plan: ``[{address, type, action, reason}]``, plan order."""
    out = []
    for rc in plan.get("resource_changes") or []:
        if not isinstance(rc, dict) or "address" not in rc or "type" not in rc:
            raise TerraformPlanError("plan: resource_changes entry without address/type: %r" % (rc,))
        if rc.get("mode", "managed") != "managed":
            continue
        address = rc["address"]
        if rc.get("deposed"):
            address = "%s (deposed object %s)" % (address, rc["deposed"])
        out.append({
            "address": address,
            "type": rc["type"],
            "action": action_of((rc.get("change") or {}).get("actions")),
            "reason": rc.get("action_reason", ""),
        })
    return out


def summarize(plan):
    """Counts the way ``terraform plan`` prints them, plus the addresses of every action."""
    changes = plan_changes(plan)
    by_action = {}
    for change in changes:
        by_action.setdefault(change["action"], []).append(change["address"])
    add = len(by_action.get("create", [])) + len(by_action.get("replace", []))
    destroy = len(by_action.get("delete", [])) + len(by_action.get("replace", []))
    change_count = len(by_action.get("update", []))
    outputs_changed = sorted(name for name, oc in (plan.get("output_changes") or {}).items()
                             if action_of((oc or {}).get("actions")) != "no-op")
    return {
        "add": add,
        "change": change_count,
        "destroy": destroy,
        "replace": len(by_action.get("replace", [])),
        "forget": len(by_action.get("forget", [])),
        "has_changes": bool(add or destroy or change_count or by_action.get("forget") or outputs_changed),
        "resources": dict((action, by_action[action]) for action in ACTION_ORDER
                          if action in by_action and action != "no-op"),
        "outputs_changed": outputs_changed,
    }


def summary_text(summary):
    """Human-readable plan summary (addresses and actions only: never values)."""
    lines = ["Plan: %d to add, %d to change, %d to destroy (%d replaced)."
             % (summary["add"], summary["change"], summary["destroy"], summary["replace"])]
    symbols = {"replace": "-/+", "delete": "  -", "create": "  +", "update": "  ~", "read": " <=", "forget": "  ."}
    for action in ACTION_ORDER:
        for address in summary["resources"].get(action, []):
            lines.append("%s %s %s" % (symbols[action], action, address))
    if summary.get("outputs_changed"):
        lines.append("Outputs changed: %s" % ", ".join(summary["outputs_changed"]))
    return "\n".join(lines) + "\n"


# -- the guard ------------------------------------------------------------------------------------

def _is_protected(rtype, protected_types):
    return any(fnmatch.fnmatchcase(rtype, pattern) for pattern in protected_types)


def guard(plan, protected_types=DEFAULT_PROTECTED_TYPES, allow_destroy=False, allowed_addresses=()):
    """Deletes and replaces of protected types that are not allowed: ``[{address, type, action, reason}]``.

    ``protected_types`` holds resource types or shell patterns (``aws_rds_*``). ``allow_destroy``
    allows every destroy; ``allowed_addresses`` allows exactly those resource addresses.
    """
    if allow_destroy:
        return []
    allowed = set(allowed_addresses or ())
    violations = []
    for change in plan_changes(plan):
        if change["action"] not in ("delete", "replace"):
            continue
        if not _is_protected(change["type"], protected_types):
            continue
        if change["address"] in allowed or change["address"].split(" (deposed", 1)[0] in allowed:
            continue
        violations.append(change)
    return violations


def guard_message(violations, hint=""):
    """The refusal: every offending address with its action (and why Terraform plans it)."""
    lines = ["Plan guard: the plan would delete or replace %d protected resource(s); nothing was applied:"
             % len(violations)]
    for v in violations:
        why = ""
        if v.get("reason"):
            why = " [%s]" % v["reason"]
        lines.append("  - %s %s (%s)%s" % (v["action"], v["address"], v["type"], why))
    if hint:
        lines.append(hint)
    return "\n".join(lines)


def unknown_allowed_addresses(plan, allowed_addresses):
    """Allowed addresses that the plan does not delete or replace (probably typos)."""
    destroyed = set(c["address"] for c in plan_changes(plan) if c["action"] in ("delete", "replace"))
    return sorted(set(allowed_addresses or ()) - destroyed)


def file_sha256(path, chunk=1 << 20):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


# -- the state a plan was made against ----------------------------------------------------------

def state_identity(state, what="terraform state pull"):
    """``{'serial': int, 'lineage': str}`` of a state (JSON text or dict); empty text is the empty state."""
    if isinstance(state, (bytes, bytearray)):
        state = state.decode("utf-8", "replace")
    if isinstance(state, str):
        if not state.strip():
            return {"serial": 0, "lineage": ""}
        try:
            state = json.loads(state)
        except ValueError as exc:
            raise TerraformPlanError("%s is not a Terraform state (JSON): %s" % (what, exc))
    if not isinstance(state, dict) or "serial" not in state:
        raise TerraformPlanError("%s is not a Terraform state (no serial)" % what)
    try:
        serial = int(state["serial"])
    except (TypeError, ValueError):
        raise TerraformPlanError("%s has a serial that is not a number: %r" % (what, state["serial"]))
    return {"serial": serial, "lineage": str(state.get("lineage") or "")}


def plan_prior_state(path):
    """The state (serial, lineage) a saved plan file was made against: its ``tfstate`` member.

    ``terraform plan -out`` writes a zip holding the plan, the configuration and the prior state; Terraform
    itself refuses to apply the plan once the state's serial or lineage moved on ("Saved plan is stale").
    """
    try:
        with zipfile.ZipFile(path) as archive:
            data = archive.read("tfstate")
    except (zipfile.BadZipFile, KeyError) as exc:
        raise TerraformPlanError("%s is not a saved Terraform plan (%s)" % (path, exc))
    return state_identity(data, what="the state recorded in %s" % path)


def stale_plan_message(planned, current):
    """Why a plan made against state ``planned`` must not be applied to state ``current``; "" when it may."""
    if planned == current:
        return ""
    if planned["lineage"] != current["lineage"]:
        return ("the Terraform state is not the one the plan was made against (lineage %s, planned against %s)"
                % (current["lineage"] or "none: empty state", planned["lineage"] or "none: empty state"))
    return ("the Terraform state changed since the plan was made (serial %d, planned against serial %d): another run "
            "wrote it" % (current["serial"], planned["serial"]))


# -- outputs --------------------------------------------------------------------------------------

def flatten_outputs(outputs):
    """``terraform output -json`` (dict or JSON text) -> (``{name: value}``, sorted sensitive names)."""
    if isinstance(outputs, str):
        text = outputs.strip() or "{}"
        try:
            outputs = json.loads(text)
        except ValueError as exc:
            raise TerraformPlanError("terraform output -json did not print JSON: %s" % exc)
    if not isinstance(outputs, dict):
        raise TerraformPlanError("terraform output -json must be an object, got %s" % type(outputs).__name__)
    values, sensitive = {}, []
    for name, item in outputs.items():
        if not isinstance(item, dict) or "value" not in item:
            raise TerraformPlanError("terraform output %r has no value (is this `terraform output -json`?)" % name)
        values[name] = item["value"]
        if item.get("sensitive"):
            sensitive.append(name)
    return values, sorted(sensitive)


# -- failures -------------------------------------------------------------------------------------

_LOCK_FIELDS = ("ID", "Path", "Operation", "Who", "Version", "Created", "Info")


def parse_lock_error(text):
    """The ``Lock Info`` of an "Error acquiring the state lock" message, or None."""
    if not text or "Error acquiring the state lock" not in text:
        return None
    info = {}
    block = text.split("Lock Info:", 1)
    if len(block) == 2:
        for line in block[1].splitlines():
            match = re.match(r"^\s+(%s):\s*(.*)$" % "|".join(_LOCK_FIELDS), line)
            if match:
                info[match.group(1).lower()] = match.group(2).strip()
            elif line.strip() and info:
                break
    return info


def _error_block(text):
    """The ``Error: ...`` paragraphs of Terraform's output (what a person needs to read)."""
    lines = (text or "").splitlines()
    out, keep = [], False
    for line in lines:
        if line.startswith("Error:"):
            keep = True
        if keep:
            out.append(line)
    return "\n".join(out).strip() or "\n".join(lines[-15:]).strip()


def failure_message(step, rc, stdout="", stderr="", timeout=None):
    """One clear message for a failed terraform call (``step`` is init/validate/plan/apply/...)."""
    text = "%s\n%s" % (stdout or "", stderr or "")
    if rc in (124, 137) and timeout:
        return ("terraform %s did not finish within %s s and was interrupted (a graceful stop that saves the "
                "state and releases the lock); raise terraform_apply_timeout if the change is legitimately slow."
                % (step, timeout))
    lock = parse_lock_error(text)
    if lock is not None:
        return ("terraform %s: the state is locked by another run and the lock was NOT broken. Lock ID %s, held by "
                "%s (operation %s, since %s, path %s). Wait for that run to finish; if it is certainly dead, release "
                "the lock with: terraform force-unlock %s"
                % (step, lock.get("id", "?"), lock.get("who", "?"), lock.get("operation", "?"),
                   lock.get("created", "?"), lock.get("path", "?"), lock.get("id", "<ID>")))
    return "terraform %s failed (rc=%s):\n%s" % (step, rc, _error_block(text))


# -- inputs ---------------------------------------------------------------------------------------

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]+$")


def _cidr_error(value):
    try:
        ipaddress.ip_network(value, strict=True)
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def validate_inputs(variables, region_keys=(), allowed_regions=(), cidr_keys=(), size_bounds=(), prefix=""):
    """Errors (one string each, naming the variable and the value) of a Terraform variables dict.

    * ``region_keys``: keys holding an AWS region; must look like one and, when ``allowed_regions``
      is not empty, be one of them.
    * ``cidr_keys``: keys holding a CIDR or a list of CIDRs; each must parse as a network address.
    * ``size_bounds``: ``[{min: key, max: key, desired: key}]``; min <= desired <= max, all >= 0.

    Keys absent from ``variables`` are skipped: the role serves any Terraform root.
    """
    if not isinstance(variables, dict):
        return ["%svariables must be a dict, got %s" % (prefix, type(variables).__name__)]
    errors = []
    for key in region_keys or ():
        if key not in variables:
            continue
        value = variables[key]
        if not isinstance(value, str) or not _REGION.match(value):
            errors.append("%s%s=%r is not an AWS region name (e.g. us-east-1)" % (prefix, key, value))
        elif allowed_regions and value not in allowed_regions:
            errors.append("%s%s=%r is not a known AWS region (known: %s)"
                          % (prefix, key, value, ", ".join(sorted(allowed_regions))))
    for key in cidr_keys or ():
        if key not in variables:
            continue
        value = variables[key]
        items = value if isinstance(value, list) else [value]
        for item in items:
            problem = _cidr_error(item)
            if problem:
                errors.append("%s%s=%r is not a valid CIDR: %s" % (prefix, key, item, problem))
    for bounds in size_bounds or ():
        names = dict((k, bounds.get(k)) for k in ("min", "desired", "max") if bounds.get(k))
        present = dict((k, variables[n]) for k, n in names.items() if n in variables)
        bad = False
        for k, value in present.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors.append("%s%s=%r must be a whole number >= 0" % (prefix, names[k], value))
                bad = True
        if bad:
            continue
        if "min" in present and "max" in present and present["min"] > present["max"]:
            errors.append("%s%s=%d is greater than %s=%d (node-group bounds need min <= max)"
                          % (prefix, names["min"], present["min"], names["max"], present["max"]))
        if "desired" in present:
            if "min" in present and present["desired"] < present["min"]:
                errors.append("%s%s=%d is below %s=%d" % (prefix, names["desired"], present["desired"],
                                                          names["min"], present["min"]))
            if "max" in present and present["desired"] > present["max"]:
                errors.append("%s%s=%d is above %s=%d" % (prefix, names["desired"], present["desired"],
                                                          names["max"], present["max"]))
    return errors


def declared_variables(root):
    """Names of the ``variable`` blocks of every ``*.tf`` file of a Terraform root (python-hcl2 parses them).

    Raises :class:`TerraformPlanError` when a file does not parse or python-hcl2 is missing.
    """
    import glob
    import os

    try:
        import hcl2
    except ImportError:
        raise TerraformPlanError("python-hcl2 is not installed (pyproject.toml pins it; run make bootstrap)")
    names = set()
    for path in sorted(glob.glob(os.path.join(root, "*.tf"))):
        try:
            with open(path) as handle:
                doc = hcl2.load(handle)
        except Exception as exc:  # lark raises many kinds
            raise TerraformPlanError("%s does not parse as HCL: %s" % (path, str(exc).splitlines()[0] if str(exc) else exc))
        for block in doc.get("variable", []):
            names.update(name.strip('"') for name in block)
    return sorted(names)


def terraform_apply_input_errors(variables, declared=None):
    """The terraform_apply role's input rules over its variables dict (absent ones are not checked); pure.

    ``declared``: the variable names the Terraform root declares (:func:`declared_variables`); a key of
    ``terraform_apply_variables`` outside it is refused with the closest declared name.
    """
    import difflib

    if not isinstance(variables, dict):
        return ["terraform_apply settings must be a dict, got %s" % type(variables).__name__]
    errors = []
    tf_vars = variables.get("terraform_apply_variables", {})
    if "terraform_apply_variables" in variables:
        errors += validate_inputs(
            tf_vars, variables.get("terraform_apply_region_variables", ()), variables.get("terraform_apply_known_regions", ()),
            variables.get("terraform_apply_cidr_variables", ()), variables.get("terraform_apply_size_bounds", ()),
            prefix="terraform_apply_variables.")
    if declared and isinstance(tf_vars, dict):
        for key in sorted(set(tf_vars) - set(declared)):
            close = difflib.get_close_matches(key, declared, n=1)
            errors.append("terraform_apply_variables.%s is not declared by the Terraform root's variables%s"
                          % (key, " (did you mean '%s'?)" % close[0] if close else ""))
    for key, low in (("timeout", 1), ("lock_timeout", 0)):
        name = "terraform_apply_" + key
        if name in variables:
            value = variables[name]
            try:
                ok = not isinstance(value, bool) and int(value) >= low
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errors.append("%s=%s must be %s" % (name, value, "> 0" if low else ">= 0"))
    errors += _plan_stash_errors(variables)
    return errors


def _plan_stash_errors(variables):
    """terraform_apply_plan_stash=s3 (AWX): a bucket and region, a separate plan/apply, the approved checksum."""
    if variables.get("terraform_apply_plan_stash", "local") != "s3":
        return []
    errors = []
    for key in ("bucket", "region"):
        name = "terraform_apply_plan_stash_" + key
        if name in variables and not variables[name]:
            errors.append("terraform_apply_plan_stash=s3 needs %s (default: the backend's %s)" % (name, key))
    mode = variables.get("terraform_apply_mode")
    if mode == "plan_and_apply":
        errors.append("terraform_apply_plan_stash=s3 is for a separate plan and apply (terraform_apply_mode plan or apply)")
    checksum = str(variables.get("terraform_apply_plan_checksum") or "")
    if mode == "apply" and not re.match(r"^[0-9a-fA-F]{64}$", checksum):
        errors.append("terraform_apply_mode=apply with terraform_apply_plan_stash=s3 needs terraform_apply_plan_checksum, "
                      "the sha256 the plan job published with set_stats (got %s)" % (checksum[:70] or "nothing"))
    return errors
