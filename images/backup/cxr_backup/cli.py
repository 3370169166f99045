"""Command line of the backup image: ``python -m cxr_backup <command> [options]``.

Options fall back to environment variables (``CXR_BACKUP_*``) so the CronJobs configure the
programs through ``env`` and the command line stays free of anything secret.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime

from . import __version__, appdata, kube, pg, s3util
from .s3util import BackupError, CorruptBackupError


def _env(name: str, default=None):
    return os.environ.get(f"CXR_BACKUP_{name}", default)


def _now(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = s3util.parse_timestamp(value)
    if parsed is None:
        raise BackupError(f"--now {value!r} must look like 20261126T031500Z")
    return parsed


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cxr_backup", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=__version__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bucket", default=_env("BUCKET"), help="backup bucket (CXR_BACKUP_BUCKET)")
    common.add_argument("--kms-key-id", default=_env("KMS_KEY_ID"), help="SSE-KMS key (default: the bucket's key)")
    common.add_argument("--retention-days", type=int, default=int(_env("RETENTION_DAYS", "0")),
                        help="after a successful backup, delete sets older than this (0: keep all)")
    common.add_argument("--now", default=_env("NOW"), help=argparse.SUPPRESS)  # tests: fixed UTC timestamp
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("pg-backup", parents=[common], help="pg_dump one database to S3 with checksum and manifest")
    b.add_argument("--dbname", default=_env("PG_DBNAME") or os.environ.get("PGDATABASE"))
    b.add_argument("--prefix", default=_env("PG_PREFIX", "postgres"))
    b.add_argument("--compress", type=int, default=6)

    r = sub.add_parser("pg-restore", parents=[common], help="restore and verify a dump into a new database")
    r.add_argument("--source-db", help="restore the newest complete backup of this database")
    r.add_argument("--key", help="restore this backup object instead")
    r.add_argument("--target-db", required=True, help="new database to create (must not exist)")
    r.add_argument("--prefix", default=_env("PG_PREFIX", "postgres"))
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--no-verify", action="store_true")
    r.add_argument("--drop-after", action="store_true",
                   help="drop the target database afterwards, also on failure (drills; cxr_restore_* names only)")
    r.add_argument("--dry-run", action="store_true", help="find and checksum the backup, create nothing")

    d = sub.add_parser("pg-drop-scratch", parents=[common], help="drop a scratch database named cxr_restore_*")
    d.add_argument("--target-db", required=True)

    k = sub.add_parser("kube-backup", parents=[common], help="export namespaced resources as YAML to S3")
    k.add_argument("--namespaces", default=_env("KUBE_NAMESPACES", ""), help="comma-separated")
    k.add_argument("--resources", default=_env("KUBE_RESOURCES", ""), help="comma-separated <group>/<version>/<plural>")
    k.add_argument("--cluster", default=_env("KUBE_CLUSTER", "cluster"))
    k.add_argument("--prefix", default=_env("KUBE_PREFIX", "kube-config"))
    k.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))

    a = sub.add_parser("appdata-backup", parents=[common], help="copy new/changed data-lake objects")
    a.add_argument("--source-bucket", default=_env("APPDATA_SOURCE_BUCKET"))
    a.add_argument("--source-prefix", default=_env("APPDATA_SOURCE_PREFIX", ""))
    a.add_argument("--prefix", default=_env("APPDATA_PREFIX", "appdata"))
    return p


def run(args) -> dict:
    if not args.bucket and args.command != "pg-drop-scratch":
        raise BackupError("--bucket (or CXR_BACKUP_BUCKET) is required")
    if args.retention_days < 0:
        raise BackupError(f"--retention-days must be >= 0, got {args.retention_days}")
    now = _now(args.now)
    if args.command == "pg-backup":
        if not args.dbname:
            raise BackupError("--dbname (or CXR_BACKUP_PG_DBNAME / PGDATABASE) is required")
        result = pg.backup(pg.PgTarget.from_env(args.dbname), args.bucket, args.prefix, args.kms_key_id, now, args.compress)
        if args.retention_days:
            result["pruned"] = s3util.prune(s3util.client("s3"), args.bucket, s3util.join_key(args.prefix, args.dbname),
                                            pg.DUMP_SUFFIX, args.retention_days, now)
        return result
    if args.command == "pg-restore":
        admin = pg.PgTarget.from_env()
        if args.drop_after and not args.target_db.startswith(pg.SCRATCH_PREFIX):
            raise BackupError(f"--drop-after needs a scratch database named {pg.SCRATCH_PREFIX}*, got {args.target_db}")
        if not args.dry_run and pg.database_exists(admin, args.target_db):
            # Checked here so the cleanup below can never drop a database this run did not create.
            raise BackupError(f"target database {args.target_db} already exists; restores go into a new, empty database")
        try:
            result = pg.restore(admin, args.bucket, args.target_db, args.prefix, args.source_db, args.key, args.jobs,
                                not args.no_verify, dry_run=args.dry_run)
        finally:
            if args.drop_after and not args.dry_run:
                pg.drop_database(admin, args.target_db)
        if args.drop_after and not args.dry_run:
            result["dropped"] = True
        return result
    if args.command == "pg-drop-scratch":
        return {"database": args.target_db, "dropped": pg.drop_database(pg.PgTarget.from_env(), args.target_db)}
    if args.command == "kube-backup":
        namespaces = [n for n in args.namespaces.split(",") if n]
        resources = [r for r in args.resources.split(",") if r] or None
        result = kube.backup(args.bucket, namespaces, resources, args.prefix, args.cluster, args.kms_key_id,
                             args.kubeconfig, now)
        if args.retention_days:
            result["pruned"] = s3util.prune(s3util.client("s3"), args.bucket, s3util.join_key(args.prefix, args.cluster),
                                            kube.ARCHIVE_SUFFIX, args.retention_days, now)
        return result
    if args.command == "appdata-backup":
        if not args.source_bucket:
            raise BackupError("--source-bucket (or CXR_BACKUP_APPDATA_SOURCE_BUCKET) is required")
        result = appdata.backup(args.source_bucket, args.source_prefix, args.bucket, args.prefix, args.kms_key_id, now)
        if args.retention_days:
            result["pruned"] = appdata.prune_runs(s3util.client("s3"), args.bucket, args.source_bucket, args.prefix,
                                                  args.retention_days, now)
        return result
    raise BackupError(f"unknown command {args.command}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        result = run(args)
    except CorruptBackupError as exc:
        print(f"cxr_backup {args.command}: CORRUPT BACKUP: {exc}", file=sys.stderr)
        return 3
    except BackupError as exc:
        print(f"cxr_backup {args.command}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
