# -*- coding: utf-8 -*-
# Copyright: cxr.mlops platform engineers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the ArgoCD bootstrap (role cxr.mlops.argocd_bootstrap).

* ``argocd_rbac_policy(roles, groups, extra)``: render ``policy.csv`` from inventory data
  (``{role: [{resource, action, object, effect}]}``, ``{group: [role, ...]}``, verbatim extra lines)
  and validate every line; returns the text.
* ``argocd_rbac_validate(policy_csv, default='')``: validate a ``policy.csv`` text (and the
  ``policy.default`` role); returns the parsed rules. Every malformed line is reported with its
  line number and the reason: unknown resource, action not valid for the resource, bad effect,
  missing field, a group bound to an undefined role.
* ``argocd_bcrypt_matches(hash, password)``: whether ``password`` matches the bcrypt ``hash``
  stored in ``argocd-secret`` ``admin.password`` (needs the ``bcrypt`` Python package on the
  controller; hashing itself uses ``ansible.builtin.password_hash('bcrypt')``).
"""
from __future__ import annotations

from ansible.errors import AnsibleFilterError
from ansible_collections.cxr.mlops.plugins.module_utils.argocd_rbac import (
    RBACPolicyError,
    render_policy,
    validate_policy,
)

try:
    import bcrypt
except ImportError:  # pragma: no cover (the project pins bcrypt; the error below says what to do)
    bcrypt = None

DOCUMENTATION_HINT = "see docs/gitops.md"


def argocd_rbac_policy(roles, groups=None, extra=""):
    """policy.csv text rendered from inventory roles/groups (+ extra lines), validated."""
    try:
        return render_policy(roles, groups, extra)
    except RBACPolicyError as exc:
        raise AnsibleFilterError("argocd_rbac_policy: refusing the ArgoCD RBAC policy: %s" % exc) from None


def argocd_rbac_validate(policy_csv, default=""):
    """Parsed rules of a policy.csv text; raises naming every malformed line and why."""
    try:
        rules = validate_policy(policy_csv, default)
    except RBACPolicyError as exc:
        raise AnsibleFilterError("argocd_rbac_validate: refusing the ArgoCD RBAC policy: %s" % exc) from None
    return [dict(rule) for rule in rules]


def argocd_bcrypt_matches(hashed, password):
    """True when the bcrypt hash (``$2a$``/``$2b$``/``$2y$``) is the hash of password."""
    if bcrypt is None:
        raise AnsibleFilterError("argocd_bcrypt_matches: the Python package 'bcrypt' is required on the controller to "
                                 "rotate the ArgoCD admin password (pip install bcrypt; %s)" % DOCUMENTATION_HINT)
    if not isinstance(password, str) or not password:
        raise AnsibleFilterError("argocd_bcrypt_matches: the password must be a non-empty string")
    if not hashed:
        return False
    if not isinstance(hashed, (str, bytes)):
        raise AnsibleFilterError("argocd_bcrypt_matches: the hash must be a string, got %s" % type(hashed).__name__)
    hashed_b = hashed.encode("ascii", "replace") if isinstance(hashed, str) else hashed
    password_b = password.encode("utf-8")
    if len(password_b) > 72:
        raise AnsibleFilterError("argocd_bcrypt_matches: bcrypt passwords are limited to 72 bytes, got %d" % len(password_b))
    if not hashed_b.startswith((b"$2a$", b"$2b$", b"$2y$")):
        return False
    try:
        return bool(bcrypt.checkpw(password_b, hashed_b))
    except ValueError:
        return False  # not a well-formed bcrypt hash: it cannot match


class FilterModule:
    """ArgoCD RBAC and admin password filters."""

    def filters(self):
        return {
            "argocd_rbac_policy": argocd_rbac_policy,
            "argocd_rbac_validate": argocd_rbac_validate,
            "argocd_bcrypt_matches": argocd_bcrypt_matches,
        }
