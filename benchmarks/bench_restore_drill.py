#!/usr/bin/env python3
"""Restore-drill RTO for a database of at least 1 GB (sandbox PostgreSQL + moto S3).

    .venv/bin/python benchmarks/bench_restore_drill.py [--size-gb 1.0] [--keep]

Uses the sandbox in $CXR_SANDBOX_DIR (default .sandbox; started if needed, only moto and postgres).
Generates the database with generate_series (skipped when it already has the size), runs the
backup program (pg_dump -Fc, checksum, manifest, upload with SSE-KMS), then the restore program
(download, SHA-256 check, pg_restore into a scratch database, per-table verification against the
manifest) and prints the figures: the achieved RTO is the restore program's wall time.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
sys.path.insert(0, str(ROOT / "images" / "backup"))

import sandbox as sandbox_mod  # noqa: E402
from cxr_backup import pg, s3util  # noqa: E402

DB = "cxr_bench_1gb"
BUCKET = "cxr-bench-restore-drill"
RTO_TARGET_S = 4 * 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--jobs", type=int, default=2, help="pg_restore --jobs")
    parser.add_argument("--keep", action="store_true", help="keep the generated database for the next run")
    args = parser.parse_args()

    box = sandbox_mod.Sandbox(os.environ.get("CXR_SANDBOX_DIR") or ROOT / ".sandbox")
    box.up(["moto", "postgres"])
    ep = box.endpoints()
    os.environ.update({"AWS_ENDPOINT_URL": ep["moto"], "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    p = ep["postgres"]
    admin = pg.PgTarget(p["host"], int(p["port"]), p["user"], p["dbname"], password=p["password"])
    source = admin.with_db(DB)
    target_bytes = int(args.size_gb * 1024 ** 3)

    t0 = time.monotonic()
    if not pg.database_exists(admin, DB):
        with admin.connect() as conn:
            conn.execute(f'CREATE DATABASE "{DB}"')
    with source.connect() as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        if size < target_bytes:
            conn.execute("DROP TABLE IF EXISTS studies, findings")
            rows = int(target_bytes / 255) + 1  # ~255 bytes per row on disk with this layout
            conn.execute("CREATE TABLE studies (id bigint PRIMARY KEY, patient text, taken timestamptz, score float8, "
                         "report text)")
            conn.execute("INSERT INTO studies SELECT g, 'patient-' || (g %% 100000), "
                         "timestamptz '2026-01-01' + g * interval '1 second', (g %% 1000) / 1000.0, "
                         "repeat(md5(g::text), 5) FROM generate_series(1, %s) g", (rows,))
            conn.execute("CREATE TABLE findings AS SELECT g AS study_id, 'finding ' || (g %% 17) AS label "
                         "FROM generate_series(1, %s) g", (rows // 10,))
            conn.execute("VACUUM ANALYZE")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    generated = time.monotonic() - t0
    if size < target_bytes:
        print(f"database is {size / 1024 ** 3:.2f} GiB, less than the {args.size_gb} GiB asked for", file=sys.stderr)
        return 1

    s3 = s3util.client("s3")
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    backup = pg.backup(source, BUCKET, s3=s3)
    scratch = f"{pg.SCRATCH_PREFIX}bench_{int(time.time())}"
    t1 = time.monotonic()
    try:
        report = pg.restore(admin, BUCKET, scratch, source_db=DB, jobs=args.jobs, s3=s3)
    finally:
        pg.drop_database(admin, scratch)
    rto = time.monotonic() - t1
    s3util.prune(s3, BUCKET, f"postgres/{DB}", ".dump", 1, keep_min=0,
                 now=s3util.utcnow() + timedelta(days=2))
    if not args.keep:
        with admin.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')

    print(f"database size            {size / 1024 ** 3:8.2f} GiB  ({report['tables']} tables, {report['rows']:,} rows)")
    print(f"generate (if needed)     {generated:8.1f} s")
    print(f"backup: pg_dump -Fc      {backup['dump_seconds']:8.1f} s   dump {backup['size_bytes'] / 1024 ** 2:,.0f} MiB")
    print(f"backup: total            {backup['total_seconds']:8.1f} s   (checksum + manifest + upload)")
    print(f"restore: download+sha256 {report['download_seconds']:8.1f} s")
    print(f"restore: pg_restore -j{args.jobs}   {report['restore_seconds']:8.1f} s")
    print(f"restore: verify tables   {report['verify_seconds']:8.1f} s   verified={report['verified']}")
    print(f"achieved RTO             {rto:8.1f} s   target {RTO_TARGET_S} s (4 h): {'MET' if rto <= RTO_TARGET_S else 'MISSED'}"
          f"  ({rto / RTO_TARGET_S:.2%} of the budget)")
    print(f"cpu cores / load         {os.cpu_count()} / {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
