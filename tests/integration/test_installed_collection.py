"""The collection as a user gets it: built, installed into an empty collections path, used from an unrelated folder.

No repository checkout on the way: the tarball is installed with `ansible-galaxy collection install` into a fresh
collections path (the bundled dependencies come from .tools/collections, as from Galaxy), the play runs from an
empty folder with no ansible.cfg and no inventory of ours, and sets only documented variables. It applies the
small guarded Terraform root with terraform_apply against a private moto server, prices the plan with
cost_estimate, gates on a real Prometheus (no scrape targets, constant queries) with health_gate, and runs the
collection's own cost_report playbook by its FQCN. Nothing may be written into the installed collection.
"""
from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from installed_collection import BIN, build_tarball, clean_env, collections_path, install  # tests/support
from tf_role import DB_PASSWORD, GUARDED, Moto, Root  # tests/support (on pytest's pythonpath, pyproject.toml)

pytestmark = [pytest.mark.slow, pytest.mark.sandbox, pytest.mark.terraform]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def prometheus(tmp_path):
    port = _free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global:\n  scrape_interval: 15s\nscrape_configs: []\n")
    log = open(tmp_path / "prometheus.log", "ab")
    proc = subprocess.Popen([shutil.which("prometheus") or "/usr/bin/prometheus", f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/-/ready", timeout=1)  # noqa: S310 (loopback)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.terminate()
        pytest.fail("prometheus did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=20)
    log.close()


def _tree_digest(path: Path) -> dict:
    return {str(p.relative_to(path)): p.stat().st_mtime_ns for p in sorted(path.rglob("*")) if p.is_file()}


def test_installed_collection_runs_from_an_unrelated_folder(tmp_path, prometheus):
    env = clean_env()
    tarball = build_tarball(tmp_path / "dist", env)
    collections = tmp_path / "collections"
    installed = install(tarball, collections, env)
    assert (installed / "infrastructure" / "terraform" / "main.tf").exists(), "the Terraform code ships"
    before = _tree_digest(installed)

    user = tmp_path / "user"
    user.mkdir()
    env.update(ANSIBLE_COLLECTIONS_PATH=collections_path(collections),
               ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False")
    moto = Moto(tmp_path / "moto.log")
    try:
        root = Root(moto, user / "artifacts" / "terraform", "in" + uuid.uuid4().hex[:6], project_dir=GUARDED)
        role_vars = root.extra_vars()
        role_vars.pop("terraform_apply_artifacts_dir")  # the documented default: cxr_artifacts_dir/terraform
        role_vars["cxr_artifacts_dir"] = str(user / "artifacts")
        (user / "vars.json").write_text(json.dumps({**role_vars, "prom_url": prometheus, "ansible_python_interpreter": sys.executable}))
        playbook = [{
            "name": "A user's play with the installed collection",
            "hosts": "localhost", "connection": "local", "gather_facts": False,
            "environment": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": "{{ cxr_aws_endpoint_url }}"},
            "tasks": [
                {"name": "Apply the root", "ansible.builtin.include_role": {"name": "cxr.mlops.terraform_apply"}},
                {"name": "Price the plan", "cxr.mlops.cost_estimate": {
                    "plan": "{{ cxr_artifacts_dir }}/terraform/{{ terraform_apply_name }}.tfplan.json",
                    "usage_preset": "small"}, "register": "cost"},
                {"name": "Gate", "cxr.mlops.health_gate": {
                    "prometheus_url": "{{ prom_url }}", "interval": "1s", "count": 2,
                    "metrics": [{"name": "constant", "query": "vector(1)", "operator": ">=", "threshold": 1}]},
                 "register": "gate"},
                {"name": "Report", "ansible.builtin.copy": {
                    "dest": "{{ playbook_dir }}/result.json", "mode": "0600",
                    "content": "{{ {'cost': cost.total_monthly_cost | default(cost.monthly_cost | default(none)),"
                               " 'cost_keys': cost.keys() | list, 'gate': gate.verdict} | to_json }}"}},
            ]}]
        (user / "site.yml").write_text(yaml.safe_dump(playbook, sort_keys=False))
        run = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "site.yml", "-e", "@vars.json"],
                             capture_output=True, text=True, env=env, cwd=user, timeout=900, check=False)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
        assert DB_PASSWORD not in run.stdout + run.stderr
        assert root.buckets() == [f"{root.name}-artifacts"], "the root was applied"
    finally:
        moto.stop()
    result = json.loads((user / "result.json").read_text())
    assert result["gate"] == "passed", result
    assert any(k in result["cost_keys"] for k in ("total_monthly_cost", "monthly_cost", "totals")), result
    assert (user / "artifacts" / "terraform" / f"{root.name}.tfplan.json").exists()

    report = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "cxr.mlops.cost_report",
                             "-e", f"cost_report_plan={user / 'artifacts' / 'terraform' / (root.name + '.tfplan.json')}",
                             "-e", "cost_report_chart=false", "-e", f"ansible_python_interpreter={sys.executable}"],
                            capture_output=True, text=True, env={**env, "PWD": str(user)}, cwd=user, timeout=600,
                            check=False)  # PWD as a shell sets it
    assert report.returncode == 0, report.stdout[-6000:] + report.stderr[-3000:]
    assert (user / ".cost-report" / "cost-report.md").exists(), "the report lands in the user's folder"
    assert _tree_digest(installed) == before, "the run wrote into the installed collection"
