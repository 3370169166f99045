#!/usr/bin/env python3
"""Write docs/roles.md from every role's meta/argument_specs.yml, so the variable reference never drifts.

    gen_role_docs.py           rewrite docs/roles.md
    gen_role_docs.py --check   exit 1 (and say which) when docs/roles.md is out of date
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "roles.md"


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return " ".join(str(value).split()).replace("|", "\\|")


def _default(option: dict) -> str:
    if "default" not in option:
        return "**required**" if option.get("required") else ""
    return "`" + _text(yaml.safe_dump(option["default"], default_flow_style=True, width=10_000).strip()
                       .removesuffix("...").strip()) + "`"


def _type(option: dict) -> str:
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        kind = f"list of {option['elements']}"
    if option.get("choices"):
        kind += " (" + ", ".join(f"`{c}`" for c in option["choices"]) + ")"
    return kind


def render() -> str:
    out = ["# Role variables", "",
           "Generated from each role's `meta/argument_specs.yml` by `scripts/gen_role_docs.py`",
           "(`make docs`); a test fails when this page is out of date. Per-environment values live in",
           "`inventories/<env>/group_vars/all/<role>.yml`.", ""]
    roles = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))
    for role in roles:
        spec = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]
        out += [f"## cxr.mlops.{role.name}", "", _text(spec.get("short_description")), ""]
        if spec.get("description"):
            out += [_text(spec["description"]), ""]
        out += ["| variable | type | default | description |", "|---|---|---|---|"]
        for name, option in sorted((spec.get("options") or {}).items()):
            out.append(f"| `{name}` | {_type(option)} | {_default(option)} | {_text(option.get('description'))} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = render()
    if args.check:
        if not TARGET.exists() or TARGET.read_text() != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run `make docs`", file=sys.stderr)
            return 1
        return 0
    TARGET.parent.mkdir(exist_ok=True)
    TARGET.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
