"""playbooks/restore_drill.yml and playbooks/dr_failover.yml against the sandbox (real PostgreSQL, moto)."""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "backup"))

from cxr_backup import pg  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.sandbox]

DRILL = "playbooks/restore_drill.yml"
FAILOVER = "playbooks/dr_failover.yml"


@pytest.fixture
def aws(monkeypatch, aws_env):
    for k, v in aws_env.items():
        monkeypatch.setenv(k, v)
    import boto3

    return lambda svc, region="us-east-1": boto3.client(svc, region_name=region)


@pytest.fixture
def admin(sandbox) -> pg.PgTarget:
    p = sandbox["postgres"]
    return pg.PgTarget(host=p["host"], port=int(p["port"]), user=p["user"], dbname=p["dbname"], password=p["password"])


@pytest.fixture
def backed_up(admin, aws):
    """A seeded database with one dump in a fresh bucket."""
    db = f"bk_drill_{uuid.uuid4().hex[:8]}"
    bucket = f"cxr-bk-drill-{uuid.uuid4().hex[:10]}"
    s3 = aws("s3")
    s3.create_bucket(Bucket=bucket)
    with admin.connect() as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    with admin.with_db(db).connect() as conn:
        conn.execute("CREATE TABLE scans (id int PRIMARY KEY, label text, score float8);"
                     "INSERT INTO scans SELECT g, 'label ' || (g % 9), g / 3.0 FROM generate_series(1, 20000) g;"
                     "CREATE TABLE audit (at timestamptz DEFAULT now(), what text);"
                     "INSERT INTO audit (what) SELECT 'event ' || g FROM generate_series(1, 100) g;")
    result = pg.backup(admin.with_db(db), bucket, s3=s3)
    yield {"db": db, "bucket": bucket, "key": result["key"], "s3": s3}
    with admin.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def scratch_databases(admin) -> list[str]:
    with admin.connect() as conn:
        return [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'cxr_restore_drill_%'")]


def rds_instance(aws, region="us-east-1", suffix=""):
    """An encrypted RDS instance with point-in-time recovery in moto (and its subnet group)."""
    ec2, rds = aws("ec2", region), aws("rds", region)
    vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.77.{i}.0/24", AvailabilityZone=f"{region}{az}")["Subnet"]["SubnetId"]
               for i, az in enumerate("ab")]
    group = f"bk-drill-{uuid.uuid4().hex[:8]}"
    rds.create_db_subnet_group(DBSubnetGroupName=group, DBSubnetGroupDescription="drill", SubnetIds=subnets)
    ident = f"bk-drill-{uuid.uuid4().hex[:8]}{suffix}"
    rds.create_db_instance(DBInstanceIdentifier=ident, DBInstanceClass="db.t4g.medium", Engine="postgres", MasterUsername="cxr",
                           MasterUserPassword="not-a-real-secret", AllocatedStorage=20, BackupRetentionPeriod=30,
                           StorageEncrypted=True, DBSubnetGroupName=group)
    return ident


def test_drill_restores_verifies_measures_and_cleans_up(ansible_playbook, admin, backed_up, aws, tmp_path):
    ident = rds_instance(aws)
    before = {i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"]}
    extra = {"restore_drill_bucket": backed_up["bucket"], "restore_drill_source_db": backed_up["db"],
             "restore_drill_rds_instance_id": ident, "restore_drill_report_dir": str(tmp_path)}

    check = ansible_playbook(DRILL, "--check", extra_vars=extra)
    assert check.rc == 0, check
    flat = " ".join(check.stdout.split())  # the result callback folds long messages
    assert f"CHECK MODE: would restore s3://{backed_up['bucket']}/{backed_up['key']} (checksum verified, 2 tables" in flat
    assert check.changed == 0 and list(tmp_path.iterdir()) == []
    assert {i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"]} == before

    result = ansible_playbook(DRILL, extra_vars=extra)
    assert result.rc == 0, result
    assert "RESTORE DRILL PASSED" in result.stdout
    (report_file,) = tmp_path.glob("restore-drill-*.json")
    report = json.loads(report_file.read_text())
    assert report["verified"] is True and report["tables"] == 2 and report["rows"] == 20100
    assert report["backup"] == f"s3://{backed_up['bucket']}/{backed_up['key']}"
    assert 0 < report["achieved_rto_seconds"] < 4 * 3600 and report["rto_met"] is True and report["rto_target_hours"] == 4
    assert report["rds_point_in_time_restore"]["source"] == ident and report["rds_point_in_time_restore"]["verified"] is True
    # Cleaned up: no scratch database, no restored instance left behind.
    assert f"cxr_restore_drill_{report['run_id']}" not in scratch_databases(admin)
    assert {i["DBInstanceIdentifier"] for i in aws("rds").describe_db_instances()["DBInstances"]} == before
    # The password never reaches the output.
    assert admin.password not in result.stdout + result.stderr


def test_drill_fails_loudly_on_a_corrupted_backup(ansible_playbook, admin, backed_up, tmp_path):
    s3, bucket, key = backed_up["s3"], backed_up["bucket"], backed_up["key"]
    data = bytearray(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    data[-100] ^= 0x01
    before = set(scratch_databases(admin))
    s3.put_object(Bucket=bucket, Key=key, Body=bytes(data), Metadata=s3.head_object(Bucket=bucket, Key=key)["Metadata"])
    result = ansible_playbook(DRILL, extra_vars={"restore_drill_bucket": bucket, "restore_drill_source_db": backed_up["db"],
                                                 "restore_drill_report_dir": str(tmp_path)})
    assert result.rc != 0
    assert "CORRUPT BACKUP" in result.stdout and "is corrupt" in result.stdout
    assert set(scratch_databases(admin)) <= before  # nothing was created (the restore never started)
    assert not list(tmp_path.glob("restore-drill-*.json"))


def test_drill_refuses_bad_settings(ansible_playbook, tmp_path):
    result = ansible_playbook(DRILL, extra_vars={"restore_drill_bucket": "b", "restore_drill_source_db": "x",
                                                 "restore_drill_rto_hours": 0, "restore_drill_report_dir": str(tmp_path)})
    assert result.rc != 0 and "restore_drill_rto_hours=0 (> 0)" in result.stdout
    assert result.changed == 0


# ------------------------------------------------------------------------------------------ failover
@pytest.fixture
def replica_region(aws):
    """Primary in us-east-1, a snapshot of it in us-west-2, the replica model bucket and a DNS zone."""
    west = aws("rds", "us-west-2")
    source = rds_instance(aws, "us-west-2", suffix="-src")  # stands for the copied snapshots' source
    snap = f"{source}-copy-{uuid.uuid4().hex[:6]}"
    west.create_db_snapshot(DBSnapshotIdentifier=snap, DBInstanceIdentifier=source)
    bucket = f"cxr-bk-replica-{uuid.uuid4().hex[:8]}"
    aws("s3", "us-west-2").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    r53 = aws("route53")
    zone_name = f"dr-{uuid.uuid4().hex[:6]}.example.com"
    zone = r53.create_hosted_zone(Name=zone_name, CallerReference=uuid.uuid4().hex)["HostedZone"]["Id"]
    record = f"api.{zone_name}"
    r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": record, "Type": "A", "AliasTarget": {"HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "primary.us-east-1.elb.amazonaws.com",
                                                     "EvaluateTargetHealth": True}}}]})
    target = f"bk-dr-{uuid.uuid4().hex[:8]}"
    extra = {"dr_failover_db_mode": "restore_snapshot", "dr_failover_db_source_instance_id": source,
             "dr_failover_db_instance_id": target, "dr_failover_model_bucket": bucket, "dr_failover_dns_zone": zone_name,
             "dr_failover_dns_record": record, "dr_failover_alb_dns_name": "dr.us-west-2.elb.amazonaws.com",
             "dr_failover_alb_zone_id": "Z1H1FL5HABSF5"}

    def alias():
        sets = r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
        return [s["AliasTarget"]["DNSName"].rstrip(".") for s in sets if s["Type"] == "A"]

    def instances():
        return {i["DBInstanceIdentifier"] for i in west.describe_db_instances()["DBInstances"]}

    return {"extra": extra, "snapshot": snap, "target": target, "alias": alias, "instances": instances}


def test_failover_check_mode_and_approval_change_nothing(ansible_playbook, replica_region):
    extra = replica_region["extra"]
    check = ansible_playbook(FAILOVER, "--check", extra_vars=extra)
    assert check.rc == 0, check
    assert f"restore snapshot {replica_region['snapshot']}" in check.stdout
    assert "CHECK MODE: the plan above would run; nothing was changed." in check.stdout
    refused = ansible_playbook(FAILOVER, extra_vars=extra)  # no terminal, not approved
    assert refused.rc != 0 and "Failover not approved; nothing was changed." in refused.stdout
    assert replica_region["alias"]() == ["primary.us-east-1.elb.amazonaws.com"]
    assert replica_region["target"] not in replica_region["instances"]()


def test_approved_failover_restores_the_database_and_switches_dns(ansible_playbook, replica_region):
    result = ansible_playbook(FAILOVER, extra_vars={**replica_region["extra"], "dr_failover_approved": True})
    assert result.rc == 0, result
    assert replica_region["target"] in replica_region["instances"]()
    assert replica_region["alias"]() == ["dr.us-west-2.elb.amazonaws.com"]
    report = re.search(r"Failed over to us-west-2 in ([0-9.]+) minutes \(RTO target 240\)\. Recovery point: snapshot "
                       r"(\S+), ([0-9.]+) minutes old \(RPO 60\)", result.stdout)
    assert report, result.stdout
    assert float(report.group(1)) < 240 and float(report.group(3)) < 60


def test_failover_refuses_a_recovery_point_older_than_the_rpo(ansible_playbook, replica_region):
    later = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    result = ansible_playbook(FAILOVER, extra_vars={**replica_region["extra"], "dr_failover_approved": True,
                                                    "dr_failover_now": later})
    assert result.rc != 0 and "older than the RPO of 60 minutes: nothing was changed" in result.stdout, result.stdout
    assert replica_region["snapshot"] in result.stdout
    assert replica_region["target"] not in replica_region["instances"]()
    assert replica_region["alias"]() == ["primary.us-east-1.elb.amazonaws.com"]


def test_failover_refuses_bad_settings(ansible_playbook):
    result = ansible_playbook(FAILOVER, extra_vars={"dr_failover_region": "us-east-1", "dr_failover_approved": True})
    assert result.rc != 0 and "Invalid failover settings" in result.stdout and result.changed == 0
