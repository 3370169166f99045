"""docs/roles.md is generated from argument_specs and must match the roles as they are."""
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def test_role_reference_is_up_to_date():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_role_docs.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_every_role_documents_every_default():
    """A default in defaults/main.yml that argument_specs does not know is a variable nobody can look up."""
    problems = []
    for role in sorted((ROOT / "roles").iterdir()):
        spec_file = role / "meta" / "argument_specs.yml"
        assert spec_file.exists(), f"{role.name} has no meta/argument_specs.yml"
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"].get("options") or {}
        defaults_file = role / "defaults" / "main.yml"
        defaults = yaml.safe_load(defaults_file.read_text()) if defaults_file.exists() else {}
        for name in defaults or {}:
            if not name.startswith(role.name + "_"):
                problems.append(f"{role.name}: variable {name} is not prefixed with the role name")
            if name not in options:
                problems.append(f"{role.name}: default {name} missing from argument_specs")
    assert not problems, "\n".join(problems)
