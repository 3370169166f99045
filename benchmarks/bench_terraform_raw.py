#!/usr/bin/env python3
"""Benchmark: raw terraform against the patched moto launcher (no Ansible), figures printed.

    .venv/bin/python benchmarks/bench_terraform_raw.py [--destroy]

Starts tests/support/moto_server.py on a free port, applies the bootstrap root (state bucket and
lock table), then times terraform init, validate, plan, apply and the no-op second plan of
infrastructure/terraform with the local sizing (and destroy with --destroy, deletion
protection switched off for that run). Needs terraform on PATH and the AWS provider in the
filesystem mirror (CXR_TF_PLUGIN_MIRROR, default /opt/tf-plugins).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TF_ROOT = ROOT / "infrastructure" / "terraform"
MIRROR = os.environ.get("CXR_TF_PLUGIN_MIRROR", "/opt/tf-plugins")
SIZING = {
    "environment": "local", "region": "us-east-1", "replica_region": "us-west-2", "az_count": 2,
    "single_nat_gateway": True, "ondemand_instance_types": ["t3.large"], "ondemand_min_size": 1,
    "ondemand_desired_size": 1, "ondemand_max_size": 2, "spot_instance_types": ["t3.large"],
    "spot_min_size": 0, "spot_desired_size": 1, "spot_max_size": 2, "db_instance_class": "db.t4g.micro",
    "db_allocated_storage": 20, "db_max_allocated_storage": 50, "db_multi_az": False,
    "redis_node_type": "cache.t4g.micro", "redis_num_cache_clusters": 2,
    "domain_name": "cxr.local.example.com", "alarm_email": "oncall@example.com", "log_retention_days": 90,
    "kms_deletion_window_days": 7, "force_destroy_buckets": True,
    "redis_auth_token": "local-sandbox-token-0123456789",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--destroy", action="store_true", help="also time terraform destroy")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cxr-tf-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "moto.log", "wb")
    t0 = time.monotonic()
    moto = subprocess.Popen([sys.executable, str(ROOT / "tests/support/moto_server.py"), "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT)
    figures: list[tuple[str, float, str]] = []
    try:
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2)
                break
            except OSError:
                if time.monotonic() - t0 > 120 or moto.poll() is not None:
                    raise SystemExit("moto launcher did not start")
                time.sleep(0.3)
        figures.append(("moto launcher ready", time.monotonic() - t0, ""))

        rc = work / "terraform.rc"
        rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{MIRROR}"\n  }}\n}}\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        env.update(TF_CLI_CONFIG_FILE=str(rc), TF_IN_AUTOMATION="1", AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1", CHECKPOINT_DISABLE="1")

        def tf(label, *cmd, cwd=TF_ROOT, data="root", ok=(0,)):
            start = time.monotonic()
            proc = subprocess.run(["terraform", *cmd, "-no-color"], cwd=cwd, capture_output=True, text=True,
                                  env=dict(env, TF_DATA_DIR=str(work / data)), timeout=1800)
            elapsed = time.monotonic() - start
            if proc.returncode not in ok:
                print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
                raise SystemExit(f"terraform {cmd[0]} failed ({proc.returncode})")
            if label:
                figures.append((label, elapsed, f"exit {proc.returncode}"))
            return proc

        boot = ["-var", "region=us-east-1", "-var", "state_bucket_name=cxr-bench-tfstate",
                "-var", "lock_table_name=cxr-bench-tflock", "-var", f"aws_endpoint_url={url}"]
        tf(None, "init", "-input=false", cwd=TF_ROOT / "bootstrap", data="boot")
        tf("bootstrap apply (state bucket + lock table)", "apply", "-auto-approve", "-input=false",
           f"-state={work / 'boot.tfstate'}", *boot, cwd=TF_ROOT / "bootstrap", data="boot")
        backend = work / "backend.tfbackend"
        backend.write_text(
            'bucket = "cxr-bench-tfstate"\nkey = "bench.tfstate"\nregion = "us-east-1"\n'
            'dynamodb_table = "cxr-bench-tflock"\nuse_path_style = true\nskip_credentials_validation = true\n'
            'skip_requesting_account_id = true\nskip_metadata_api_check = true\nskip_region_validation = true\n'
            f'endpoints = {{\n  s3 = "{url}"\n  dynamodb = "{url}"\n  sts = "{url}"\n}}\n')
        sizing = dict(SIZING, aws_endpoint_url=url)
        if args.destroy:
            sizing.update(db_deletion_protection=False, alb_deletion_protection=False)
        varfile = work / "local.tfvars.json"
        varfile.write_text(json.dumps(sizing))
        tf("init", "init", "-input=false", f"-backend-config={backend}")
        tf("validate", "validate")
        plan = work / "plan.tfplan"
        tf("plan", "plan", "-input=false", f"-var-file={varfile}", f"-out={plan}")
        count = len(json.loads(tf(None, "show", "-json", str(plan)).stdout)["resource_changes"])
        tf(f"apply ({count} resources)", "apply", "-input=false", str(plan))
        tf("no-op plan (-detailed-exitcode)", "plan", "-input=false", "-detailed-exitcode", f"-var-file={varfile}",
           ok=(0,))
        if args.destroy:
            tf("destroy", "destroy", "-auto-approve", "-input=false", f"-var-file={varfile}")
    finally:
        moto.terminate()
        moto.wait(timeout=30)
        log.close()

    print("== raw terraform against the patched moto server "
          f"(terraform + AWS provider 5.100, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f})")
    for label, seconds, note in figures:
        print(f"{label:45s} {seconds:8.1f} s  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
