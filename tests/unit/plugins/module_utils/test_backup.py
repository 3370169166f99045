"""Backup compliance rules (plugins/module_utils/backup.py): pure functions with an injected ``now``."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from ansible_collections.cxr.mlops.plugins.module_utils import backup as b

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=timezone.utc)
DIGEST = "a" * 64
SOURCE = {"name": "postgres", "location": "s3://bk/postgres/cxr", "schedule_hours": 24, "gap_tolerance_hours": 1}


def key(when: datetime, suffix: str = ".dump") -> str:
    return f"postgres/cxr/{when.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def good_sets(times: list[datetime]) -> list[dict]:
    keys = [k for t in times for k in (key(t), key(t) + ".sha256")]
    sets = b.group_backups(keys, ".dump")
    for s in sets:
        s["status"], s["reason"] = b.classify(s, DIGEST, DIGEST)
    return sets


def daily(days: int, hour: int = 3, skip: tuple[int, ...] = ()) -> list[datetime]:
    """One backup a day at ``hour`` for the last ``days`` days (today's included), minus ``skip`` (days ago)."""
    base = NOW.replace(hour=hour, minute=15, second=0)
    return [base - timedelta(days=n) for n in range(days) if n not in skip]


def test_timestamps_come_from_the_key():
    assert b.parse_timestamp("postgres/cxr/20261126T031500Z.dump") == datetime(2026, 11, 26, 3, 15, tzinfo=timezone.utc)
    assert b.parse_timestamp("postgres/20261126T031500Z/latest.dump") is None  # only the last segment counts
    assert b.parse_timestamp("postgres/cxr/20261341T031500Z.dump") is None  # month 13
    assert b.parse_timestamp("") is None


def test_group_backups_pairs_payloads_with_checksums_and_ignores_foreign_objects():
    t1, t2 = NOW - timedelta(days=1), NOW
    keys = [key(t2), key(t1), key(t1) + ".sha256", key(t1, ".manifest.json"), "postgres/cxr/notes.dump", "postgres/cxr/x.txt"]
    sets = b.group_backups(keys, ".dump")
    assert [s["key"] for s in sets] == [key(t1), key(t2)]  # oldest first, foreign names ignored
    assert sets[0]["checksum_key"] == key(t1) + ".sha256"
    assert sets[1]["checksum_key"] is None


def test_classify_names_each_failure():
    item = {"key": "k.dump", "checksum_key": "k.dump.sha256", "timestamp": NOW}
    assert b.classify(item, DIGEST, DIGEST) == ("good", None)
    assert b.classify({**item, "checksum_key": None}, None, None)[0] == "incomplete"
    status, reason = b.classify(item, DIGEST, "b" * 64)
    assert status == "checksum_mismatch" and "does not match" in reason
    assert b.classify(item, DIGEST, None)[0] == "checksum_mismatch"  # metadata lost: overwritten outside the job
    assert b.classify(item, None, DIGEST)[0] == "checksum_mismatch"
    assert b.classify(item, DIGEST, DIGEST, "20200101T000000Z")[0] == "checksum_mismatch"


def test_checksum_body_parsing():
    assert b.parse_checksum_body(f"{DIGEST}  x.dump\n".encode()) == DIGEST
    assert b.parse_checksum_body(b"garbage") is None
    assert b.parse_checksum_body(b"") is None


def test_thirty_daily_backups_are_compliant():
    report = b.evaluate([(SOURCE, good_sets(daily(31)))], NOW, rpo_hours=24, retention_days=30)
    assert report["compliant"] is True, report["reasons"]
    src = report["sources"][0]
    assert src["missing_days"] == [] and src["gaps"] == [] and src["retention_coverage"] == 1.0
    assert src["newest_good_age_hours"] == pytest.approx(8.75)


def test_newest_backup_older_than_the_rpo_is_not_compliant():
    report = b.evaluate([(SOURCE, good_sets(daily(31)))], NOW, rpo_hours=1, retention_days=30)
    assert report["compliant"] is False
    assert any(r.startswith("RPO 1.00 h not met") for r in report["reasons"])
    assert report["recovery_point_age_hours"] == pytest.approx(8.75)


def test_stale_source_is_reported_even_when_rds_meets_the_rpo():
    times = daily(31, skip=(0, 1))  # the job stopped two days ago
    rds = {"instance": {"DBInstanceIdentifier": "db", "BackupRetentionPeriod": 30,
                        "LatestRestorableTime": NOW - timedelta(minutes=5)}}
    report = b.evaluate([(SOURCE, good_sets(times))], NOW, rpo_hours=1, retention_days=30, rds=rds)
    assert report["compliant"] is False
    assert report["recovery_point_age_hours"] == pytest.approx(5 / 60, abs=1e-3)  # the RPO itself is met by PITR
    assert not any(r.startswith("RPO") for r in report["reasons"])
    assert any("newest good backup" in r and "more than the allowed 25.0 h" in r for r in report["reasons"])


def test_missing_day_in_the_retention_window_is_not_compliant():
    report = b.evaluate([(SOURCE, good_sets(daily(31, skip=(10,))))], NOW, rpo_hours=24, retention_days=30)
    missing = (NOW.date() - timedelta(days=10)).isoformat()
    assert report["compliant"] is False
    src = report["sources"][0]
    assert src["missing_days"] == [missing]
    assert src["retention_coverage"] == pytest.approx(29 / 30, abs=1e-4)
    assert any("1 day(s) of the 30-day retention window" in r and missing in r for r in report["reasons"])
    assert any("gap of 48.0 h" in r for r in report["reasons"])


def test_required_since_excludes_days_before_go_live():
    report = b.evaluate([(SOURCE, good_sets(daily(5)))], NOW, rpo_hours=24, retention_days=30,
                        required_since=(NOW - timedelta(days=4)).date().isoformat())
    assert report["compliant"] is True, report["reasons"]
    short = b.evaluate([(SOURCE, good_sets(daily(5)))], NOW, rpo_hours=24, retention_days=30)
    assert short["compliant"] is False and len(short["sources"][0]["missing_days"]) == 26


def test_no_backup_at_all_is_never_compliant():
    report = b.evaluate([(SOURCE, [])], NOW, rpo_hours=1, retention_days=30)
    assert report["compliant"] is False
    assert any("no good backup at s3://bk/postgres/cxr" in r for r in report["reasons"])
    assert any("no recovery point at all" in r for r in report["reasons"])


def test_nothing_to_check_is_never_compliant():
    report = b.evaluate([], NOW, rpo_hours=1, retention_days=30)
    assert report["compliant"] is False and report["reasons"] == ["nothing to check: no backup source and no RDS instance given"]


def test_only_incomplete_or_corrupt_backups_count_as_none():
    sets = b.group_backups([key(NOW - timedelta(hours=1))], ".dump")  # no checksum object
    for s in sets:
        s["status"], s["reason"] = b.classify(s, None, None)
    corrupt = good_sets([NOW - timedelta(hours=2)])
    corrupt[0]["status"], corrupt[0]["reason"] = b.classify(corrupt[0], DIGEST, "c" * 64)
    report = b.evaluate([(SOURCE, sets + corrupt)], NOW, rpo_hours=24, retention_days=1)
    assert report["compliant"] is False
    src = report["sources"][0]
    assert src["good"] == 0 and src["incomplete"] == [sets[0]["key"]] and src["checksum_mismatches"] == [corrupt[0]["key"]]
    assert any("checksum mismatch" in r for r in report["reasons"])


def test_rds_checks():
    inst = {"DBInstanceIdentifier": "db", "BackupRetentionPeriod": 7, "LatestRestorableTime": NOW - timedelta(hours=3)}
    report = b.evaluate([], NOW, rpo_hours=1, retention_days=30, rds={"instance": inst})
    assert report["compliant"] is False
    assert any("BackupRetentionPeriod is 7 days, less than the required 30" in r for r in report["reasons"])
    assert any(r.startswith("RPO 1.00 h not met") for r in report["reasons"])
    assert report["rds"]["lag_hours"] == pytest.approx(3)
    off = b.evaluate([], NOW, 1, 30, rds={"instance": {"DBInstanceIdentifier": "db", "BackupRetentionPeriod": 0}})
    assert any("automated backups are off" in r for r in off["reasons"])
    missing = b.evaluate([], NOW, 1, 30, rds={"instance": None})
    assert "rds: the DB instance was not found" in missing["reasons"]
    ok = b.evaluate([], NOW, 1, 30, rds={"instance": {**inst, "BackupRetentionPeriod": 30,
                                                        "LatestRestorableTime": (NOW - timedelta(minutes=4)).isoformat()}})
    assert ok["compliant"] is True, ok["reasons"]


def test_hourly_source_gaps_and_age():
    hourly = {"name": "appdata", "schedule_hours": 1, "gap_tolerance_hours": 0.5, "check_days": False}
    times = [NOW - timedelta(hours=h) for h in range(0, 48) if h not in (10, 11, 12)]
    report = b.evaluate([(hourly, good_sets(times))], NOW, rpo_hours=1, retention_days=2)
    gaps = report["sources"][0]["gaps"]
    assert len(gaps) == 1 and gaps[0]["hours"] == 4.0
    assert report["compliant"] is False


def test_bad_input_names_the_parameter():
    with pytest.raises(b.BackupComplianceError, match="rpo_hours"):
        b.evaluate([], NOW, rpo_hours=0, retention_days=30)
    with pytest.raises(b.BackupComplianceError, match="retention_days"):
        b.evaluate([], NOW, rpo_hours=1, retention_days=0)
    with pytest.raises(b.BackupComplianceError, match="now"):
        b.evaluate([], "yesterday", rpo_hours=1, retention_days=30)
    with pytest.raises(b.BackupComplianceError, match="required_since"):
        b.evaluate([], NOW, 1, 30, required_since="someday")
    with pytest.raises(b.BackupComplianceError, match="schedule_hours of postgres"):
        b.evaluate([({**SOURCE, "schedule_hours": -1}, [])], NOW, 1, 30)


def test_now_accepts_iso_and_key_formats():
    assert b.to_utc("2026-11-26T12:00:00Z") == NOW
    assert b.to_utc("20261126T120000Z") == NOW
    assert b.to_utc("2026-11-26T13:00:00+01:00") == NOW
    assert b.missing_days([], NOW, 2, date(2026, 11, 25)) == ["2026-11-25"]
