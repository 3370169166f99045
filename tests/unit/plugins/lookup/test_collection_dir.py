"""cxr.mlops.collection_dir: the running collection's directory, whatever folder the inventory sits in."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ansible_collections.cxr.mlops.plugins.lookup.collection_dir import collection_dir

ROOT = Path(__file__).resolve().parents[4]


def test_three_levels_above_the_plugin():
    assert collection_dir("/c/ansible_collections/cxr/mlops/plugins/lookup/collection_dir.py") == \
        "/c/ansible_collections/cxr/mlops"


def test_an_inventory_copied_elsewhere_still_finds_the_project(tmp_path):
    """What AWX does with a project inventory: copies it to /runner/inventory (here: an unrelated folder)."""
    import shutil
    inventory = tmp_path / "runner" / "inventory"
    shutil.copytree(ROOT / "inventories" / "staging", inventory)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "control", "-i", str(inventory / "hosts.yml"),
                           "-m", "ansible.builtin.debug", "-a", "var=terraform_apply_project_dir"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{ROOT / 'infrastructure' / 'terraform'}\n" in proc.stdout.replace('"', "\n"), proc.stdout
    assert str(tmp_path) not in proc.stdout
