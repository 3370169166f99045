# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Backup compliance as pure functions (no I/O; ``now`` is always passed in).

The backup programs (images/backup, the CronJobs' image) write each backup as a set of objects
under ``<prefix>/<UTC timestamp>``: the payload (``.dump`` / ``.tar.gz``), ``<payload>.sha256``
(written last; marks the set complete) and a manifest. The payload carries user metadata
``cxr-backup-timestamp`` and ``cxr-sha256``. That naming is the contract between the programs and
this file: S3 ``LastModified`` is the server's clock and is not used for ages.

:func:`evaluate` turns the backups of each source (and the RDS instance's point-in-time recovery
state) into a report with ``compliant`` and one reason per violation. Empty input is never
compliant.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
TIMESTAMP_RE = re.compile(r"(\d{8}T\d{6}Z)")
META_TIMESTAMP = "cxr-backup-timestamp"
META_SHA256 = "cxr-sha256"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


class BackupComplianceError(ValueError):
    """Invalid input to the compliance evaluation (the message names the parameter)."""


def parse_timestamp(text):
    """The UTC datetime of a ``YYYYMMDDTHHMMSSZ`` stamp found in the last path segment of ``text``, else None."""
    if not text:
        return None
    match = TIMESTAMP_RE.search(str(text).rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def format_timestamp(when):
    return when.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def to_utc(value, name="now"):
    """Accept a datetime or ISO 8601 / ``YYYYMMDDTHHMMSSZ`` text; naive values are UTC."""
    if isinstance(value, datetime):
        when = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        when = parse_timestamp(text) if TIMESTAMP_RE.fullmatch(text) else None
        if when is None:
            try:
                when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                raise BackupComplianceError("%s %r is not an ISO 8601 time or YYYYMMDDTHHMMSSZ" % (name, value))
    else:
        raise BackupComplianceError("%s must be a date-time, got %r" % (name, value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def parse_checksum_body(body):
    """The digest of a ``sha256sum``-format body, or None when it holds none."""
    if isinstance(body, bytes):
        body = body.decode("ascii", errors="replace")
    parts = (body or "").strip().split()
    return parts[0] if parts and SHA256_RE.match(parts[0]) else None


def group_backups(keys, suffix):
    """Backup sets for payload keys ending in ``suffix``: dicts with key, timestamp, checksum_key; oldest first.

    ``keys`` are the object keys under a prefix. Payloads without a timestamp in their name are
    ignored (not ours); ``checksum_key`` is None for an incomplete set.
    """
    if not suffix:
        raise BackupComplianceError("suffix must not be empty")
    present = set(keys)
    sets = []
    for key in keys:
        if not key.endswith(suffix):
            continue
        when = parse_timestamp(key[: -len(suffix)] + suffix)
        if when is None:
            continue
        sets.append({"key": key, "timestamp": when,
                     "checksum_key": key + ".sha256" if key + ".sha256" in present else None})
    return sorted(sets, key=lambda s: (s["timestamp"], s["key"]))


def classify(backup, expected_digest, actual_digest, metadata_timestamp=None):
    """Status of one backup set: ``good``, ``incomplete`` (no checksum object) or ``checksum_mismatch``.

    ``expected_digest`` comes from the checksum object; ``actual_digest`` from the payload's
    ``cxr-sha256`` metadata or from hashing its content. A metadata timestamp that disagrees
    with the key is also a mismatch (the object was overwritten by something else).
    """
    if not backup.get("checksum_key"):
        return "incomplete", "no checksum object %s.sha256 (the backup never finished)" % backup["key"]
    if not expected_digest:
        return "checksum_mismatch", "checksum object %s holds no SHA-256 digest" % backup["checksum_key"]
    if not actual_digest:
        return "checksum_mismatch", "%s has no %s metadata (overwritten outside the backup job?)" % (backup["key"], META_SHA256)
    if actual_digest != expected_digest:
        return "checksum_mismatch", "%s: SHA-256 %s does not match its checksum object (%s)" % (
            backup["key"], actual_digest, expected_digest)
    if metadata_timestamp and parse_timestamp(metadata_timestamp) not in (None, backup["timestamp"]):
        return "checksum_mismatch", "%s: metadata timestamp %s differs from its name" % (backup["key"], metadata_timestamp)
    return "good", None


def find_gaps(timestamps, schedule_hours, tolerance_hours):
    """Intervals between consecutive backups longer than the schedule plus tolerance."""
    limit = timedelta(hours=schedule_hours + tolerance_hours)
    ordered = sorted(timestamps)
    return [{"after": format_timestamp(a), "before": format_timestamp(b), "hours": round((b - a).total_seconds() / 3600, 2)}
            for a, b in zip(ordered, ordered[1:]) if b - a > limit]


def missing_days(timestamps, now, retention_days, required_since=None):
    """UTC days of the retention window (the ``retention_days`` days before today) without a backup.

    Today is excluded (its backup may not be due yet; the age check covers it). Days before
    ``required_since`` (a date: when the platform went live) are not required.
    """
    today = now.date()
    covered = {t.date() for t in timestamps}
    days = [today - timedelta(days=n) for n in range(1, retention_days + 1)]
    if required_since is not None:
        days = [d for d in days if d >= required_since]
    return sorted(d.isoformat() for d in days if d not in covered)


def _validate(name, value, minimum, allow_equal=False):
    if value is None or isinstance(value, bool):
        raise BackupComplianceError("%s must be a number, got %r" % (name, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BackupComplianceError("%s must be a number, got %r" % (name, value))
    if number < minimum or (number == minimum and not allow_equal):
        raise BackupComplianceError("%s must be %s %s, got %r" % (name, ">=" if allow_equal else ">", minimum, value))
    return number


def evaluate_source(source, backups, now, retention_days, required_since=None):
    """Report for one source (one bucket/prefix).

    ``source``: dict with name, schedule_hours, gap_tolerance_hours, max_age_hours (optional: the
    schedule plus tolerance), ``check_days`` (daily-or-more-frequent sources: every day must be
    covered). ``backups``: the group_backups() sets, each with ``status`` (from classify) and
    ``reason``.
    """
    schedule = _validate("schedule_hours of %s" % source["name"], source.get("schedule_hours", 24), 0)
    tolerance = _validate("gap_tolerance_hours of %s" % source["name"], source.get("gap_tolerance_hours", 1), 0, True)
    max_age = source.get("max_age_hours")
    max_age = schedule + tolerance if max_age is None else _validate("max_age_hours of %s" % source["name"], max_age, 0)
    reasons = []
    good = [b for b in backups if b.get("status") == "good"]
    mismatches = [b["key"] for b in backups if b.get("status") == "checksum_mismatch"]
    incomplete = [b["key"] for b in backups if b.get("status") == "incomplete"]
    window_start = now - timedelta(days=retention_days)
    in_window = [b["timestamp"] for b in good if b["timestamp"] >= window_start and b["timestamp"] <= now]
    report = {"name": source["name"], "location": source.get("location"), "backups": len(backups), "good": len(good),
              "checksum_mismatches": mismatches, "incomplete": incomplete, "newest_good": None,
              "newest_good_age_hours": None, "gaps": [], "missing_days": [], "retention_coverage": 0.0,
              "oldest_good": None, "beyond_retention": sum(1 for b in good if b["timestamp"] < window_start)}
    for b in backups:
        if b.get("status") == "checksum_mismatch":
            reasons.append("%s: checksum mismatch: %s" % (source["name"], b.get("reason") or b["key"]))
    if not good:
        reasons.append("%s: no good backup at %s" % (source["name"], source.get("location") or "its location"))
        report["missing_days"] = missing_days([], now, retention_days, required_since)
        report["reasons"] = reasons
        return report
    newest = good[-1]["timestamp"]
    age = (now - newest).total_seconds() / 3600
    report.update(newest_good=format_timestamp(newest), newest_good_age_hours=round(age, 2),
                  oldest_good=format_timestamp(good[0]["timestamp"]))
    if age > max_age:
        reasons.append("%s: newest good backup %s is %.1f h old, more than the allowed %.1f h (schedule %.1f h)" % (
            source["name"], format_timestamp(newest), age, max_age, schedule))
    gaps = find_gaps(in_window, schedule, tolerance)
    report["gaps"] = gaps
    for gap in gaps:
        reasons.append("%s: gap of %.1f h between backups %s and %s (schedule %.1f h)" % (
            source["name"], gap["hours"], gap["after"], gap["before"], schedule))
    if source.get("check_days", schedule <= 24):
        days = missing_days([b["timestamp"] for b in good if b["timestamp"] <= now], now, retention_days, required_since)
        report["missing_days"] = days
        window_days = retention_days if required_since is None else max(
            0, min(retention_days, (now.date() - required_since).days))
        report["retention_coverage"] = round(1 - len(days) / window_days, 4) if window_days else 1.0
        if days:
            reasons.append("%s: %d day(s) of the %d-day retention window have no good backup: %s" % (
                source["name"], len(days), retention_days, ", ".join(days[:10]) + (" ..." if len(days) > 10 else "")))
    else:
        report["retention_coverage"] = round(min(1.0, (now - good[0]["timestamp"]).total_seconds() / 86400 / retention_days), 4)
    report["reasons"] = reasons
    return report


def evaluate_rds(instance, now, rpo_hours, retention_days):
    """Report for the RDS instance's point-in-time recovery (``instance`` from describe_db_instances, or None)."""
    if instance is None:
        return {"found": False, "latest_restorable_time": None, "lag_hours": None,
                "reasons": ["rds: the DB instance was not found"]}
    reasons = []
    period = int(instance.get("BackupRetentionPeriod") or 0)
    lrt = instance.get("LatestRestorableTime")
    report = {"found": True, "id": instance.get("DBInstanceIdentifier"), "backup_retention_period": period,
              "status": instance.get("DBInstanceStatus"), "latest_restorable_time": None, "lag_hours": None}
    if period == 0:
        reasons.append("rds: automated backups are off (BackupRetentionPeriod 0): no point-in-time recovery")
    elif period < retention_days:
        reasons.append("rds: BackupRetentionPeriod is %d days, less than the required %d" % (period, retention_days))
    if lrt is None:
        if period:
            reasons.append("rds: no LatestRestorableTime reported: point-in-time recovery is not available yet")
    else:
        lrt = to_utc(lrt, "LatestRestorableTime")
        lag = max(0.0, (now - lrt).total_seconds() / 3600)
        report.update(latest_restorable_time=lrt.isoformat(), lag_hours=round(lag, 3))
        if lag > rpo_hours:
            reasons.append("rds: latest restorable time %s is %.2f h old, more than the RPO of %.2f h" % (
                lrt.isoformat(), lag, rpo_hours))
    report["reasons"] = reasons
    return report


def evaluate(sources, now, rpo_hours, retention_days, rds=None, required_since=None):
    """Whole report: ``{"compliant": bool, "reasons": [...], "sources": [...], "rds": {...}, ...}``.

    ``sources``: list of (source dict, backups list) pairs (see evaluate_source). ``rds``: None
    when no instance is checked, else ``{"instance": <describe_db_instances entry or None>}``.
    The achieved recovery point is the newest of the RDS latest restorable time and every
    source's newest good backup; the RPO is met when it is no older than ``rpo_hours``.
    """
    now = to_utc(now)
    rpo_hours = _validate("rpo_hours", rpo_hours, 0)
    retention_days = int(_validate("retention_days", retention_days, 1, True))
    if required_since is not None and not isinstance(required_since, date):
        try:
            required_since = date.fromisoformat(str(required_since))
        except ValueError:
            raise BackupComplianceError("required_since %r is not a date (YYYY-MM-DD)" % (required_since,))
    if not sources and rds is None:
        return {"compliant": False, "reasons": ["nothing to check: no backup source and no RDS instance given"],
                "sources": [], "rds": None, "recovery_point": None, "recovery_point_age_hours": None,
                "rpo_hours": rpo_hours, "now": now.isoformat()}
    reports = [evaluate_source(src, backups, now, retention_days, required_since) for src, backups in sources]
    reasons = [r for rep in reports for r in rep["reasons"]]
    rds_report = None
    points = [parse_timestamp(rep["newest_good"]) for rep in reports if rep["newest_good"]]
    if rds is not None:
        rds_report = evaluate_rds(rds.get("instance"), now, rpo_hours, retention_days)
        reasons.extend(r for r in rds_report["reasons"] if not r.startswith("rds: latest restorable time"))
        if rds_report["latest_restorable_time"]:
            points.append(to_utc(rds_report["latest_restorable_time"]))
    recovery_point = max(points) if points else None
    age = None if recovery_point is None else max(0.0, (now - recovery_point).total_seconds() / 3600)
    if recovery_point is None:
        reasons.append("RPO %.2f h not met: there is no recovery point at all" % rpo_hours)
    elif age > rpo_hours:
        reasons.append("RPO %.2f h not met: the newest recovery point (%s) is %.2f h old" % (
            rpo_hours, recovery_point.isoformat(), age))
    return {"compliant": not reasons, "reasons": reasons, "sources": reports, "rds": rds_report,
            "recovery_point": recovery_point.isoformat() if recovery_point else None,
            "recovery_point_age_hours": None if age is None else round(age, 3),
            "rpo_hours": rpo_hours, "retention_days": retention_days, "now": now.isoformat()}


def recovery_point(restorable_time, rpo_minutes, now=None):
    """Age of a recovery point (the newest time a failover can restore to) against the RPO.

    Returns ``{"recovery_point", "age_minutes", "rpo_minutes", "within_rpo"}``; a recovery point
    in the future (clock skew) counts as age 0.  ``now`` defaults to the current UTC time.
    """
    if isinstance(rpo_minutes, bool) or not isinstance(rpo_minutes, (int, float)) or rpo_minutes <= 0:
        raise BackupComplianceError("rpo_minutes must be a positive number, got %r" % (rpo_minutes,))
    point = to_utc(restorable_time, "restorable_time")
    current = datetime.now(timezone.utc) if now in (None, "") else to_utc(now, "now")
    age = max(0.0, (current - point).total_seconds() / 60.0)
    return {"recovery_point": point.strftime("%Y-%m-%dT%H:%M:%SZ"), "age_minutes": round(age, 1),
            "rpo_minutes": rpo_minutes, "within_rpo": age <= rpo_minutes}


_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
_CRON = re.compile(r"^\S+(\s+\S+){4}$")
_DBNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$-]{0,62}$")
_KUBE_RESOURCE = re.compile(r"^([a-z0-9.-]+/)?v[0-9a-z]+/[a-z0-9]+$")
# (key, low, high) for whole numbers
_BACKUP_INTS = (
    ("retention_days", 1, 3650), ("starting_deadline_seconds", 10, None), ("active_deadline_seconds", 60, None),
    ("backoff_limit", 0, None), ("successful_jobs_history_limit", 0, None), ("failed_jobs_history_limit", 0, None),
    ("run_as_user", 1, None),
)


def _whole(value):
    if isinstance(value, bool):
        raise ValueError
    number = int(value)
    if isinstance(value, float) and value != number:
        raise ValueError
    return number


def backup_cronjobs_input_errors(variables):
    """The backup_cronjobs role's input rules over its variables dict (absent ones are not checked); pure."""
    if not isinstance(variables, dict):
        return ["backup_cronjobs settings must be a dict, got %s" % type(variables).__name__]
    p = "backup_cronjobs_"
    v = variables
    errors = []
    for key, low, high in _BACKUP_INTS:
        if p + key not in v:
            continue
        raw = v[p + key]
        try:
            ok = low <= _whole(raw) and (high is None or _whole(raw) <= high)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            errors.append("%s%s=%s (%s)" % (p, key, raw, "%d-%d" % (low, high) if high else ">= %d" % low))
    if p + "bucket" in v and not str(v[p + "bucket"] or ""):
        errors.append("backup_cronjobs_bucket='' (required)")
    if p + "resources" in v and not (isinstance(v[p + "resources"], dict)
                                     and "requests" in v[p + "resources"] and "limits" in v[p + "resources"]):
        errors.append("backup_cronjobs_resources needs requests and limits")
    if p + "kubeconfig" in v and not str(v[p + "kubeconfig"] or ""):
        errors.append("backup_cronjobs_kubeconfig is required (empty would fall back to ~/.kube/config or $KUBECONFIG)")
    if v.get(p + "state", "present") != "present":
        return errors
    enabled = dict((job, str(v.get(p + job + "_enabled", True)).lower() in ("true", "yes", "1", "on"))
                   for job in ("postgres", "kube", "appdata"))
    for job in ("postgres", "kube", "appdata"):
        if not enabled[job]:
            continue
        schedule_key, arn_key = "%s%s_schedule" % (p, job), "%s%s_irsa_role_arn" % (p, job)
        if schedule_key in v and not _CRON.match(str(v[schedule_key])):
            errors.append("%s '%s' must be a 5-field cron expression" % (schedule_key, v[schedule_key]))
        if arn_key in v and not _ROLE_ARN.match(str(v[arn_key])):
            errors.append("%s '%s' must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)" % (arn_key, v[arn_key]))
    if enabled["postgres"]:
        if p + "postgres_host" in v and not str(v[p + "postgres_host"] or ""):
            errors.append("backup_cronjobs_postgres_host='' (required)")
        if p + "postgres_port" in v:
            try:
                ok = 0 < _whole(v[p + "postgres_port"]) < 65536
            except (TypeError, ValueError):
                ok = False
            if not ok:
                errors.append("backup_cronjobs_postgres_port=%s (a port, 1-65535)" % v[p + "postgres_port"])
        if p + "postgres_dbname" in v and not _DBNAME.match(str(v[p + "postgres_dbname"])):
            errors.append("backup_cronjobs_postgres_dbname '%s' is not a valid database name" % v[p + "postgres_dbname"])
        if p + "postgres_password_secret_id" in v or p + "postgres_password_k8s_secret" in v:
            sources = [bool(str(v.get(p + k, "") or "")) for k in ("postgres_password_secret_id", "postgres_password_k8s_secret")]
            if sum(sources) != 1:
                errors.append("the database backup needs exactly one of backup_cronjobs_postgres_password_secret_id "
                              "(Secrets Manager) or backup_cronjobs_postgres_password_k8s_secret (Kubernetes Secret with "
                              "key PGPASSWORD)")
    if enabled["kube"]:
        if p + "kube_namespaces" in v and not v[p + "kube_namespaces"]:
            errors.append("backup_cronjobs_kube_namespaces must not be empty")
        if p + "kube_resources" in v:
            resources = v[p + "kube_resources"] or []
            bad = [r for r in resources if not _KUBE_RESOURCE.match(str(r))]
            if not resources or bad or "v1/secrets" in resources:
                errors.append("backup_cronjobs_kube_resources must be <group>/<version>/<plural> or v1/<plural> entries, "
                              "never v1/secrets (Secrets are not exported); got %s" % ", ".join(map(str, resources)))
    if enabled["appdata"] and p + "appdata_source_bucket" in v:
        source = str(v[p + "appdata_source_bucket"] or "")
        if not source or source == str(v.get(p + "bucket", "")):
            errors.append("backup_cronjobs_appdata_source_bucket (now '%s') is required and must differ from the backup "
                          "bucket" % source)
    return errors
