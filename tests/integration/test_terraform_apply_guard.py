"""The terraform_apply plan guard against the small root (tests/fixtures/terraform/guarded) on a moto of its own:
a plan that would replace the DB or delete the bucket is refused, and goes through only when allowed. A file of its
own so that ``--dist loadfile`` runs it beside test_terraform_apply.py (same fixtures, tests/support/tf_role.py).
"""
from __future__ import annotations

import pytest

from tf_role import ansible_playbook_module, applied, assert_no_secret, assert_ok, moto  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


# -- the plan guard ----------------------------------------------------------------------------------

def test_guard_refuses_replacing_the_db_and_deleting_the_bucket(applied, ansible_playbook):
    root, _ = applied
    result = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False})
    assert result.rc != 0, result
    assert "Plan guard: the plan would delete or replace 2 protected resource(s); nothing was applied" in result.stdout
    assert "replace aws_db_instance.main (aws_db_instance)" in result.stdout
    assert "delete aws_s3_bucket.artifacts[0] (aws_s3_bucket)" in result.stdout
    assert "terraform_apply_allowed_destroy_addresses" in result.stdout
    # nothing was applied: both still exist, unchanged
    assert root.buckets() == [f"{root.name}-artifacts"]
    assert root.dbs() == [(f"{root.name}-db", "cxr")]
    # allowing one address is not enough for the other
    partial = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False},
                       terraform_apply_allowed_destroy_addresses=["aws_s3_bucket.artifacts[0]"])
    assert partial.rc != 0
    assert "replace aws_db_instance.main" in partial.stdout
    assert "delete aws_s3_bucket.artifacts[0]" not in partial.stdout.split("Plan guard:")[1]
    assert root.buckets() == [f"{root.name}-artifacts"]


# -- allowed destroy goes through (last: it replaces the DB) -------------------------------------

def test_allow_destroy_lets_the_same_change_through(applied, ansible_playbook):
    root, _ = applied
    result = root.run(ansible_playbook, variables={"db_name": "cxrnew", "create_bucket": False, "topic_suffix": "b"},
                      terraform_apply_allow_destroy=True)
    assert_ok(result)
    assert result.changed >= 1
    assert root.buckets() == []
    assert root.dbs() == [(f"{root.name}-db", "cxrnew")]
    assert_no_secret(result)
