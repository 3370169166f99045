"""Every molecule scenario (molecule/*/), run for real as part of ``make test``.

Each scenario is ``molecule test -s <name>``: converge, idempotence (a second converge must report
``changed=0``) and verify, on localhost against the sandbox of the ``sandbox`` fixture, or against a
real cluster when ``KUBECONFIG`` points at one (the local inventory reads it). Driving molecule from
pytest lets xdist run the scenarios beside the other test files instead of after them.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))
# Scenarios long enough to get a file of their own (test_molecule_<name>.py), so --dist loadfile runs them on
# another worker than the rest.
OWN_FILE = ("terraform_apply",)

pytestmark = pytest.mark.slow


def test_there_are_scenarios():
    assert len(SCENARIOS) >= 7, SCENARIOS


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s not in OWN_FILE])
def test_molecule_scenario(scenario, sandbox):
    run_scenario(scenario, sandbox)


def run_scenario(scenario, sandbox):
    """``molecule test -s <scenario>`` against the sandbox; asserts converge, idempotence and verify passed."""
    bindir = Path(sys.executable).parent
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "NO_COLOR": "1",
           "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
           "CXR_SANDBOX_DIR": sandbox["state_dir"], "CXR_SANDBOX_PORT_BASE": str(sandbox["port_base"])}
    proc = subprocess.run([str(bindir / "molecule"), "test", "-s", scenario], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800, check=False)
    out = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    assert proc.returncode == 0, f"molecule test -s {scenario} exited {proc.returncode}:\n{out[-8000:]}"
    # every step of the matrix ran and passed: a scenario that dropped idempotence proves no no-op second run
    for step in ("converge", "idempotence", "verify"):
        assert re.search(rf"{step}\W+Executed: Successful", out), f"{step} did not run:\n{out[-3000:]}"
