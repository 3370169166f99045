# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One validation pass over every role's inputs (used by playbooks/preflight.yml and each role's own check).

:func:`role_input_errors` runs, for one role, the unknown-name check (a variable carrying the role's prefix
that its meta/argument_specs.yml does not declare, with the closest known name) and the role's own rules
(``<role>_input_errors`` beside that role's logic in module_utils). Every message names the variable; the
value of a secret (no_log in the argument specs, or a name with password/token/secret) is never shown.
Pure: the filter ``cxr.mlops.role_input_errors`` does the file reading.
"""
from __future__ import annotations

import difflib
import re

from ansible_collections.cxr.mlops.plugins.module_utils.backup import backup_cronjobs_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.blue_green import blue_green_cutover_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.eks_info import eks_access_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.monitoring import helm_monitoring_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.netpol import cluster_baseline_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.terraform_plan import terraform_apply_input_errors

ROLES = ("local_sandbox", "terraform_apply", "eks_access", "cluster_baseline", "helm_monitoring",
         "argocd_bootstrap", "backup_cronjobs", "blue_green_cutover")
# Facts a role sets for the roles after it: known names, not user input.
OUTPUTS = {
    "argocd_bootstrap": ("argocd_bootstrap_result", "argocd_bootstrap_summary"),
    "backup_cronjobs": ("backup_cronjobs_objects", "backup_cronjobs_bindings", "backup_cronjobs_summary"),
    "blue_green_cutover": ("blue_green_cutover_result",),
    "cluster_baseline": ("cluster_baseline_summary",),
    "eks_access": ("eks_access_cluster", "eks_access_kubeconfig"),
    "helm_monitoring": ("helm_monitoring_release",),
    "local_sandbox": ("local_sandbox_endpoints", "local_sandbox_status", "local_sandbox_up", "local_sandbox_down"),
    "terraform_apply": ("terraform_apply_outputs", "terraform_apply_plan", "terraform_apply_plan_summary",
                        "terraform_apply_sensitive_outputs"),
}
SECRET_NAME = re.compile(r"password|token|secret", re.I)
HIDDEN = "(secret, not shown)"


def local_sandbox_input_errors(variables):
    """The local_sandbox role's input rules (absent variables are not checked); pure."""
    errors = []
    if "local_sandbox_port_base" in variables:
        value = variables["local_sandbox_port_base"]
        try:
            ok = not isinstance(value, bool) and 1024 <= int(value) and int(value) + 6 <= 65535
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append("local_sandbox_port_base=%s must leave 7 ports between 1024 and 65535" % value)
    return errors


VALIDATORS = {
    "local_sandbox": local_sandbox_input_errors,
    "terraform_apply": terraform_apply_input_errors,
    "eks_access": eks_access_input_errors,
    "cluster_baseline": cluster_baseline_input_errors,
    "helm_monitoring": helm_monitoring_input_errors,
    "blue_green_cutover": blue_green_cutover_input_errors,
    "backup_cronjobs": backup_cronjobs_input_errors,
}


def unknown_name_errors(role, variables, known):
    """A variable ``<role>_x`` (not the private ``<role>__x``) that is not a known name, with the closest one."""
    prefix = role + "_"
    errors = []
    for name in sorted(variables):
        if not name.startswith(prefix) or name.startswith(prefix + "_") or name in known:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        errors.append("%s is not a variable of the role %s%s (its meta/argument_specs.yml lists them)"
                      % (name, role, " (did you mean '%s'?)" % close[0] if close else ""))
    return errors


def _strings(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str) and len(value) >= 4:
        yield value


def secret_values(variables, no_log_names=()):
    """Every string held by a secret variable (no_log, or a name with password/token/secret)."""
    found = set()
    for name, value in variables.items():
        if name in no_log_names or SECRET_NAME.search(name):
            found.update(_strings(value))
    return found


def role_input_errors(role, variables, options=None, defaults=None, no_log_names=(), declared_terraform=None):
    """Every problem of one role's inputs, as messages naming the variable, the value (unless secret) and the rule.

    ``variables``: the role's variables as given (inventory, extra vars, play vars); ``options``: the names of
    its argument specs (``None``: no unknown-name check); ``defaults``: plain role defaults, merged under
    ``variables`` so cross-field rules see both sides; ``declared_terraform``: the names the Terraform root
    declares (terraform_apply only).
    """
    if role not in ROLES:
        raise ValueError("unknown role %r (known: %s)" % (role, ", ".join(ROLES)))
    if not isinstance(variables, dict):
        raise ValueError("the variables of %s must be a dict, got %s" % (role, type(variables).__name__))
    errors = []
    if options is not None:
        errors += unknown_name_errors(role, variables, set(options) | set(OUTPUTS.get(role, ())))
    merged = dict(defaults or {})
    merged.update(variables)
    validator = VALIDATORS.get(role)
    try:
        if validator is terraform_apply_input_errors:
            errors += validator(merged, declared_terraform)
        elif validator:
            errors += validator(merged)
    except (TypeError, ValueError, AttributeError) as exc:  # a value of the wrong type: the type check names it
        errors.append("%s: a variable has the wrong type, the range rules could not run (%s); see "
                      "meta/argument_specs.yml" % (role, exc))
    secrets = sorted(secret_values(merged, no_log_names), key=len, reverse=True)
    out = []
    for message in errors:
        for secret in secrets:
            message = message.replace(repr(secret), HIDDEN).replace(secret, HIDDEN)
        out.append(message)
    return out
