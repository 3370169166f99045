"""cxr.mlops.backup_compliance run in-process through AnsibleAWSModule.

Input errors are checked without AWS; the rest reads real objects and a real RDS instance from the
sandbox's moto server (backup times come from the keys, ``now`` is injected).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.cxr.mlops.plugins.modules import backup_compliance

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            backup_compliance.main()
    out = json.loads(capsys.readouterr().out)
    out["_rc"] = exc.value.code
    return out


@pytest.mark.parametrize("args, message", [
    ({"rpo_hours": 0}, "rpo_hours must be > 0"),
    ({"retention_days": 0}, "retention_days must be >= 1"),
    ({"now": "tomorrow"}, "now 'tomorrow' is not an ISO 8601 time"),
    ({"required_since": "2026-13-01"}, "required_since"),
    ({"sources": [{"name": "a", "prefix": "p", "schedule_hours": 0}]}, "schedule_hours of a must be > 0"),
    ({"sources": [{"name": "a", "prefix": "p"}, {"name": "a", "prefix": "q"}]}, "source names must be unique"),
    ({"content_check_count": -1}, "content_check_count must be >= 0"),
])
def test_bad_input_is_refused_before_any_aws_call(capsys, monkeypatch, args, message):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: an AWS call would error differently
    out = run_module(capsys, **args)
    assert out["_rc"] == 1 and out["failed"] is True
    assert message in out["msg"]


# ------------------------------------------------------------------------------------- against moto
@pytest.fixture
def moto(monkeypatch, aws_env):
    for k, v in aws_env.items():
        monkeypatch.setenv(k, v)
    import boto3

    return {svc: boto3.client(svc, region_name="us-east-1") for svc in ("s3", "rds")}


@pytest.fixture
def bucket(moto):
    name = f"cxr-bk-compliance-{uuid.uuid4().hex[:10]}"
    moto["s3"].create_bucket(Bucket=name)
    return name


def put_backup(s3, bucket, when, prefix="postgres/cxr", body=None, checksum=True, metadata_digest=None):
    body = body or f"dump of {when.isoformat()}".encode()
    stamp = when.strftime("%Y%m%dT%H%M%SZ")
    key = f"{prefix}/{stamp}.dump"
    digest = hashlib.sha256(body).hexdigest()
    s3.put_object(Bucket=bucket, Key=key, Body=body,
                  Metadata={"cxr-sha256": metadata_digest or digest, "cxr-backup-timestamp": stamp})
    if checksum:
        s3.put_object(Bucket=bucket, Key=key + ".sha256", Body=f"{digest}  {stamp}.dump\n".encode())
    return key


def daily(n, hour=3):
    base = NOW.replace(hour=hour, minute=15)
    return [base - timedelta(days=d) for d in range(n)]




@pytest.mark.sandbox
def test_no_backup_at_all_is_not_compliant(capsys, moto, bucket):
    out = run_module(capsys, bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}], now=NOW.isoformat())
    assert out["_rc"] == 0 and out["changed"] is False
    assert out["compliant"] is False
    assert f"postgres: no good backup at s3://{bucket}/postgres/cxr" in out["reasons"]
    assert out["recovery_point"] is None


@pytest.mark.sandbox
def test_complete_daily_backups_are_compliant_for_a_daily_rpo(capsys, moto, bucket):
    for when in daily(31):
        put_backup(moto["s3"], bucket, when)
    out = run_module(capsys, bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}],
                     rpo_hours=24, retention_days=30, now=NOW.isoformat())
    assert out["compliant"] is True, out["reasons"]
    src = out["sources"][0]
    assert src["good"] == 31 and src["retention_coverage"] == 1.0 and src["newest_good"] == "20261126T031500Z"


@pytest.mark.sandbox
def test_newest_backup_older_than_the_rpo(capsys, moto, bucket):
    for when in daily(31):
        put_backup(moto["s3"], bucket, when)
    out = run_module(capsys, bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}],
                     rpo_hours=1, retention_days=30, now=NOW.isoformat())
    assert out["compliant"] is False
    assert out["reasons"] == ["RPO 1.00 h not met: the newest recovery point (2026-11-26T03:15:00+00:00) is 8.75 h old"]


@pytest.mark.sandbox
def test_missing_day_gap_and_checksum_mismatch(capsys, moto, bucket):
    times = daily(31)
    for i, when in enumerate(times):
        if i == 7:
            continue  # the job did not run that day
        if i == 3:
            put_backup(moto["s3"], bucket, when, metadata_digest="f" * 64)  # object replaced outside the job
        elif i == 5:
            put_backup(moto["s3"], bucket, when, checksum=False)  # the job died before writing the checksum
        else:
            put_backup(moto["s3"], bucket, when)
    out = run_module(capsys, bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}],
                     rpo_hours=24, retention_days=30, now=NOW.isoformat())
    src = out["sources"][0]
    assert out["compliant"] is False
    assert src["missing_days"] == ["2026-11-19", "2026-11-21", "2026-11-23"]
    assert src["checksum_mismatches"] == ["postgres/cxr/20261123T031500Z.dump"]
    assert src["incomplete"] == ["postgres/cxr/20261121T031500Z.dump"]
    assert [g["hours"] for g in src["gaps"]] == [48.0, 48.0, 48.0]
    assert any("checksum mismatch" in r for r in out["reasons"])


@pytest.mark.sandbox
def test_content_mode_catches_a_damaged_payload_with_intact_metadata(capsys, moto, bucket):
    key = put_backup(moto["s3"], bucket, NOW - timedelta(minutes=30))
    head = moto["s3"].head_object(Bucket=bucket, Key=key)
    moto["s3"].put_object(Bucket=bucket, Key=key, Body=b"damaged", Metadata=head["Metadata"])
    args = dict(bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}], rpo_hours=1, retention_days=1,
                now=NOW.isoformat(), required_since=NOW.date().isoformat())
    assert run_module(capsys, **args)["compliant"] is True  # metadata still agrees
    out = run_module(capsys, checksum_mode="content", **args)
    assert out["compliant"] is False and out["sources"][0]["checksum_mismatches"] == [key]


@pytest.mark.sandbox
def test_rds_point_in_time_recovery_is_checked(capsys, moto, bucket):
    db = f"bk-compl-{uuid.uuid4().hex[:8]}"
    moto["rds"].create_db_instance(DBInstanceIdentifier=db, DBInstanceClass="db.t4g.micro", Engine="postgres",
                                   MasterUsername="cxr", MasterUserPassword="not-a-real-secret", AllocatedStorage=20,
                                   BackupRetentionPeriod=7)
    lrt = moto["rds"].describe_db_instances(DBInstanceIdentifier=db)["DBInstances"][0]["LatestRestorableTime"]
    now = (lrt + timedelta(minutes=5)).isoformat()
    out = run_module(capsys, rds_instance_id=db, rpo_hours=1, retention_days=30, now=now)
    assert out["compliant"] is False
    assert out["reasons"] == ["rds: BackupRetentionPeriod is 7 days, less than the required 30"]
    assert out["rds"]["lag_hours"] == pytest.approx(5 / 60, abs=0.01)
    moto["rds"].modify_db_instance(DBInstanceIdentifier=db, BackupRetentionPeriod=30, ApplyImmediately=True)
    assert run_module(capsys, rds_instance_id=db, rpo_hours=1, retention_days=30, now=now)["compliant"] is True
    late = run_module(capsys, rds_instance_id=db, rpo_hours=1, retention_days=30, now=(lrt + timedelta(hours=2)).isoformat())
    assert late["compliant"] is False and late["reasons"][0].startswith("RPO 1.00 h not met")
    missing = run_module(capsys, rds_instance_id="no-such-db", rpo_hours=1, now=now)
    assert missing["compliant"] is False and "rds: the DB instance was not found" in missing["reasons"]


@pytest.mark.sandbox
def test_fail_on_violation_and_missing_bucket(capsys, moto, bucket):
    out = run_module(capsys, bucket=bucket, sources=[{"name": "postgres", "prefix": "postgres/cxr"}], fail_on_violation=True)
    assert out["_rc"] == 1 and out["msg"].startswith("backups are not compliant: postgres: no good backup")
    out = run_module(capsys, bucket="cxr-no-such-bucket-" + uuid.uuid4().hex[:6], sources=[{"name": "p", "prefix": "x"}])
    assert out["_rc"] == 1 and "does not exist" in out["msg"]
