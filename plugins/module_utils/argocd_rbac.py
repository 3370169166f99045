# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ArgoCD RBAC policy (``argocd-rbac-cm`` ``policy.csv``): render from inventory data and validate.

ArgoCD loads ``policy.csv`` into Casbin with the model ``p = sub, res, act, obj, eft`` and
``g = _, _``. A line it does not understand is not an error for ArgoCD: a typo such as ``synch``
or ``Allow`` silently grants nothing (or, in a ``deny`` line, denies nothing). This module checks
every line the way an operator would read it, before the ConfigMap is written:

* ``p, <subject>, <resource>, <action>, <object>, <effect>`` — exactly six fields; the resource
  is one ArgoCD knows; the action is one that resource supports (the ArgoCD RBAC table); the
  effect is ``allow`` or ``deny``; the object of project-scoped resources is ``<project>/<name>``;
* ``g, <subject>, role:<name>`` — exactly three fields, binding to a role that a ``p`` line of
  the same policy defines or to a built-in role (``role:admin``, ``role:readonly``);
* blank lines and ``#`` comments are ignored.

Errors carry the 1-based line number of ``policy.csv``, the line and the reason. All functions are
pure: no Ansible, no Kubernetes.
"""
from __future__ import annotations

import csv

RESOURCE_ACTIONS = {
    "applications": ("get", "create", "update", "delete", "sync", "override", "action"),
    "applicationsets": ("get", "create", "update", "delete"),
    "clusters": ("get", "create", "update", "delete"),
    "projects": ("get", "create", "update", "delete"),
    "repositories": ("get", "create", "update", "delete"),
    "accounts": ("get", "update"),
    "certificates": ("get", "create", "delete"),
    "gpgkeys": ("get", "create", "delete"),
    "logs": ("get",),
    "exec": ("create",),
    "extensions": ("invoke",),
}
RESOURCES = tuple(RESOURCE_ACTIONS)
ACTIONS = ("get", "create", "update", "delete", "sync", "override", "action/<...>", "invoke", "*")
EFFECTS = ("allow", "deny")
BUILTIN_ROLES = ("role:admin", "role:readonly")
# Objects of these resources are "<project>/<name>" (or "<project>/<namespace>/<name>").
PROJECT_SCOPED = ("applications", "applicationsets", "logs", "exec")
# Resources whose update/delete may be narrowed to a sub-resource: "update/<group>/<kind>/<ns>/<name>".
FINE_GRAINED = ("applications",)


class RBACPolicyError(ValueError):
    """The policy is malformed; ``problems`` lists ``(line_number, line, reason)``."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("; ".join(format_problem(*p) for p in self.problems))


def format_problem(lineno, line, reason):
    if lineno is None:
        return reason
    return f"policy.csv line {lineno}: {reason} (in {line.strip()!r})"


def _split(line):
    """Split one CSV line the way Casbin does (commas, optional double quotes, trimmed fields)."""
    row = next(csv.reader([line], skipinitialspace=True), [])
    return [field.strip() for field in row]


def _check_action(resource, action):
    """Return the reason the action is wrong for the resource, or None."""
    if action == "*":
        return None
    if resource == "*":
        known = [a for a in ACTIONS if a != "action/<...>"]
        if action in known or action.startswith("action/"):
            return None
        return f"unknown action {action!r} (ArgoCD actions: {', '.join(ACTIONS)})"
    allowed = RESOURCE_ACTIONS[resource]
    if action.startswith("action/"):
        if "action" not in allowed:
            return f"action {action!r} does not apply to {resource} (allowed: {', '.join(allowed)}, *)"
        if action == "action/" or "" in action.split("/")[1:]:
            return f"action {action!r} must name a resource action: action/<group>/<kind>/<action-name> or action/*"
        return None
    head, sep, rest = action.partition("/")
    if sep and head in ("update", "delete") and resource in FINE_GRAINED:
        if not rest or "" in rest.split("/"):
            return f"action {action!r} must name a sub-resource: {head}/<group>/<kind>/<namespace>/<name>"
        return None
    if action in allowed:
        return None
    base = head if sep else action
    if base in ACTIONS or base == "action":
        return f"action {action!r} does not apply to {resource} (allowed: {', '.join(allowed)}, *)"
    return f"unknown action {action!r} (ArgoCD actions: {', '.join(ACTIONS)})"


def parse_line(line, lineno=None):
    """Parse one policy line. Returns a dict, ``None`` for blank/comment lines; raises RBACPolicyError."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None

    def bad(reason):
        return RBACPolicyError([(lineno, line, reason)])

    try:
        fields = _split(text)
    except csv.Error as exc:
        raise bad(f"cannot be parsed as CSV: {exc}") from None
    kind = fields[0]
    if kind == "p":
        names = ("subject", "resource", "action", "object", "effect")
        if len(fields) != 6:
            missing = names[len(fields) - 1:] if len(fields) < 6 else ()
            detail = f"missing {', '.join(missing)}" if missing else "too many fields"
            raise bad(f"a 'p' line needs 6 fields (p, subject, resource, action, object, effect), got {len(fields)}: {detail}")
        rule = dict(zip(("type",) + names, fields))
        empty = [n for n in names if not rule[n]]
        if empty:
            raise bad(f"empty {', '.join(empty)}")
        if rule["resource"] not in RESOURCES and rule["resource"] != "*":
            raise bad(f"unknown resource {rule['resource']!r} (ArgoCD resources: {', '.join(RESOURCES)}, *)")
        reason = _check_action(rule["resource"], rule["action"])
        if reason:
            raise bad(reason)
        if rule["effect"] not in EFFECTS:
            raise bad(f"bad effect {rule['effect']!r} (expected allow or deny, lower case)")
        if rule["resource"] in PROJECT_SCOPED and rule["object"] != "*" and "/" not in rule["object"]:
            raise bad(f"object {rule['object']!r} of {rule['resource']} must be <project>/<name> (or *)")
        rule["line"] = lineno
        return rule
    if kind == "g":
        if len(fields) != 3:
            missing = ("subject", "role")[len(fields) - 1:] if len(fields) < 3 else ()
            detail = f"missing {', '.join(missing)}" if missing else "too many fields"
            raise bad(f"a 'g' line needs 3 fields (g, subject, role), got {len(fields)}: {detail}")
        rule = {"type": "g", "subject": fields[1], "role": fields[2], "line": lineno}
        if not rule["subject"] or not rule["role"]:
            raise bad("empty " + ", ".join(n for n in ("subject", "role") if not rule[n]))
        if not rule["role"].startswith("role:") or rule["role"] == "role:":
            raise bad(f"a group binds to a role named role:<name>, got {rule['role']!r}")
        return rule
    raise bad(f"unknown line type {kind!r} (expected 'p' or 'g')")


def validate_policy(text, default_policy=""):
    """Validate a whole ``policy.csv`` (and ``policy.default``). Returns the parsed rules.

    Raises RBACPolicyError listing every problem (not only the first one).
    """
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise RBACPolicyError([(None, "", f"policy.csv must be a string, got {type(text).__name__}")])
    rules, problems = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        try:
            rule = parse_line(line, lineno)
        except RBACPolicyError as exc:
            problems.extend(exc.problems)
            continue
        if rule is not None:
            rules.append(rule)
    defined = set(BUILTIN_ROLES) | {r["subject"] for r in rules if r["type"] == "p" and r["subject"].startswith("role:")}
    lines = text.splitlines()
    for rule in rules:
        if rule["type"] == "g" and rule["role"] not in defined:
            reason = (f"binds {rule['subject']!r} to undefined role {rule['role']!r} "
                      f"(no 'p' line defines it; built-in roles: {', '.join(BUILTIN_ROLES)})")
            problems.append((rule["line"], lines[rule["line"] - 1], reason))
    default_policy = (default_policy or "").strip()
    if default_policy and default_policy not in defined:
        reason = (f"policy.default {default_policy!r} is not a defined role "
                  f"(use '' for no access, {', '.join(BUILTIN_ROLES)} or a role of policy.csv)")
        problems.append((None, "", reason))
    if problems:
        problems.sort(key=lambda p: (p[0] is None, p[0] or 0))
        raise RBACPolicyError(problems)
    return rules


def _role_name(name):
    name = str(name).strip()
    return name if name.startswith("role:") else f"role:{name}"


def _csv_field(value):
    value = str(value).strip()
    if any(c in value for c in ',"'):
        return '"' + value.replace('"', '""') + '"'
    return value


def render_policy(roles=None, groups=None, extra=""):
    """Render ``policy.csv`` from inventory data, then validate it.

    ``roles``: ``{role_name: [{resource, action, object, effect (default allow)}, ...]}``
    (``role_name`` with or without the ``role:`` prefix); ``groups``: ``{group: [role_name, ...]}``;
    ``extra``: verbatim ``policy.csv`` lines appended at the end. Returns the text.
    """
    roles = roles or {}
    groups = groups or {}
    problems = []
    if not isinstance(roles, dict):
        raise RBACPolicyError([(None, "", f"roles must be a mapping of role name to permissions, got {type(roles).__name__}")])
    if not isinstance(groups, dict):
        raise RBACPolicyError([(None, "", f"groups must be a mapping of group name to role names, got {type(groups).__name__}")])
    lines = ["# Generated by cxr.mlops.argocd_bootstrap from the inventory: do not edit in the cluster."]
    for name in sorted(roles):
        perms = roles[name]
        if not isinstance(perms, list):
            problems.append((None, "", f"roles[{name!r}] must be a list of permissions"))
            continue
        for index, perm in enumerate(perms):
            where = f"roles[{name!r}][{index}]"
            if not isinstance(perm, dict):
                problems.append((None, "", f"{where} must be a mapping with resource, action, object"))
                continue
            unknown = sorted(set(perm) - {"resource", "action", "object", "effect"})
            missing = [k for k in ("resource", "action", "object") if not str(perm.get(k, "")).strip()]
            if unknown or missing:
                reason = "; ".join(filter(None, [missing and f"missing {', '.join(missing)}",
                                                 unknown and f"unknown keys {', '.join(unknown)}"]))
                problems.append((None, "", f"{where}: {reason}"))
                continue
            fields = [_role_name(name), perm["resource"], perm["action"], perm["object"], perm.get("effect", "allow")]
            lines.append("p, " + ", ".join(_csv_field(f) for f in fields))
    for group in sorted(groups):
        members = groups[group]
        if isinstance(members, str):
            members = [members]
        if not isinstance(members, list):
            problems.append((None, "", f"groups[{group!r}] must be a list of role names"))
            continue
        for role in members:
            lines.append(f"g, {_csv_field(group)}, {_csv_field(_role_name(role))}")
    if problems:
        raise RBACPolicyError(problems)
    extra = (extra or "").strip("\n")
    if extra:
        lines.append("# Extra lines (argocd_bootstrap_rbac_extra_policy)")
        lines.extend(extra.splitlines())
    text = "\n".join(lines) + "\n"
    validate_policy(text)
    return text
