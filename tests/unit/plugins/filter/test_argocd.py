"""Unit tests of the ArgoCD RBAC filters (plugins/filter/argocd.py, plugins/module_utils/argocd_rbac.py)."""
from __future__ import annotations

import bcrypt
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.cxr.mlops.plugins.filter import argocd
from ansible_collections.cxr.mlops.plugins.module_utils import argocd_rbac

GOOD_POLICY = """\
# platform team
p, role:platform, applications, *, */*, allow
p, role:platform, clusters, get, *, allow
p, role:ml-engineer, applications, get, ml-research/*, allow
p, role:ml-engineer, applications, sync, ml-research/*, allow
p, role:ml-engineer, applications, action/apps/Deployment/restart, ml-research/*, allow
p, role:ml-engineer, applications, delete/*/Pod/*/*, ml-research/*, allow
p, role:ml-engineer, applications, delete, ml-research/*, deny
p, role:ml-engineer, logs, get, ml-research/*, allow
p, role:ml-engineer, exec, create, ml-research/*, deny
p, role:ml-engineer, extensions, invoke, metrics, allow
p, role:auditor, *, get, *, allow

g, cxr-platform-admins, role:admin
g, cxr-ml-engineers, role:ml-engineer
g, "CN=auditors,OU=Groups", role:auditor
"""


def test_a_realistic_policy_parses_into_rules():
    rules = argocd.argocd_rbac_validate(GOOD_POLICY, "role:readonly")
    assert len(rules) == 14
    sync = rules[3]
    assert sync == {"type": "p", "subject": "role:ml-engineer", "resource": "applications", "action": "sync",
                    "object": "ml-research/*", "effect": "allow", "line": 5}
    assert rules[-1] == {"type": "g", "subject": "CN=auditors,OU=Groups", "role": "role:auditor", "line": 16}
    assert [r["effect"] for r in rules if r["type"] == "p"].count("deny") == 2


@pytest.mark.parametrize("line,reason", [
    ("p, role:x, applications, synch, */*, allow", "unknown action 'synch'"),
    ("p, role:x, applications, get, */*", "needs 6 fields (p, subject, resource, action, object, effect), got 5: missing effect"),
    ("p, role:x, applications, get", "got 4: missing object, effect"),
    ("p, role:x, applications, get, */*, allow, extra", "got 7: too many fields"),
    ("p, role:x, applications, get, */*, Allow", "bad effect 'Allow'"),
    ("p, role:x, applications, get, */*, permit", "bad effect 'permit'"),
    ("p, role:x, repos, get, *, allow", "unknown resource 'repos'"),
    ("p, role:x, clusters, sync, *, allow", "action 'sync' does not apply to clusters"),
    ("p, role:x, logs, create, */*, allow", "action 'create' does not apply to logs"),
    ("p, role:x, exec, get, */*, allow", "action 'get' does not apply to exec"),
    ("p, role:x, projects, action/apps/Deployment/restart, *, allow", "does not apply to projects"),
    ("p, role:x, applications, action/, */*, allow", "must name a resource action"),
    ("p, role:x, applications, update//x, */*, allow", "must name a sub-resource"),
    ("p, role:x, applications, get, my-app, allow", "object 'my-app' of applications must be <project>/<name>"),
    ("p, , applications, get, */*, allow", "empty subject"),
    ("g, cxr-ml-engineers", "a 'g' line needs 3 fields (g, subject, role), got 2: missing role"),
    ("g, cxr-ml-engineers, admin", "binds to a role named role:<name>, got 'admin'"),
    ("g, cxr-ml-engineers, role:nobody", "undefined role 'role:nobody'"),
    ("x, role:x, applications, get, */*, allow", "unknown line type 'x'"),
])
def test_malformed_line_is_refused_with_its_number_and_reason(line, reason):
    policy = "p, role:ok, applications, get, */*, allow\n\n" + line + "\n"
    with pytest.raises(AnsibleFilterError) as err:
        argocd.argocd_rbac_validate(policy)
    message = str(err.value)
    assert message.startswith("argocd_rbac_validate: ")
    assert "policy.csv line 3: " in message
    assert reason in message
    assert "line 1" not in message  # the good line is not blamed


def test_every_bad_line_is_reported_not_only_the_first():
    policy = "p, role:x, applications, synch, */*, allow\np, role:x, applications, get, */*, allow\ng, team\n"
    with pytest.raises(argocd_rbac.RBACPolicyError) as err:
        argocd_rbac.validate_policy(policy)
    assert [p[0] for p in err.value.problems] == [1, 3]


def test_comments_and_blank_lines_are_ignored_and_empty_policy_is_valid():
    assert argocd.argocd_rbac_validate("# nothing yet\n\n   \n") == []
    assert argocd.argocd_rbac_validate("") == []


@pytest.mark.parametrize("default,ok", [("", True), ("role:readonly", True), ("role:admin", True),
                                        ("role:ml-engineer", True), ("role:typo", False), ("readonly", False)])
def test_policy_default_must_be_empty_builtin_or_defined(default, ok):
    if ok:
        argocd.argocd_rbac_validate(GOOD_POLICY, default)
    else:
        with pytest.raises(AnsibleFilterError, match="policy.default '%s' is not a defined role" % default):
            argocd.argocd_rbac_validate(GOOD_POLICY, default)


def test_policy_is_rendered_from_inventory_groups_and_roles():
    text = argocd.argocd_rbac_policy(
        {"ml-engineer": [{"resource": "applications", "action": "sync", "object": "ml-research/*"},
                         {"resource": "exec", "action": "create", "object": "ml-research/*", "effect": "deny"}],
         "role:viewer": [{"resource": "projects", "action": "get", "object": "*"}]},
        {"cxr-ml-engineers": ["ml-engineer", "role:viewer"], "cxr-admins": "admin"},
        "p, role:viewer, logs, get, */*, allow\n",
    )
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        "p, role:ml-engineer, applications, sync, ml-research/*, allow",
        "p, role:ml-engineer, exec, create, ml-research/*, deny",
        "p, role:viewer, projects, get, *, allow",
        "g, cxr-admins, role:admin",
        "g, cxr-ml-engineers, role:ml-engineer",
        "g, cxr-ml-engineers, role:viewer",
        "p, role:viewer, logs, get, */*, allow",
    ]
    assert len(argocd.argocd_rbac_validate(text)) == 7


def test_rendering_quotes_fields_with_commas_so_they_round_trip():
    text = argocd.argocd_rbac_policy({"r": [{"resource": "clusters", "action": "get", "object": "*"}]},
                                     {"CN=ops,OU=Groups": ["r"]})
    assert 'g, "CN=ops,OU=Groups", role:r' in text
    assert argocd.argocd_rbac_validate(text)[-1]["subject"] == "CN=ops,OU=Groups"


@pytest.mark.parametrize("roles,groups,extra,match", [
    ({"r": [{"resource": "applications", "object": "*/*"}]}, {}, "", r"roles\['r'\]\[0\]: missing action"),
    ({"r": [{"resource": "clusters", "action": "get", "object": "*", "verb": "x"}]}, {}, "", "unknown keys verb"),
    ({"r": "applications"}, {}, "", "must be a list of permissions"),
    (["r"], {}, "", "roles must be a mapping"),
    ({"r": [{"resource": "applications", "action": "deploy", "object": "*/*"}]}, {}, "", "line 2: unknown action 'deploy'"),
    ({}, {"team": ["missing"]}, "", "undefined role 'role:missing'"),
    ({}, {}, "p, role:x, applications, get, */*, maybe", "line 3: bad effect 'maybe'"),
])
def test_bad_inventory_data_is_refused_naming_the_filter(roles, groups, extra, match):
    with pytest.raises(AnsibleFilterError, match="^argocd_rbac_policy: .*" + match):
        argocd.argocd_rbac_policy(roles, groups, extra)


def test_bcrypt_match_accepts_argocd_go_hashes_and_rejects_others():
    hashed = bcrypt.hashpw(b"s3cret-pass", bcrypt.gensalt(rounds=4)).decode()
    go_style = "$2a$" + hashed[4:]  # ArgoCD (Go x/crypto) writes $2a$
    assert argocd.argocd_bcrypt_matches(hashed, "s3cret-pass") is True
    assert argocd.argocd_bcrypt_matches(go_style, "s3cret-pass") is True
    assert argocd.argocd_bcrypt_matches(hashed, "s3cret-pasS") is False
    assert argocd.argocd_bcrypt_matches("", "s3cret-pass") is False
    assert argocd.argocd_bcrypt_matches("plain-text", "s3cret-pass") is False
    with pytest.raises(AnsibleFilterError, match="argocd_bcrypt_matches: bcrypt passwords are limited to 72 bytes"):
        argocd.argocd_bcrypt_matches(hashed, "x" * 73)
    with pytest.raises(AnsibleFilterError, match="argocd_bcrypt_matches: the password must be a non-empty string"):
        argocd.argocd_bcrypt_matches(hashed, "")


def test_filter_plugin_exposes_the_three_filters():
    assert set(argocd.FilterModule().filters()) == {"argocd_rbac_policy", "argocd_rbac_validate", "argocd_bcrypt_matches"}
