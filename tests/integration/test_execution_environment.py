"""The AWX execution environment definition builds a context with ansible-builder (no container engine needed)."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def pins(lines):
    out = {}
    for line in lines:
        m = re.match(r"^\s*\"?([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\"\s,]+)", line)
        if m:
            out[m.group(1).lower()] = m.group(3)
    return out


def test_ee_pins_agree_with_the_project():
    project = pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    ee = pins((ROOT / "ee" / "requirements.txt").read_text().splitlines())
    assert ee, "ee/requirements.txt pins nothing"
    drift = {name: (version, project.get(name)) for name, version in ee.items() if project.get(name) != version}
    assert not drift, f"execution environment and pyproject.toml disagree: {drift}"


def test_ansible_builder_creates_the_build_context(tmp_path):
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                            str(ROOT / "build"), str(ROOT)], capture_output=True, text=True, env=env, check=False)
    assert build.returncode == 0, build.stderr
    ctx = tmp_path / "ctx"
    proc = subprocess.run([str(BIN / "ansible-builder"), "create", "-f", str(ROOT / "execution-environment.yml"),
                           "-c", str(ctx), "--output-filename", "Containerfile"], cwd=ROOT, capture_output=True,
                          text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (ctx / "Containerfile").read_text()
    assert "ansible-galaxy collection install /tmp/cxr-mlops-0.1.0.tar.gz" in containerfile
    assert (ctx / "_build" / "collections" / "cxr-mlops-0.1.0.tar.gz").exists()
    assert "kubernetes.core" in (ctx / "_build" / "requirements.yml").read_text()
    assert "boto3==" in (ctx / "_build" / "requirements.txt").read_text()
    for tool in ("terraform", "kubectl", "helm", "promtool", "aws/install"):
        assert tool in containerfile, f"the image does not get {tool}"
    python_deps = (ctx / "_build" / "requirements.txt").read_text()
    for lib in ("bcrypt==", "matplotlib==", "boto3=="):
        assert lib in python_deps, lib


def test_installed_collection_declares_its_ee_dependencies(tmp_path):
    """ansible-builder introspect on the installed tarball finds the collection's Python and system needs."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path",
                            str(tmp_path), str(ROOT)], capture_output=True, text=True, env=env, check=False)
    assert build.returncode == 0, build.stderr
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--force", "--no-deps", "-p",
                              str(tmp_path / "collections"), str(tmp_path / "cxr-mlops-0.1.0.tar.gz")],
                             capture_output=True, text=True, env=env, check=False)
    assert install.returncode == 0, install.stderr
    meta = tmp_path / "collections" / "ansible_collections" / "cxr" / "mlops" / "meta" / "execution-environment.yml"
    assert meta.exists(), install.stdout
    proc = subprocess.run([str(BIN / "ansible-builder"), "introspect", str(tmp_path / "collections")],
                          capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cxr.mlops" in proc.stdout, proc.stdout
    for needed in ("boto3==", "bcrypt==", "matplotlib==", "postgresql [platform:rpm]"):
        assert needed in proc.stdout, (needed, proc.stdout)
