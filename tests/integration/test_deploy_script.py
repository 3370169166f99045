"""scripts/deploy_production_infrastructure.py as an operator runs it (through ansible-runner)."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "deploy_production_infrastructure.py"


def deploy(*args, env=None, timeout=600):
    import os
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, check=False)


def test_production_needs_explicit_confirmation(tmp_path):
    proc = deploy("--env", "production", "--artifacts-dir", str(tmp_path / "a"))
    assert proc.returncode == 3
    assert "--confirm-production" in proc.stderr
    assert not (tmp_path / "a").exists(), "nothing may run"


@pytest.mark.parametrize("args", [["--env", "qa"], ["--env", "local", "-e", "not-a-pair"],
                                  ["--env", "local", "--terraform-only", "--k8s-only"]])
def test_bad_arguments_exit_2(args, tmp_path):
    proc = deploy(*args, "--artifacts-dir", str(tmp_path / "a"))
    assert proc.returncode == 2, proc.stderr


@pytest.mark.slow
@pytest.mark.sandbox
def test_preflight_refusal_has_its_own_exit_code(private_sandbox, tmp_path):
    proc = deploy("--env", "local", "--tags", "sandbox", "-e", "cxr_environment=qa",
                  "--artifacts-dir", str(tmp_path / "a"), env=private_sandbox)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "refused by preflight" in proc.stdout
    assert "Unknown environment 'qa'" in proc.stdout


@pytest.mark.slow
@pytest.mark.sandbox
def test_sandbox_phase_runs_with_progress_and_summary(private_sandbox, tmp_path):
    artifacts = tmp_path / "a"
    proc = deploy("--env", "local", "--tags", "sandbox", "-e",
                  json.dumps({"local_sandbox_parts": ["postgres", "blue", "green"]}),
                  "--artifacts-dir", str(artifacts), env=private_sandbox)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== Local sandbox" in proc.stdout  # a progress line per phase
    assert "changed  Start the sandbox parts that are not running" in proc.stdout
    assert "succeeded" in proc.stdout
    summary = json.loads((artifacts / "deploy-summary.json").read_text())
    assert summary["environment"] == "local"
    assert list((artifacts / "artifacts").iterdir()), "runner artifacts are kept"
    again = deploy("--env", "local", "--tags", "sandbox", "--check", "-e",
                   json.dumps({"local_sandbox_parts": ["postgres", "blue", "green"]}),
                   "--artifacts-dir", str(artifacts), env=private_sandbox)
    assert again.returncode == 0
    assert "changed tasks      0" in again.stdout


def test_extra_vars_file_with_a_yaml_error_names_file_and_line(tmp_path):
    bad = tmp_path / "vars.yml"
    bad.write_text("cxr_environment: local\nfoo: [1, 2\nbar: 3\n")
    proc = deploy("--env", "local", "-e", f"@{bad}", "--artifacts-dir", str(tmp_path / "a"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{bad}:" in proc.stderr and "YAML syntax error" in proc.stderr
    assert not (tmp_path / "a").exists(), "nothing may run"


@pytest.mark.slow
@pytest.mark.sandbox
def test_runner_artifacts_hold_no_environment_and_no_extra_var_secret(private_sandbox, tmp_path):
    """Issue 18 case 5: ansible-runner used to write the whole environment into artifacts/<id>/command."""
    import base64
    secrets = {"AWS_SECRET_ACCESS_KEY": "envSecretZ9q8w7e6r5t4y3u2i1o0p", "AWS_SESSION_TOKEN": "sessTokenQ1w2e3r4t5y6u7i8o9p0"}
    extra_secret = "extraVarSecretM1n2b3v4c5x6z7"
    artifacts = tmp_path / "a"
    proc = deploy("--env", "local", "--tags", "sandbox", "-e", "cxr_environment=qa",
                  "-e", json.dumps({"argocd_bootstrap_admin_password": extra_secret}),
                  "--artifacts-dir", str(artifacts), env={**private_sandbox, **secrets})
    assert proc.returncode == 4, proc.stdout + proc.stderr
    values = [*secrets.values(), extra_secret]
    needles = {v: [v.encode(), base64.b64encode(v.encode())] for v in values}
    files = [p for p in artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "command" for p in files), "the runner's command file is kept"
    command = json.loads(next(p for p in files if p.name == "command").read_text())
    assert "env" not in command
    found = [(str(p.relative_to(artifacts)), v) for p in files for v, forms in needles.items()
             if any(f in p.read_bytes() for f in forms)]
    found += [("stdout/stderr", v) for v, forms in needles.items()
              if any(f.decode() in proc.stdout + proc.stderr for f in forms)]
    assert not found, f"secrets found: {found}"


def test_local_check_without_a_sandbox_says_make_sandbox(tmp_path):
    """Issue 18 case 8: it used to fail after 33 s with a Terraform error cut mid-word."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    proc = deploy("--env", "local", "--check", "--artifacts-dir", str(tmp_path / "a"),
                  env={"CXR_SANDBOX_PORT_BASE": str(free)}, timeout=60)
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "make sandbox" in proc.stderr and f"127.0.0.1:{free}" in proc.stderr
    assert not (tmp_path / "a").exists(), "nothing may run"
