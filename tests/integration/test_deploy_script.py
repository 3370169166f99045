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
