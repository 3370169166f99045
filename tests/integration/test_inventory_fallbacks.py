"""Role ARN fallbacks of the staging and production inventories are well-formed ARNs.

Before Terraform outputs exist (preflight, a platform-only run) the IRSA role ARNs are built by
convention from the inventory's account id; once terraform_apply has run, its outputs win. Both are
checked by letting Ansible itself template the inventory variables (no cloud is contacted).
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ROLE_ARN = re.compile(r"^arn:aws:iam::\d{12}:role/[\w+=,.@-]+$")


def rendered(inventory: str, var: str, extra_vars: dict | None = None) -> object:
    cmd = ["ansible", "-i", str(ROOT / "inventories" / inventory), "localhost", "-m", "ansible.builtin.debug",
           "-a", f"var={var}"]
    if extra_vars:
        cmd += ["-e", json.dumps(extra_vars)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
    out = subprocess.run(["timeout", "120", *cmd], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout[out.stdout.index("{"):])
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"][var]


@pytest.mark.parametrize("inventory, account", [("staging", "222233334444"), ("production", "444455556666")])
def test_irsa_fallbacks_name_the_inventory_account(inventory, account):
    arns = rendered(inventory, "cluster_baseline_irsa_role_arns")
    assert set(arns) == {"aws_load_balancer_controller", "cluster_autoscaler", "aws_for_fluent_bit", "external_dns"}
    for name, arn in arns.items():
        assert ROLE_ARN.match(arn), f"{inventory}: {name} fallback is not a role ARN: {arn!r}"
        assert f"::{account}:role/" in arn, f"{inventory}: {name} fallback names another account: {arn!r}"


@pytest.mark.parametrize("inventory", ["staging", "production"])
def test_terraform_outputs_win_over_the_fallback(inventory):
    outputs = {"account_id": "999988887777",
               "irsa_role_arns": {"external_dns": "arn:aws:iam::999988887777:role/from-terraform"}}
    arns = rendered(inventory, "cluster_baseline_irsa_role_arns", {"terraform_apply_outputs": outputs})
    assert arns["external_dns"] == "arn:aws:iam::999988887777:role/from-terraform"
    # No output for this role: the convention, in the account Terraform reported.
    assert arns["cluster_autoscaler"] == f"arn:aws:iam::999988887777:role/cxr-{inventory}-cluster-autoscaler"


VAULT = {"vault_argocd_models_repo_token": "t-models", "vault_argocd_platform_repo_token": "t-platform",
         "vault_helm_monitoring_grafana_admin_password": "Grafana-Admin-Passw0rd-Long",
         "vault_helm_monitoring_pagerduty_routing_key": "0123456789abcdef0123456789abcdef",
         "vault_helm_monitoring_slack_webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX",
         "vault_restore_drill_pg_password": "restore-drill-pass",
         "vault_terraform_apply_cluster_admin_principal_arns": ["arn:aws:iam::444455556666:role/platform-admin"],
         "vault_terraform_apply_redis_auth_token": "a-redis-auth-token-of-32-chars-long!"}
ROLES = ["terraform_apply", "eks_access", "cluster_baseline", "helm_monitoring", "argocd_bootstrap", "backup_cronjobs",
         "blue_green_cutover"]


def test_production_preflight_passes_with_only_vault_secrets_and_names_an_empty_account(ansible_playbook):
    ok = ansible_playbook("playbooks/preflight.yml", "-i", str(ROOT / "inventories" / "production"),
                          extra_vars={**VAULT, "cxr_roles_in_run": ROLES})
    assert ok.rc == 0, ok.stdout + ok.stderr
    bad = ansible_playbook("playbooks/preflight.yml", "-i", str(ROOT / "inventories" / "production"),
                           extra_vars={**VAULT, "cxr_roles_in_run": ROLES, "cxr_aws_account_id": ""})
    assert bad.rc != 0
    assert "cluster_baseline_irsa_role_arns holds an IAM ARN without a 12-digit account" in bad.stdout + bad.stderr
    assert "set cxr_aws_account_id" in bad.stdout + bad.stderr
