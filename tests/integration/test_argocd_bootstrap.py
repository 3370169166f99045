"""Role cxr.mlops.argocd_bootstrap against the sandbox (or a real cluster via KUBECONFIG).

Real ansible-playbook runs of playbooks/gitops.yml: the local test chart (tests/fixtures/charts/argo-cd,
same name and version as the pinned upstream chart) installed with real Helm into the Kubernetes API
test server, Secrets Manager on moto. The objects are read back with the Kubernetes Python client and
boto3, not through the role.
"""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import bcrypt
import boto3
import pytest
import yaml
from kubernetes import config as k8s_config
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from tests.conftest import (
    run_playbook,  # the module-scoped converge fixture needs it outside a fixture
)

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "gitops.yml"
HELM = ROOT / ".tools" / "bin" / "helm"
NAMESPACE = "argocd-it"
SECRET_NAME = "cxr/test/argocd-it/admin"
ROTATED = "It-Rotated-Pass-4242"

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.cluster]


def _helm():
    return str(HELM) if HELM.exists() else (shutil.which("helm") or "helm")


@pytest.fixture(scope="module")
def kube(kubeconfig):
    return DynamicClient(k8s_config.new_client_from_config(config_file=kubeconfig))


@pytest.fixture(scope="module")
def secrets(aws_env):
    return boto3.client("secretsmanager", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name=aws_env["AWS_REGION"],
                        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=aws_env["AWS_SECRET_ACCESS_KEY"])


@pytest.fixture(scope="module")
def base_vars(kubeconfig):
    return {"argocd_bootstrap_namespace": NAMESPACE, "argocd_bootstrap_admin_secret_name": SECRET_NAME,
            "argocd_bootstrap_kubeconfig": kubeconfig}


def _get(kube, api_version, kind, name, namespace=NAMESPACE):
    try:
        return kube.resources.get(api_version=api_version, kind=kind).get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def _secret_data(obj, key):
    return base64.b64decode(obj["data"][key]).decode()


def _stored(secrets):
    return json.loads(secrets.get_secret_value(SecretId=SECRET_NAME)["SecretString"])


def _revision(kubeconfig):
    out = subprocess.run([_helm(), "list", "-n", NAMESPACE, "-o", "json", "--kubeconfig", kubeconfig],
                         capture_output=True, text=True, check=True).stdout
    return {r["name"]: r["revision"] for r in json.loads(out)}


def _cleanup(kube, kubeconfig, secrets):
    subprocess.run([_helm(), "uninstall", "argocd", "-n", NAMESPACE, "--kubeconfig", kubeconfig, "--wait"],
                   capture_output=True, text=True, check=False)
    try:
        kube.resources.get(api_version="v1", kind="Namespace").delete(name=NAMESPACE)
    except NotFoundError:
        pass
    namespaces = kube.resources.get(api_version="v1", kind="Namespace")
    for _ in range(120):
        try:
            namespaces.get(name=NAMESPACE)
        except NotFoundError:
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"namespace {NAMESPACE} was not deleted")
    try:
        secrets.delete_secret(SecretId=SECRET_NAME, ForceDeleteWithoutRecovery=True)
    except secrets.exceptions.ResourceNotFoundException:
        pass


@pytest.fixture(scope="module")
def converged(kube, kubeconfig, secrets, base_vars):
    _cleanup(kube, kubeconfig, secrets)
    result = run_playbook(PLAYBOOK, extra_vars=base_vars)
    assert result.rc == 0, result
    assert result.changed > 0, result
    yield result
    _cleanup(kube, kubeconfig, secrets)


def test_converge_installs_argocd_with_rbac_projects_repositories_and_root_app(converged, kube, secrets):
    assert _get(kube, "v1", "Namespace", NAMESPACE, None) is not None
    for crd in ("applications.argoproj.io", "appprojects.argoproj.io", "applicationsets.argoproj.io"):
        assert _get(kube, "apiextensions.k8s.io/v1", "CustomResourceDefinition", crd, None), crd
    server = _get(kube, "apps/v1", "Deployment", "argocd-server")
    assert server["spec"]["template"]["spec"]["containers"][0]["image"] == "quay.io/argoproj/argocd:v2.13.3"
    assert server["status"]["readyReplicas"] >= 1

    rbac = _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"]
    policy = rbac["policy.csv"].splitlines()
    assert "p, role:ml-engineer, applications, sync, ml-research/*, allow" in policy
    assert "p, role:ml-engineer, applications, delete, ml-research/*, deny" in policy
    assert "g, cxr-ml-engineers, role:ml-engineer" in policy
    assert "g, cxr-platform-admins, role:admin" in policy
    assert rbac["policy.default"] == ""  # no access unless a policy line grants it
    assert rbac["scopes"] == "[groups]"

    projects = {name: _get(kube, "argoproj.io/v1alpha1", "AppProject", name)["spec"] for name in ("platform", "ml-research")}
    ml = projects["ml-research"]
    assert ml["sourceRepos"] == ["https://example.invalid/cxr/models.git"]
    assert ml["destinations"] == [{"server": "https://kubernetes.default.svc", "namespace": "cxr-ml-*"}]
    assert ml["clusterResourceWhitelist"] == []
    assert "*" not in projects["platform"]["sourceRepos"]

    repo = _get(kube, "v1", "Secret", "repo-cxr-platform")
    assert repo["metadata"]["labels"]["argocd.argoproj.io/secret-type"] == "repository"
    assert _secret_data(repo, "url") == "https://example.invalid/cxr/mlops.git"
    assert _secret_data(repo, "password") == "sandbox-repo-token"
    assert _secret_data(repo, "project") == "platform"

    root = _get(kube, "argoproj.io/v1alpha1", "Application", "cxr-platform")["spec"]
    assert root["project"] == "platform"
    assert root["source"]["path"] == "infrastructure/kubernetes/argocd/platform-apps"
    assert root["source"]["helm"]["valuesObject"]["repoURL"] == root["source"]["repoURL"]
    assert root["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
    assert "ServerSideApply=true" in root["syncPolicy"]["syncOptions"]

    initial = _secret_data(_get(kube, "v1", "Secret", "argocd-initial-admin-secret"), "password")
    stored = _stored(secrets)
    assert stored["password"] == initial and stored["source"] == "initial" and stored["username"] == "admin"
    assert bcrypt.checkpw(initial.encode(), _secret_data(_get(kube, "v1", "Secret", "argocd-secret"), "admin.password").encode())


def test_second_run_changes_nothing_and_never_prints_the_password(converged, ansible_playbook, kube, base_vars):
    initial = _secret_data(_get(kube, "v1", "Secret", "argocd-initial-admin-secret"), "password")
    result = ansible_playbook(PLAYBOOK, "-vvv", extra_vars=base_vars)
    assert result.rc == 0, result
    assert result.changed == 0, result
    for secret in (initial, "sandbox-repo-token"):  # the admin password and the repository token
        assert secret not in result.stdout + result.stderr
        assert base64.b64encode(secret.encode()).decode() not in result.stdout + result.stderr


def test_check_mode_reports_an_rbac_change_and_makes_none(converged, ansible_playbook, kube, kubeconfig, base_vars):
    before = _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"]
    revisions = _revision(kubeconfig)
    extra = {**base_vars, "argocd_bootstrap_rbac_extra_policy": "p, role:ml-engineer, applicationsets, get, ml-research/*, allow"}
    result = ansible_playbook(PLAYBOOK, "--check", "--diff", extra_vars=extra)
    assert result.rc == 0, result
    assert result.changed == 1, result
    assert "values differ at configs.rbac.policy.csv" in result.stdout
    assert "applicationsets, get, ml-research/*" in result.stdout  # the diff shows the new line
    assert _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"] == before
    assert _revision(kubeconfig) == revisions


def test_repository_tokens_never_reach_the_output_at_v(ansible_playbook, base_vars):
    """Issue 18 case 4: the repositories check looped over the repositories themselves, so -v printed
    every token. A refused repository must name itself, not its credentials."""
    token, key = "ghp_RepoTokenNeverShown0123456789", "-----BEGIN OPENSSH PRIVATE KEY-----KeyNeverShown42"
    repos = [{"name": "ok-repo", "url": "https://git.example.com/ok.git", "username": "bot", "password": token},
             {"name": "bad-repo", "url": "ftp://git.example.com/bad.git", "ssh_private_key": key}]
    result = ansible_playbook(PLAYBOOK, "-vvv", extra_vars={**base_vars, "argocd_bootstrap_repositories": repos})
    assert result.rc != 0, result
    out = result.stdout + result.stderr
    assert "argocd_bootstrap_repositories 'bad-repo'" in out
    for secret in (token, key):
        assert secret not in out and base64.b64encode(secret.encode()).decode() not in out
    assert result.changed == 0


@pytest.mark.parametrize("line,reason", [
    ("p, role:ml-engineer, applications, synch, ml-research/*, allow", "unknown action 'synch'"),
    ("p, role:ml-engineer, applications, get, ml-research/*", "got 5: missing effect"),
    ("p, role:ml-engineer, applications, get, ml-research/*, Allow", "bad effect 'Allow'"),
])
def test_malformed_rbac_line_is_refused_with_line_number_and_nothing_changes(converged, ansible_playbook, kube, kubeconfig,
                                                                            base_vars, line, reason):
    before = _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"]
    revisions = _revision(kubeconfig)
    extra = {**base_vars, "argocd_bootstrap_rbac_extra_policy": "p, role:ml-engineer, clusters, get, *, allow\n" + line}
    result = ansible_playbook(PLAYBOOK, extra_vars=extra)
    assert result.rc != 0, result
    out = result.stdout + result.stderr
    # Generated policy: a header, 14 role lines, 4 group lines, the extra header; the bad line is the 2nd extra one.
    message = next(ln for ln in out.splitlines() if "argocd_rbac_policy: refusing" in ln)
    assert "policy.csv line 22: " in message and reason in message, message
    assert "Render and validate the RBAC policy" in out
    assert result.changed == 0
    assert _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"] == before
    assert _revision(kubeconfig) == revisions


def test_rotation_sets_a_bcrypt_hash_stores_it_and_survives_an_upgrade(converged, ansible_playbook, kube, kubeconfig,
                                                                       secrets, base_vars):
    initial = _secret_data(_get(kube, "v1", "Secret", "argocd-initial-admin-secret"), "password")
    revision = _revision(kubeconfig)["argocd"]
    rotate = {**base_vars, "argocd_bootstrap_admin_password_rotate": True, "argocd_bootstrap_admin_password": ROTATED,
              # an RBAC change in the same run: the chart upgrade must not reset the rotated password
              "argocd_bootstrap_rbac_extra_policy": "p, role:ml-engineer, applicationsets, get, ml-research/*, allow"}
    result = ansible_playbook(PLAYBOOK, "-vvv", extra_vars=rotate)
    assert result.rc == 0, result
    out = result.stdout + result.stderr
    assert ROTATED not in out and initial not in out

    secret = _get(kube, "v1", "Secret", "argocd-secret")
    assert bcrypt.checkpw(ROTATED.encode(), _secret_data(secret, "admin.password").encode())
    assert _secret_data(secret, "admin.passwordMtime").endswith("Z")
    assert _get(kube, "v1", "Secret", "argocd-initial-admin-secret") is None
    assert _stored(secrets) == {"username": "admin", "password": ROTATED, "url": "https://argocd.cxr.local", "source": "managed"}
    assert _revision(kubeconfig)["argocd"] > revision
    assert "p, role:ml-engineer, applicationsets, get, ml-research/*, allow" in \
        _get(kube, "v1", "ConfigMap", "argocd-rbac-cm")["data"]["policy.csv"]

    again = ansible_playbook(PLAYBOOK, "--check", "--diff", extra_vars=rotate)
    assert again.rc == 0, again
    assert again.changed == 0, again


def test_app_of_apps_chart_orders_monitoring_crds_first():
    values = {"repoURL": "https://example.invalid/cxr/mlops.git", "environment": "staging"}
    proc = subprocess.run([_helm(), "template", "root", str(ROOT / "infrastructure/kubernetes/argocd/platform-apps"),
                           "--set-json", "repoURL=" + json.dumps(values["repoURL"]), "--set", "environment=staging"],
                          capture_output=True, text=True, check=True)
    apps = [d for d in yaml.safe_load_all(proc.stdout) if d]
    waves = {a["metadata"]["name"]: int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]) for a in apps}
    assert waves["monitoring-crds"] < waves["monitoring"] == min(w for n, w in waves.items() if n != "monitoring-crds")
    for app in apps:
        policy = app["spec"]["syncPolicy"]
        assert policy["automated"] == {"prune": True, "selfHeal": True}, app["metadata"]["name"]
        assert "ServerSideApply=true" in policy["syncOptions"], app["metadata"]["name"]
        assert app["metadata"]["labels"]["cxr.io/environment"] == "staging"
    monitoring = next(a for a in apps if a["metadata"]["name"] == "monitoring")["spec"]
    assert monitoring["sources"][0]["helm"]["skipCrds"] is True
    assert monitoring["sources"][1] == {"repoURL": values["repoURL"], "targetRevision": "main", "ref": "values"}
    # ArgoCD reads these files from the platform repository: they must exist in it.
    for ref in monitoring["sources"][0]["helm"]["valueFiles"]:
        assert (ROOT / ref.removeprefix("$values/")).is_file(), ref
