"""cxr.mlops.backup_cronjobs through playbooks/backups.yml against the cluster (the sandbox's API test server or
a real cluster via KUBECONFIG) and moto S3: converge, idempotence, truthful check mode, bad input, removal."""

from __future__ import annotations

import re
import uuid

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]

PLAYBOOK = "playbooks/backups.yml"
ROLE_ARN = "arn:aws:iam::123456789012:role/cxr-test-backup-{}"


@pytest.fixture
def k8s(kubeconfig):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    return {"core": client.CoreV1Api(api), "batch": client.BatchV1Api(api), "rbac": client.RbacAuthorizationV1Api(api)}


@pytest.fixture
def names(k8s):
    suffix = uuid.uuid4().hex[:8]
    n = {"ns": f"cxr-backups-{suffix}", "export": f"bk-export-{suffix}"}
    k8s["core"].create_namespace({"metadata": {"name": n["export"]}})
    yield n
    for ns in (n["ns"], n["export"]):
        try:
            k8s["core"].delete_namespace(ns)
        except Exception:  # noqa: BLE001 - already gone
            pass
    try:
        k8s["rbac"].delete_cluster_role(f"{n['ns']}-kube-config-reader")
    except Exception:  # noqa: BLE001
        pass


def extra(names, bucket, **more):
    return {"backup_cronjobs_namespace": names["ns"], "backup_cronjobs_kube_namespaces": [names["export"]],
            "backup_cronjobs_bucket": bucket, "backup_cronjobs_postgres_irsa_role_arn": ROLE_ARN.format("postgres"),
            "backup_cronjobs_kube_irsa_role_arn": ROLE_ARN.format("kube"),
            "backup_cronjobs_appdata_irsa_role_arn": ROLE_ARN.format("appdata"), **more}


def env_of(container) -> dict:
    return {e.name: e.value for e in container.env if e.value is not None}


def test_converge_idempotence_check_mode_and_removal(ansible_playbook, kubeconfig, k8s, names, aws_env):
    import boto3

    s3 = boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    bucket = f"cxr-bk-role-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=bucket)
    args = ["-e", f"cxr_kubeconfig={kubeconfig}"]

    first = ansible_playbook(PLAYBOOK, *args, extra_vars=extra(names, bucket, backup_cronjobs_lifecycle_manage=True))
    assert first.rc == 0, first
    assert first.changed == 2  # the objects (one task) and the lifecycle rules

    # --- what a user would check with kubectl
    ns = names["ns"]
    jobs = {cj.metadata.name: cj for cj in k8s["batch"].list_namespaced_cron_job(ns).items}
    assert sorted(jobs) == ["cxr-backup-appdata", "cxr-backup-kube-config", "cxr-backup-postgres"]
    for name, cj in jobs.items():
        spec = cj.spec
        assert spec.concurrency_policy == "Forbid"
        assert spec.starting_deadline_seconds == 3600
        assert spec.successful_jobs_history_limit == 3 and spec.failed_jobs_history_limit == 5
        job = spec.job_template.spec
        assert job.backoff_limit == 2 and job.active_deadline_seconds == 10800
        pod = job.template.spec
        assert pod.service_account_name == name and pod.restart_policy == "Never"
        assert pod.security_context.run_as_non_root is True and pod.security_context.run_as_user == 10001
        assert pod.security_context.seccomp_profile.type == "RuntimeDefault"
        (c,) = pod.containers
        sc = c.security_context
        assert sc.read_only_root_filesystem is True and sc.allow_privilege_escalation is False
        assert sc.capabilities.drop == ["ALL"] and sc.run_as_non_root is True
        assert c.resources.limits == {"cpu": "1", "memory": "1Gi"} and c.resources.requests
        assert env_of(c)["CXR_BACKUP_BUCKET"] == bucket and env_of(c)["CXR_BACKUP_RETENTION_DAYS"] == "30"
        assert [v.mount_path for v in c.volume_mounts] == ["/tmp"]
        assert pod.automount_service_account_token is (name == "cxr-backup-kube-config")
    assert jobs["cxr-backup-postgres"].spec.schedule == "15 3 * * *"
    assert jobs["cxr-backup-postgres"].spec.job_template.spec.template.spec.containers[0].args == ["pg-backup"]
    assert jobs["cxr-backup-appdata"].spec.schedule == "5 * * * *"
    pg_env = jobs["cxr-backup-postgres"].spec.job_template.spec.template.spec.containers[0].env
    assert [e.value_from.secret_key_ref.name for e in pg_env if e.name == "PGPASSWORD"] == ["cxr-backup-postgres"]

    sas = {sa.metadata.name: sa for sa in k8s["core"].list_namespaced_service_account(ns).items}
    for job, arn in (("postgres", "postgres"), ("kube-config", "kube"), ("appdata", "appdata")):
        assert sas[f"cxr-backup-{job}"].metadata.annotations["eks.amazonaws.com/role-arn"] == ROLE_ARN.format(arn)

    role = k8s["rbac"].read_cluster_role(f"{ns}-kube-config-reader")
    assert all(rule.verbs == ["get", "list"] for rule in role.rules)
    granted = {(g, r) for rule in role.rules for g in rule.api_groups for r in rule.resources}
    assert ("", "configmaps") in granted and ("apps", "deployments") in granted and ("argoproj.io", "applications") in granted
    assert ("", "secrets") not in granted
    (binding,) = [b for b in k8s["rbac"].list_namespaced_role_binding(names["export"]).items
                  if b.metadata.name == f"{ns}-kube-config-reader"]
    assert [(s.name, s.namespace) for s in binding.subjects] == [("cxr-backup-kube-config", ns)]
    # The database and data jobs get no Kubernetes permissions at all.
    assert k8s["rbac"].list_namespaced_role(ns).items == []
    assert k8s["rbac"].list_namespaced_role_binding(ns).items == []

    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    assert rules["cxr-backup-postgres"]["Expiration"]["Days"] == 31
    assert rules["cxr-backup-postgres"]["Filter"].get("Prefix", rules["cxr-backup-postgres"].get("Prefix")) == "postgres/"

    # --- second run: nothing to do
    second = ansible_playbook(PLAYBOOK, *args, extra_vars=extra(names, bucket, backup_cronjobs_lifecycle_manage=True))
    assert second.rc == 0, second
    assert second.changed == 0, second

    # --- check mode tells the truth and changes nothing
    check = ansible_playbook(PLAYBOOK, *args, "--check", "--diff",
                             extra_vars=extra(names, bucket, backup_cronjobs_retention_days=14,
                                              backup_cronjobs_appdata_enabled=False))
    assert check.rc == 0, check
    assert check.changed == 1, check  # one task: update the remaining CronJobs, remove the appdata ones
    assert re.search(r"^\+\s+value: '?14'?$", check.stdout, re.M), check  # the diff shows the new retention
    jobs_after = {cj.metadata.name: cj for cj in k8s["batch"].list_namespaced_cron_job(ns).items}
    assert sorted(jobs_after) == sorted(jobs)
    c = jobs_after["cxr-backup-postgres"].spec.job_template.spec.template.spec.containers[0]
    assert env_of(c)["CXR_BACKUP_RETENTION_DAYS"] == "30"

    # --- state absent removes the CronJobs, accounts and RBAC (the namespace stays)
    gone = ansible_playbook(PLAYBOOK, *args, extra_vars=extra(names, bucket, backup_cronjobs_state="absent"))
    assert gone.rc == 0, gone
    assert k8s["batch"].list_namespaced_cron_job(ns).items == []
    assert [sa.metadata.name for sa in k8s["core"].list_namespaced_service_account(ns).items
            if sa.metadata.name.startswith("cxr-backup-")] == []
    assert [b for b in k8s["rbac"].list_namespaced_role_binding(names["export"]).items
            if b.metadata.name == f"{ns}-kube-config-reader"] == []


@pytest.mark.parametrize("bad, message", [
    ({"backup_cronjobs_retention_days": 0}, "backup_cronjobs_retention_days=0 (1-3650)"),
    ({"backup_cronjobs_kube_resources": ["v1/configmaps", "v1/secrets"]}, "never v1/secrets"),
    ({"backup_cronjobs_postgres_irsa_role_arn": "my-role"}, "backup_cronjobs_postgres_irsa_role_arn 'my-role' must be an IAM role ARN"),
])
def test_bad_input_is_refused_before_any_change(ansible_playbook, kubeconfig, k8s, names, bad, message):
    result = ansible_playbook(PLAYBOOK, "-e", f"cxr_kubeconfig={kubeconfig}", extra_vars=extra(names, "cxr-bk-unused", **bad))
    assert result.rc != 0
    assert message in result.stdout, result
    assert result.changed == 0
    assert names["ns"] not in [n.metadata.name for n in k8s["core"].list_namespace().items]
