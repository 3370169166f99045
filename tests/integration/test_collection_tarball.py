"""The collection tarball after a run: `ansible-galaxy collection build` must leave out every product of a run.

A copy of the tracked tree gets a real run of the terraform_apply role in plan mode (real terraform against a
private moto server, on the small guarded root) that writes its artefacts into the copy: the generated tfvars
(with the run's database password), the backend configuration, the binary plan and its JSON, Terraform's data
dir. Beside them the files other runs leave in a checkout: the sandbox's state dir with its kubeconfig and a
token, a local state file, a cost report. The tarball built from that copy must hold none of them, nor any
byte of the run's secrets, and still hold what a user needs (roles, plugins, the Terraform code).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path

import pytest

from tf_role import DB_PASSWORD, Moto, Root, assert_ok  # tests/support (on pytest's pythonpath, pyproject.toml)

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "sandbox-token-" + uuid.uuid4().hex  # a secret a sandbox run leaves in its kubeconfig

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


def _copy_tracked_tree(dest: Path) -> None:
    files = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src.read_bytes())
        target.chmod(src.stat().st_mode & 0o777)


def _leave_other_run_products(tree: Path) -> list[Path]:
    kubeconfig = f"apiVersion: v1\nkind: Config\nusers:\n- name: sandbox\n  user:\n    token: {TOKEN}\n"
    planted = {
        ".sandbox/kubeconfig": kubeconfig,
        ".sandbox/artifacts/eks-kubeconfig": kubeconfig,
        ".sandbox/pids/moto.pid": "4242\n",
        "artifacts/production/kubeconfig": kubeconfig,
        "infrastructure/terraform/terraform.tfstate": '{"version": 4, "serial": 3, "outputs": {"token": "%s"}}' % TOKEN,
        "infrastructure/terraform/terraform.tfstate.backup": '{"version": 4}',
        "infrastructure/terraform/prod.tfvars": f'db_password = "{TOKEN}"\n',
        "infrastructure/terraform/.terraform/terraform.tfstate": "{}",
        ".cost-report/report.md": "# cost\n",
        "build/cxr-mlops-0.0.9.tar.gz": "old build\n",
        "roles/eks_access/files/kubeconfig": kubeconfig,
    }
    paths = []
    for rel, text in planted.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def test_tarball_after_a_run_holds_no_artefact_and_no_secret(tmp_path):
    tree = tmp_path / "checkout"
    _copy_tracked_tree(tree)
    moto = Moto(tmp_path / "moto.log")
    try:
        artifacts = tree / "artifacts" / "terraform"
        root = Root(moto, artifacts, "tb" + uuid.uuid4().hex[:6],
                    project_dir=tree / "tests" / "fixtures" / "terraform" / "guarded")
        from tests.conftest import run_playbook
        result = root.run(run_playbook, terraform_apply_mode="plan")
        assert_ok(result)
    finally:
        moto.stop()
    produced = [p for p in artifacts.rglob("*") if p.is_file()]
    names = {p.name for p in produced}
    assert f"{root.name}.tfplan" in names and f"{root.name}.tfvars.json" in names, sorted(names)
    assert DB_PASSWORD in (artifacts / f"{root.name}.tfvars.json").read_text(), "the run's secret is on disk"
    planted = _leave_other_run_products(tree)

    out = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--force",
                          "--output-path", str(tmp_path / "dist"), str(tree)], capture_output=True, text=True,
                         env={**os.environ, "ANSIBLE_CONFIG": str(tree / "ansible.cfg")}, check=False)
    assert out.returncode == 0, out.stderr
    tarball = tmp_path / "dist" / "cxr-mlops-0.1.0.tar.gz"
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        listing = [m.name for m in members]
        leaked = []
        for member in members:
            if member.isfile():
                data = tar.extractfile(member).read()
                if DB_PASSWORD.encode() in data or TOKEN.encode() in data:
                    leaked.append(member.name)
    assert not leaked, f"secrets of the run are in the tarball: {leaked}"
    forbidden = [n for n in listing
                 if n.split("/")[0] in {"artifacts", ".sandbox", ".cost-report", "build", "benchmarks",
                                        "molecule", ".venv", ".tools", ".git", "Makefile", "pyproject.toml"}
                 or n.startswith("tests/") and not n.startswith("tests/support")
                 or "kubeconfig" in n.rsplit("/", 1)[-1] and not n.endswith(".j2")
                 or any(part in {".terraform"} for part in n.split("/"))
                 or n.endswith((".tfstate", ".tfstate.backup", ".tfplan", ".tfplan.json", ".tfvars", ".tfvars.json",
                                ".tar.gz"))]
    assert not forbidden, f"run artefacts or dev-only files in the tarball: {forbidden}"
    # what a user of the installed collection needs is still there
    for needed in ("roles/terraform_apply/tasks/main.yml", "plugins/modules/cost_estimate.py",
                   "infrastructure/terraform/main.tf", "meta/runtime.yml", "playbooks/infrastructure.yml",
                   "tests/support/sandbox.py", "tests/support/kubeapi_server.py"):
        assert needed in listing, needed
    assert len(planted) == 11
