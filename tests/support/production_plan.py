#!/usr/bin/env python3
"""The production inventory's Terraform plan, made by real terraform against moto.

    python tests/support/production_plan.py --aws-endpoint-url http://127.0.0.1:15000 /tmp/production-plan.json

What the ``terraform_apply`` role would plan for ``inventories/production``, without AWS:

* the variables are the inventory's ``terraform_apply_variables``
  (``group_vars/all/terraform_apply.yml``), their templates rendered with the literal settings of
  ``group_vars/all/main.yml`` (``cxr_project_name``, ``cxr_environment``, ``cxr_region``, ...); vault
  values are dummies (:data:`VAULT_DUMMIES`), and a vault value behind ``default(...)`` takes the
  default. A template that needs anything else fails with its name (StrictUndefined);
* the root module ``infrastructure/terraform`` is copied as it is (modules included) to a work
  folder, where ``backend_override.tf`` swaps the S3 backend for a local one (no state bucket
  needed; a plan does not write state) and ``aws_endpoint_url`` points the providers at moto;
* ``terraform init -lockfile=readonly``, ``plan -out``, ``show -json``. moto only answers the data
  sources (caller identity, AZs, region, partition, ELB account, session context): a plan creates
  nothing, so the shared sandbox's moto will do.

``tests/integration/test_cost_report.py`` prices the result with the production usage
(``infrastructure/terraform/environments/production.usage.yml``) and checks it against the seed's
ranges; docs/cost.md explains the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from jinja2 import StrictUndefined
from jinja2.nativetypes import NativeEnvironment

ROOT = Path(__file__).resolve().parents[2]
TF_ROOT = ROOT / "infrastructure" / "terraform"
INVENTORY = ROOT / "inventories" / "production"
# Values that live in the (encrypted) vault in production; never real secrets.
VAULT_DUMMIES = {"vault_terraform_apply_redis_auth_token": "dummy-redis-auth-token-0123456789"}
# Not part of the root module: the state bootstrap, backend and tfvars examples, local state and caches.
_NOT_COPIED = shutil.ignore_patterns(".terraform", "bootstrap", "backend", "environments", "*.tfstate*",
                                     "*.tfplan", "*override.tf", "*override.tf.json")


class PlanError(RuntimeError):
    """terraform failed or the inventory cannot be rendered; the message says which."""


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


def inventory_variables(inventory: Path = INVENTORY, vault: dict | None = None) -> dict:
    """The inventory's ``terraform_apply_variables`` with every template rendered."""
    group_vars = inventory / "group_vars" / "all"
    settings = _load(group_vars / "main.yml")
    variables = _load(group_vars / "terraform_apply.yml").get("terraform_apply_variables")
    if not isinstance(variables, dict) or not variables:
        raise PlanError(f"{group_vars / 'terraform_apply.yml'} defines no terraform_apply_variables")
    # Only literal settings: a template that needs a lookup (cxr_project_dir, ...) must not reach Terraform.
    context = {k: v for k, v in settings.items() if not (isinstance(v, str) and "{{" in v)}
    context.update(VAULT_DUMMIES if vault is None else vault)
    env = NativeEnvironment(undefined=StrictUndefined)

    def render(value, where):
        if isinstance(value, str) and "{{" in value:
            try:
                return env.from_string(value).render(context)
            except Exception as exc:  # jinja2 errors: UndefinedError, TemplateSyntaxError
                raise PlanError(f"terraform_apply_variables.{where}: cannot render {value!r}: {exc}") from exc
        if isinstance(value, list):
            return [render(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, dict):
            return {k: render(v, f"{where}.{k}") for k, v in value.items()}
        return value

    return {name: render(value, name) for name, value in variables.items()}


def _terraform(args: list[str], cwd: Path, env: dict, timeout: int) -> subprocess.CompletedProcess:
    proc = subprocess.run(["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode != 0:
        raise PlanError(f"terraform {args[0]} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def plan(aws_endpoint_url: str, workdir: Path, variables: dict | None = None, cli_config: Path | None = None,
         timeout: int = 1200) -> tuple[dict, dict]:
    """(``terraform show -json`` of the plan, {step: seconds}) for the production inventory's variables."""
    workdir = Path(workdir)
    root = workdir / "root"
    shutil.copytree(TF_ROOT, root, ignore=_NOT_COPIED)
    (root / "backend_override.tf").write_text('terraform {\n  backend "local" {}\n}\n')
    tfvars = dict(inventory_variables() if variables is None else variables, aws_endpoint_url=aws_endpoint_url)
    varfile = workdir / "production.tfvars.json"
    varfile.write_text(json.dumps(tfvars, indent=2))
    varfile.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update({"TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
                "TF_DATA_DIR": str(workdir / ".terraform"), "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": tfvars.get("region", "us-east-1")})
    if cli_config is not None:
        env["TF_CLI_CONFIG_FILE"] = str(cli_config)
    timings = {}
    plan_file = workdir / "production.tfplan"
    for step, args in (("init", ["init", "-input=false", "-lockfile=readonly"]),
                       ("plan", ["plan", "-input=false", f"-var-file={varfile}", f"-out={plan_file}"])):
        t0 = time.monotonic()
        _terraform(args, root, env, timeout)
        timings[step] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    shown = json.loads(_terraform(["show", "-json", str(plan_file)], root, env, timeout).stdout)
    timings["show"] = round(time.monotonic() - t0, 1)
    return shown, timings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="where to write the plan JSON")
    parser.add_argument("--aws-endpoint-url", default="http://127.0.0.1:15000",
                        help="the moto server (the sandbox's: make sandbox; default %(default)s)")
    parser.add_argument("--workdir", type=Path, help="work folder (default: a temporary one, removed afterwards)")
    args = parser.parse_args(argv)
    cli_config = os.environ.get("TF_CLI_CONFIG_FILE") or (ROOT / ".tools" / "terraformrc")
    cli_config = Path(cli_config) if Path(cli_config).is_file() else None
    work = args.workdir or Path(tempfile.mkdtemp(prefix="cxr-production-plan-"))
    try:
        shown, timings = plan(args.aws_endpoint_url, work, cli_config=cli_config)
    except PlanError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    args.output.write_text(json.dumps(shown))
    print(f"{args.output}: {sum(rc['mode'] == 'managed' for rc in shown['resource_changes'])} resources; "
          + ", ".join(f"{k} {v} s" for k, v in timings.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
