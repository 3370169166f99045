"""Build the collection's tarball and install it into empty collections paths, as a user or an AWX job gets it.

Shared by tests/integration/test_installed_collection.py and test_awx_plan_stash.py. The environment leaves out
every ANSIBLE_*/CXR_*/MOLECULE_* variable of the developer's shell (ansible.cfg of the checkout included), so the
runs see only the installed copy and the bundled dependencies (.tools/collections, as from Galaxy).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BUNDLED = ROOT / ".tools" / "collections"


def clean_env() -> dict:
    """The process environment without the checkout's Ansible settings, with the virtualenv's tools first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_", "CXR_"))}
    env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
    return env


def build_tarball(dest: Path, env: dict | None = None) -> Path:
    """`ansible-galaxy collection build` of the checkout into ``dest``; the tarball's path."""
    env = env or clean_env()
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dest),
                            str(ROOT)], capture_output=True, text=True, env=env, cwd=dest.parent, check=False)
    assert build.returncode == 0, build.stderr
    return dest / "cxr-mlops-0.1.0.tar.gz"


def install(tarball: Path, collections: Path, env: dict | None = None) -> Path:
    """`ansible-galaxy collection install --no-deps` into an empty collections path; the installed collection."""
    env = env or clean_env()
    run = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "--no-deps", "-p", str(collections),
                          str(tarball)], capture_output=True, text=True, env=env, cwd=collections.parent, check=False)
    assert run.returncode == 0, run.stderr
    return collections / "ansible_collections" / "cxr" / "mlops"


def collections_path(collections: Path) -> str:
    """ANSIBLE_COLLECTIONS_PATH: the installed copy, then the bundled dependencies."""
    return f"{collections}:{BUNDLED}"
