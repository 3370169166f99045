"""The one input check of every role (module_utils/role_inputs.py, the per-role validators, the filter)."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.cxr.mlops.plugins.filter.inputs import role_input_errors as flt
from ansible_collections.cxr.mlops.plugins.module_utils import role_inputs
from ansible_collections.cxr.mlops.plugins.module_utils.eks_info import eks_access_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.netpol import cluster_baseline_input_errors
from ansible_collections.cxr.mlops.plugins.module_utils.terraform_plan import (
    declared_variables,
    terraform_apply_input_errors,
)

from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]


def test_cluster_baseline_names_the_domain_its_value_and_the_ingresses_it_breaks():
    errors = cluster_baseline_input_errors({"cluster_baseline_domain": "Bad_Host..example",
                                            "cluster_baseline_ingresses": [{"name": "grafana"}]})
    assert errors == ["cluster_baseline_domain: 'Bad_Host..example' is not a valid DNS hostname or domain",
                      "cluster_baseline_ingresses[grafana]: 'grafana.Bad_Host..example' is not a valid DNS hostname or domain"]
    assert cluster_baseline_input_errors({"cluster_baseline_domain": "cxr.example.com"}) == []


def test_cluster_baseline_refuses_an_empty_kubeconfig_and_bad_bounds():
    errors = cluster_baseline_input_errors({"cluster_baseline_kubeconfig": "",
                                            "cluster_baseline_node_groups": [{"name": "a", "min_size": 3, "max_size": 1}]})
    assert errors[0].startswith("cluster_baseline_kubeconfig is empty")
    assert "cluster_baseline_node_groups[a]: min_size 3 > max_size 1" in errors


def test_cluster_baseline_refuses_a_short_quota():
    ns = {"name": "x", "quota": {"requests.cpu": "1"}, "workload_requests": {"requests.cpu": "3"}}
    assert cluster_baseline_input_errors({"cluster_baseline_namespaces": [ns]}) == [
        "cluster_baseline_namespaces[x]: requests.cpu quota 1 is below the workloads' 3"]


def test_eks_access_rules():
    assert eks_access_input_errors({"eks_access_cluster_name": ""})[0].startswith(
        'eks_access_cluster_name="" (must not be empty')
    assert eks_access_input_errors({"eks_access_token_min_remaining": 2000}) == [
        "eks_access_token_min_remaining=2000 (0-840: tokens live 900 s)"]
    assert "eks_access_endpoint_override" in eks_access_input_errors({"eks_access_endpoint_override": "ftp://x"})[0]
    assert "eks_access_ca_mode=none" in eks_access_input_errors({"eks_access_ca_mode": "none",
                                                                 "eks_access_endpoint_override": ""})[0]
    assert eks_access_input_errors({"eks_access_cluster_name": "c", "eks_access_token_min_remaining": 120,
                                    "eks_access_endpoint_override": "http://127.0.0.1:1", "eks_access_ca_mode": "none"}) == []


def test_local_sandbox_port_range():
    assert role_inputs.local_sandbox_input_errors({"local_sandbox_port_base": 65530}) == [
        "local_sandbox_port_base=65530 must leave 7 ports between 1024 and 65535"]
    assert role_inputs.local_sandbox_input_errors({"local_sandbox_port_base": 16000}) == []


def test_terraform_apply_ranges_timeouts_and_undeclared_keys():
    declared = ["vpc_cidr", "region", "redis_auth_token"]
    errors = terraform_apply_input_errors({"terraform_apply_variables": {"vpc_cdir": "10.0.0.0/16", "vpc_cidr": "10.0.0.0/33"},
                                           "terraform_apply_cidr_variables": ["vpc_cidr"],
                                           "terraform_apply_timeout": 0}, declared)
    assert errors == ["terraform_apply_variables.vpc_cidr='10.0.0.0/33' is not a valid CIDR: "
                      "'10.0.0.0/33' does not appear to be an IPv4 or IPv6 network",
                      "terraform_apply_variables.vpc_cdir is not declared by the Terraform root's variables "
                      "(did you mean 'vpc_cidr'?)",
                      "terraform_apply_timeout=0 must be > 0"]


def test_the_real_root_is_read_with_an_hcl_parser():
    names = declared_variables(str(ROOT / "infrastructure" / "terraform"))
    assert {"vpc_cidr", "redis_auth_token", "region", "ondemand_min_size"} <= set(names)
    assert all('"' not in n for n in names)


def test_unknown_names_get_the_closest_known_one_and_private_names_are_ignored():
    errors = role_inputs.unknown_name_errors("helm_monitoring", {
        "helm_monitoring_acuracy_threshold": 0.99, "helm_monitoring__private": 1, "helm_monitoring_namespace": "m",
        "other_x": 1}, {"helm_monitoring_accuracy_threshold", "helm_monitoring_namespace"})
    assert errors == ["helm_monitoring_acuracy_threshold is not a variable of the role helm_monitoring "
                      "(did you mean 'helm_monitoring_accuracy_threshold'?) (its meta/argument_specs.yml lists them)"]


def test_role_outputs_are_known_names():
    assert role_inputs.role_input_errors("terraform_apply", {"terraform_apply_outputs": {}}, options=[]) == []


def test_a_secret_value_never_appears_in_a_message():
    token = "tok-0123456789"
    errors = role_inputs.role_input_errors("terraform_apply", {"terraform_apply_variables": {"vpc_cidr": token},
                                                              "terraform_apply_cidr_variables": ["vpc_cidr"],
                                                              "terraform_apply_secret_token": token}, options=None)
    assert errors and all(token not in e for e in errors)
    assert role_inputs.HIDDEN in errors[0]


def test_no_log_options_are_secrets_whatever_their_name():
    assert role_inputs.secret_values({"x_key": "abcdefgh", "x_other": "visible"}, no_log_names=["x_key"]) == {"abcdefgh"}


def test_filter_reads_the_role_specs_and_defaults():
    errors = flt({"cluster_baseline_domain": "Bad_Host..example", "cluster_baseline_domian": "x"}, "cluster_baseline")
    assert errors[0].startswith("cluster_baseline_domian is not a variable of the role cluster_baseline "
                                "(did you mean 'cluster_baseline_domain'?)")
    # the defaults' ingresses (grafana, argocd, ...) are checked against the given domain
    assert any(e.startswith("cluster_baseline_ingresses[grafana]") for e in errors)
    # the default kubeconfig is empty: refused, as the role would
    assert [e[:36] for e in flt({}, "helm_monitoring")] == ["helm_monitoring_kubeconfig is empty."]
    assert flt({"helm_monitoring_kubeconfig": "/k"}, "helm_monitoring") == []


def test_filter_reads_the_terraform_root_named_by_the_variables():
    errors = flt({"terraform_apply_project_dir": str(ROOT / "infrastructure" / "terraform"),
                  "terraform_apply_variables": {"vpc_cdir": "10.1.0.0/16"}}, "terraform_apply")
    assert errors == ["terraform_apply_variables.vpc_cdir is not declared by the Terraform root's variables "
                      "(did you mean 'vpc_cidr'?)"]


@pytest.mark.parametrize("variables, role, message", [
    ({}, "no_such_role", "role_input_errors: unknown role 'no_such_role'"),
    (["a"], "helm_monitoring", "role_input_errors: expects the role's variables as a dict, got list"),
])
def test_filter_misuse_names_the_filter(variables, role, message):
    with pytest.raises(AnsibleFilterError, match=message):
        flt(variables, role)


def test_a_wrong_type_does_not_crash_the_range_rules():
    errors = role_inputs.role_input_errors("cluster_baseline", {"cluster_baseline_node_groups": [{"name": "a", "min_size": "x"}]})
    assert errors and "wrong type" in errors[0]


def test_helm_monitoring_thresholds_durations_and_pin():
    from ansible_collections.cxr.mlops.plugins.module_utils.monitoring import helm_monitoring_input_errors

    assert helm_monitoring_input_errors({"helm_monitoring_accuracy_threshold": 1.5}) == [
        "helm_monitoring_accuracy_threshold=1.5 must be in [0, 1] (a ratio)"]
    assert helm_monitoring_input_errors({"helm_monitoring_latency_p95_seconds": -0.2}) == [
        "helm_monitoring_latency_p95_seconds=-0.2 must be > 0 (seconds)"]
    assert helm_monitoring_input_errors({"helm_monitoring_volume_free_threshold": 1}) == [
        "helm_monitoring_volume_free_threshold=1 must be in (0, 1) (a ratio)"]
    assert "must be a finite number" in helm_monitoring_input_errors({"helm_monitoring_cpu_threshold": "high"})[0]
    assert helm_monitoring_input_errors({"helm_monitoring_alert_for": {"CxrX": "5 minutes"}}) == [
        "helm_monitoring_alert_for[CxrX]='5 minutes' must be a Prometheus duration such as 30s, 10m, 1h"]
    assert "repeat_interval='soon'" in helm_monitoring_input_errors({"helm_monitoring_alertmanager_repeat_interval": "soon"})[0]
    assert helm_monitoring_input_errors({"helm_monitoring_chart_version": ""})[0].startswith("helm_monitoring_chart_version=''")
    assert helm_monitoring_input_errors({"helm_monitoring_kubeconfig": ""})[0].startswith("helm_monitoring_kubeconfig is empty")
    assert helm_monitoring_input_errors({"helm_monitoring_accuracy_threshold": 0.9, "helm_monitoring_alert_for": {"A": "1h30m"},
                                         "helm_monitoring_chart_version": "1.0.0", "helm_monitoring_kubeconfig": "k"}) == []


def test_a_secret_of_helm_monitoring_is_hidden_by_its_no_log_spec():
    errors = flt({"helm_monitoring_slack_webhook_url": "https://hooks.example/abc", "helm_monitoring_slack_webhok_url": "x"},
                 "helm_monitoring")
    assert errors and "hooks.example" not in " ".join(errors)


BACKUP_OK = {"backup_cronjobs_kubeconfig": "/k", "backup_cronjobs_bucket": "b", "backup_cronjobs_postgres_host": "db",
             "backup_cronjobs_postgres_password_k8s_secret": "pg", "backup_cronjobs_appdata_source_bucket": "lake",
             **{"backup_cronjobs_%s_irsa_role_arn" % j: "arn:aws:iam::123456789012:role/r" for j in ("postgres", "kube", "appdata")}}


@pytest.mark.parametrize("bad, message", [
    ({"backup_cronjobs_retention_days": 0}, "backup_cronjobs_retention_days=0 (1-3650)"),
    ({"backup_cronjobs_kube_resources": ["v1/configmaps", "v1/secrets"]}, "never v1/secrets"),
    ({"backup_cronjobs_postgres_irsa_role_arn": "my-role"}, "backup_cronjobs_postgres_irsa_role_arn 'my-role' must be an IAM role ARN"),
    ({"backup_cronjobs_postgres_schedule": "daily"}, "backup_cronjobs_postgres_schedule 'daily' must be a 5-field cron"),
    ({"backup_cronjobs_postgres_password_secret_id": "s"}, "exactly one of backup_cronjobs_postgres_password_secret_id"),
    ({"backup_cronjobs_appdata_source_bucket": "b"}, "must differ from the backup bucket"),
    ({"backup_cronjobs_run_as_user": 0}, "backup_cronjobs_run_as_user=0 (>= 1)"),
])
def test_backup_cronjobs_rules(bad, message):
    assert flt(BACKUP_OK, "backup_cronjobs") == []
    errors = flt({**BACKUP_OK, **bad}, "backup_cronjobs")
    assert any(message in e for e in errors), errors


def test_backup_cronjobs_disabled_jobs_and_absent_state_skip_the_job_rules():
    assert flt({**BACKUP_OK, "backup_cronjobs_postgres_irsa_role_arn": "x", "backup_cronjobs_postgres_enabled": False},
               "backup_cronjobs") == []
    assert flt({**BACKUP_OK, "backup_cronjobs_kube_irsa_role_arn": "x", "backup_cronjobs_state": "absent"}, "backup_cronjobs") == []


def test_terraform_apply_s3_plan_stash_rules():
    ok_sum = "ab" * 32
    assert terraform_apply_input_errors({"terraform_apply_plan_stash": "s3", "terraform_apply_mode": "apply",
                                         "terraform_apply_plan_checksum": ok_sum}) == []
    assert terraform_apply_input_errors({"terraform_apply_plan_stash": "local", "terraform_apply_mode": "apply"}) == []
    errors = terraform_apply_input_errors({"terraform_apply_plan_stash": "s3", "terraform_apply_mode": "apply",
                                           "terraform_apply_plan_checksum": "", "terraform_apply_plan_stash_bucket": ""})
    assert "terraform_apply_plan_stash=s3 needs terraform_apply_plan_stash_bucket (default: the backend's bucket)" in errors
    assert any("needs terraform_apply_plan_checksum, the sha256 the plan job published with set_stats (got nothing)" in e
               for e in errors)
    assert terraform_apply_input_errors({"terraform_apply_plan_stash": "s3", "terraform_apply_mode": "plan_and_apply"}) == [
        "terraform_apply_plan_stash=s3 is for a separate plan and apply (terraform_apply_mode plan or apply)"]
