"""The foundation as an operator meets it: site.yml's preflight, the sandbox role, the collection build."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]
FAST_PARTS = ["postgres", "blue", "green"]


def test_site_syntax_check(ansible_playbook):
    result = ansible_playbook("site.yml", "--syntax-check")
    assert result.rc == 0, result


def test_unknown_environment_fails_before_anything_changes(ansible_playbook, private_sandbox):
    result = ansible_playbook("site.yml", "-e", "cxr_environment=qa", env=private_sandbox)
    assert result.rc != 0
    assert "Unknown environment 'qa'" in result.stdout
    assert not Path(private_sandbox["CXR_SANDBOX_DIR"]).exists(), "nothing may start after a failed preflight"


def test_bad_role_input_is_refused_by_argument_specs(ansible_playbook, private_sandbox):
    result = ansible_playbook("site.yml", "-e", json.dumps({"local_sandbox_parts": ["moto", "mainframe"]}),
                              env=private_sandbox)
    assert result.rc != 0
    assert "local_sandbox_parts" in result.stdout and "mainframe" in result.stdout
    assert not Path(private_sandbox["CXR_SANDBOX_DIR"]).exists()


def test_sandbox_is_idempotent_and_check_mode_tells_the_truth(ansible_playbook, private_sandbox):
    parts = {"local_sandbox_parts": FAST_PARTS}
    check = ansible_playbook("playbooks/sandbox.yml", "--check", extra_vars=parts, env=private_sandbox)
    assert check.rc == 0, check
    assert check.changed == 1, check  # it would start the sandbox ...
    assert not (Path(private_sandbox["CXR_SANDBOX_DIR"]) / "pids").exists()  # ... and did not

    first = ansible_playbook("playbooks/sandbox.yml", extra_vars=parts, env=private_sandbox)
    assert first.rc == 0 and first.changed == 1, first
    second = ansible_playbook("playbooks/sandbox.yml", extra_vars=parts, env=private_sandbox)
    assert second.rc == 0 and second.changed == 0, second
    endpoints = json.loads((Path(private_sandbox["CXR_SANDBOX_DIR"]) / "endpoints.json").read_text())
    assert endpoints["postgres"]["port"] == int(private_sandbox["CXR_SANDBOX_PORT_BASE"]) + 2
    assert endpoints["postgres"]["password"] not in first.stdout + second.stdout


def test_a_taken_port_fails_early_naming_the_part(ansible_playbook, private_sandbox):
    base = int(private_sandbox["CXR_SANDBOX_PORT_BASE"])
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", base + 5))  # the green exporter's port
    blocker.listen()
    try:
        result = ansible_playbook("playbooks/sandbox.yml", extra_vars={"local_sandbox_parts": FAST_PARTS},
                                  env=private_sandbox)
    finally:
        blocker.close()
    assert result.rc != 0
    assert f"green (127.0.0.1:{base + 5})" in result.stdout
    assert not (Path(private_sandbox["CXR_SANDBOX_DIR"]) / "pids" / "postgres.pid").exists(), "nothing was started"


def test_collection_builds(tmp_path):
    out = subprocess.run([str(Path(sys.executable).parent / "ansible-galaxy"), "collection", "build", "--force",
                          "--output-path", str(tmp_path), str(ROOT)], capture_output=True, text=True, check=False,
                         env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    assert out.returncode == 0, out.stderr
    tarball = tmp_path / "cxr-mlops-0.1.0.tar.gz"
    assert tarball.exists()
    listing = subprocess.run(["tar", "tzf", str(tarball)], capture_output=True, text=True, check=True).stdout
    assert "roles/local_sandbox/meta/argument_specs.yml" in listing
    assert ".sandbox/" not in listing and ".venv/" not in listing and ".collections" not in listing
