"""The full stack (infrastructure/terraform) applied through the terraform_apply role against its own moto server.

Split from test_terraform_apply.py so that ``--dist loadfile`` runs it beside the guarded-root tests.
"""
from __future__ import annotations

import pytest

from tf_role import ROOT, Moto, Root, assert_ok  # tests/support (on pytest's pythonpath, pyproject.toml)

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


# -- the full stack ------------------------------------------------------------------------------

def test_full_stack_applies_to_moto_and_second_run_changes_nothing(tmp_path, ansible_playbook):
    import yaml
    server = Moto(tmp_path / "moto.log")  # its own moto (the stack has a DB instance; see the module docstring)
    try:
        local = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all" / "terraform_apply.yml").read_text())
        variables = {k: v for k, v in local["terraform_apply_variables"].items() if "{{" not in str(v)}
        variables.update({"project": "cxr", "environment": "local", "region": "us-east-1", "replica_region": "us-west-2",
                          "aws_endpoint_url": server.url})
        root = Root(server, tmp_path / "artifacts", "cxr-local", project_dir=ROOT / "infrastructure" / "terraform",
                    variables=variables)
        first = root.run(ansible_playbook, terraform_apply_timeout=1800, timeout=2400)
        assert_ok(first)
        assert first.changed >= 1
        assert "local-sandbox-token-0123456789" not in first.stdout  # the sensitive redis_auth_token
        eks = server.client("eks").list_clusters()["clusters"]
        assert eks == ["cxr-local-eks"]
        rds = server.client("rds").describe_db_instances()["DBInstances"]
        assert len(rds) == 1 and rds[0]["BackupRetentionPeriod"] == 30
        buckets = {b["Name"] for b in server.client("s3").list_buckets()["Buckets"]}
        assert {root.bucket} < buckets and any("model" in b for b in buckets)
        assert "cluster_name" in " ".join(first.stdout.split()).split("terraform_apply_outputs:")[1][:2000]
        second = root.run(ansible_playbook, timeout=2400)
        assert_ok(second)
        assert second.changed == 0, second
    finally:
        server.stop()
