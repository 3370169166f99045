#!/usr/bin/env python3
"""DR drill: recovery point age and time to recover of playbooks/dr_failover.yml against RPO 1 h / RTO 4 h.

    .venv/bin/python benchmarks/bench_dr_failover.py [--runs 3]

Uses the sandbox in $CXR_SANDBOX_DIR (default .sandbox; started if needed, only moto). Each run sets up
the replica region in moto (us-west-2: a snapshot of the primary's database, the replica model bucket,
a Route 53 zone whose record points at the primary's ALB), runs the real playbook in restore_snapshot
mode with the approval given (dr_failover_approved=true, as AWX after its approval node) and prints the
recovery point age and the time to recover the playbook reports, plus the playbook's wall time.

What it does not measure: moto makes restored instances available at once, so the time to recover here
is the playbook's own overhead (checks, API calls, DNS); on AWS a snapshot restore of a db.t4g.medium
takes roughly 10-30 minutes more (docs/runbooks/restore.md).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

import sandbox as sandbox_mod  # noqa: E402

RPO_MIN = 60
RTO_MIN = 240
REPORT = re.compile(r"Failed over to (\S+) in ([0-9.]+) minutes \(RTO target 240\)\. Recovery point: snapshot "
                    r"(\S+), ([0-9.]+) minutes old \(RPO (\d+)\)")


def replica_region(boto3) -> dict:
    west = boto3.client("rds", region_name="us-west-2")
    ec2 = boto3.client("ec2", region_name="us-west-2")
    tag = uuid.uuid4().hex[:8]
    vpc = ec2.create_vpc(CidrBlock="10.78.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.78.{i}.0/24", AvailabilityZone=f"us-west-2{az}")["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    west.create_db_subnet_group(DBSubnetGroupName=f"bench-dr-{tag}", DBSubnetGroupDescription="bench", SubnetIds=subnets)
    source = f"bench-dr-{tag}-src"  # stands for the primary whose snapshots are copied to the replica region
    west.create_db_instance(DBInstanceIdentifier=source, DBInstanceClass="db.t4g.medium", Engine="postgres",
                            MasterUsername="cxr", MasterUserPassword="not-a-real-secret", AllocatedStorage=20,
                            BackupRetentionPeriod=30, StorageEncrypted=True, DBSubnetGroupName=f"bench-dr-{tag}")
    west.create_db_snapshot(DBSnapshotIdentifier=f"{source}-copy", DBInstanceIdentifier=source)
    bucket = f"cxr-bench-dr-{tag}"
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = f"bench-dr-{tag}.example.com"
    zone_id = r53.create_hosted_zone(Name=zone, CallerReference=tag)["HostedZone"]["Id"]
    r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": f"api.{zone}", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "primary.us-east-1.elb.amazonaws.com", "EvaluateTargetHealth": True}}}]})
    return {"dr_failover_db_mode": "restore_snapshot", "dr_failover_db_source_instance_id": source,
            "dr_failover_db_instance_id": f"bench-dr-{tag}-restored", "dr_failover_db_subnet_group": f"bench-dr-{tag}",
            "dr_failover_model_bucket": bucket, "dr_failover_model_config_map": "", "dr_failover_dns_zone": zone,
            "dr_failover_dns_record": f"api.{zone}", "dr_failover_alb_dns_name": "dr.us-west-2.elb.amazonaws.com",
            "dr_failover_alb_zone_id": "Z1H1FL5HABSF5", "dr_failover_approved": True}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    state = os.environ.get("CXR_SANDBOX_DIR") or str(ROOT / ".sandbox")
    box = sandbox_mod.Sandbox(state)
    box.up(["moto"])
    os.environ.update({"AWS_ENDPOINT_URL": box.endpoints()["moto"], "AWS_ACCESS_KEY_ID": "testing",
                       "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "CXR_SANDBOX_DIR": state})
    import boto3

    print(f"DR drill (playbooks/dr_failover.yml, restore_snapshot, moto us-east-1 -> us-west-2), "
          f"RPO {RPO_MIN} min, RTO {RTO_MIN} min")
    print(f"{'run':>3} {'recovery point age (min)':>25} {'time to recover (min)':>22} {'playbook wall (s)':>18}  verdict")
    worst = 0
    for run in range(1, args.runs + 1):
        extra = replica_region(boto3)
        t0 = time.monotonic()
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "playbooks/dr_failover.yml",
                               "-e", json.dumps(extra)], cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
                              env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"})
        wall = time.monotonic() - t0
        match = REPORT.search(proc.stdout)
        if proc.returncode != 0 or not match:
            print(proc.stdout[-3000:] + proc.stderr[-2000:], file=sys.stderr)
            print(f"run {run}: dr_failover.yml failed (rc {proc.returncode})", file=sys.stderr)
            return 1
        rto, age = float(match.group(2)), float(match.group(4))
        ok = age <= RPO_MIN and rto <= RTO_MIN
        worst = max(worst, 0 if ok else 1)
        print(f"{run:>3} {age:>25.1f} {rto:>22.2f} {wall:>18.1f}  {'within RPO/RTO' if ok else 'MISSED'}")
    return worst


if __name__ == "__main__":
    sys.exit(main())
