#!/usr/bin/env python3
"""Orchestration overhead of the terraform_apply role: plan, apply and no-op re-run seconds through the role
(ansible-playbook playbooks/infrastructure.yml --tags terraform) beside raw terraform on the same root.

    .venv/bin/python benchmarks/bench_terraform.py                 # tests/fixtures/terraform/guarded (small)
    .venv/bin/python benchmarks/bench_terraform.py --full          # infrastructure/terraform (about 90 resources)

It starts its own moto server (tests/support/moto_server.py) on a free port and resets it between the raw and
the role runs, so both create the same resources from nothing. Raw terraform: init + plan -out, apply of the
plan, plan of the unchanged state. The role: mode=plan (init, validate, plan, show -json, guard, outputs),
mode=apply (checksum, guard, apply, outputs), then plan_and_apply with nothing to change.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(workdir: Path):
    port = free_port()
    log = open(workdir / "moto.log", "ab")
    proc = subprocess.Popen([PYTHON, str(ROOT / "tests/support/moto_server.py"), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)  # noqa: S310 (loopback)
            return proc, url
        except OSError:
            time.sleep(0.3)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("moto did not start")


def reset_moto(url: str) -> None:
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST"), timeout=30)  # noqa: S310


def create_bucket(url: str, name: str) -> None:
    import boto3
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=name)


def timed(argv, env, cwd=ROOT, ok=(0,)) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode not in ok:
        sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-2000:])
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, argv[:6]))} ...")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the full stack instead of the small fixture root")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-terraform-"))
    moto, url = start_moto(work)
    try:
        if args.full:
            import yaml
            root = ROOT / "infrastructure" / "terraform"
            local = yaml.safe_load((ROOT / "inventories/local/group_vars/all/terraform_apply.yml").read_text())
            variables = {k: v for k, v in local["terraform_apply_variables"].items() if "{{" not in str(v)}
            variables.update(project="cxr", environment="local", region="us-east-1", replica_region="us-west-2")
        else:
            root = ROOT / "tests" / "fixtures" / "terraform" / "guarded"
            variables = {"name_prefix": "bench", "db_password": "bench-password-123", "region": "us-east-1"}
        variables["aws_endpoint_url"] = url
        backend = {"bucket": "bench-tfstate", "key": "bench/terraform.tfstate", "region": "us-east-1",
                   "use_lockfile": True, "use_path_style": True, "skip_credentials_validation": True,
                   "skip_requesting_account_id": True, "skip_metadata_api_check": True,
                   "skip_region_validation": True, "endpoints": {"s3": url, "sts": url, "iam": url, "dynamodb": url}}
        tfrc = ROOT / ".tools" / "terraformrc"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url, "TF_IN_AUTOMATION": "1"}
        if tfrc.exists():
            env["TF_CLI_CONFIG_FILE"] = str(tfrc)

        # raw terraform
        create_bucket(url, backend["bucket"])
        raw = work / "raw"
        raw.mkdir()
        (raw / "vars.tfvars.json").write_text(json.dumps(variables))
        (raw / "backend.tfbackend.json").write_text(json.dumps(backend))
        renv = {**env, "TF_DATA_DIR": str(raw / ".terraform")}
        tf = ["terraform", f"-chdir={root}"]
        init = timed(tf + ["init", "-input=false", "-no-color", f"-backend-config={raw / 'backend.tfbackend.json'}"], renv)
        plan = timed(tf + ["plan", "-input=false", "-no-color", f"-var-file={raw / 'vars.tfvars.json'}",
                           f"-out={raw / 'p.tfplan'}"], renv)
        apply = timed(tf + ["apply", "-input=false", "-no-color", str(raw / "p.tfplan")], renv)
        noop = timed(tf + ["plan", "-input=false", "-no-color", "-detailed-exitcode",
                           f"-var-file={raw / 'vars.tfvars.json'}"], renv)

        # the role, from nothing again
        reset_moto(url)
        art = work / "role"
        ev = {"cxr_aws_endpoint_url": url, "terraform_apply_project_dir": str(root),
              "terraform_apply_artifacts_dir": str(art), "terraform_apply_name": "bench",
              "terraform_apply_create_backend": True, "terraform_apply_backend_config": backend,
              "terraform_apply_variables": variables, "terraform_apply_timeout": 3600}
        ap = [str(Path(PYTHON).parent / "ansible-playbook"), str(ROOT / "playbooks" / "infrastructure.yml"),
              "--tags", "terraform"]
        aenv = {**env, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
        role_plan = timed(ap + ["-e", json.dumps({**ev, "terraform_apply_mode": "plan"})], aenv)
        role_apply = timed(ap + ["-e", json.dumps({**ev, "terraform_apply_mode": "apply"})], aenv)
        role_noop = timed(ap + ["-e", json.dumps(ev)], aenv)

        print(f"root: {root.relative_to(ROOT)}  (moto {url}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
        print(f"{'step':<26}{'raw terraform s':>16}{'role s':>10}{'ratio':>8}")
        for name, r, o in (("plan (raw: init + plan)", init + plan, role_plan), ("apply", apply, role_apply),
                           ("no-op re-run", noop, role_noop)):
            print(f"{name:<26}{r:>16.1f}{o:>10.1f}{o / r:>8.2f}")
        total_raw, total_role = init + plan + apply + noop, role_plan + role_apply + role_noop
        print(f"{'total':<26}{total_raw:>16.1f}{total_role:>10.1f}{total_role / total_raw:>8.2f}")
    finally:
        os.killpg(moto.pid, signal.SIGTERM)
        try:
            moto.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(moto.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
