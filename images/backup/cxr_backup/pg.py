"""PostgreSQL logical backup, restore and verification.

Backup: ``pg_dump -Fc`` (compressed custom format) of one database, taken from an exported
snapshot; the per-table row counts and checksums of the manifest are computed *in the same
snapshot*, so the manifest describes exactly the dumped data even while the application writes.
The set is uploaded with SSE-KMS as ``<prefix>/<db>/<UTC timestamp>.dump`` + ``.manifest.json``
+ ``.dump.sha256`` (last).

Restore: download, check the SHA-256 against the checksum object (a corrupt backup raises
:class:`CorruptBackupError` and nothing is restored), ``pg_restore`` into a target database, then
recompute the table checksums there and compare them with the manifest.

Credentials come from the environment (``PGPASSWORD``, or ``CXR_PG_PASSWORD_SECRET_ID``: a
Secrets Manager secret such as the RDS-managed master secret); they are never put on a command
line or printed.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime

from . import s3util
from .s3util import BackupError, CorruptBackupError

DUMP_SUFFIX = ".dump"
MANIFEST_VERSION = 1

# Order-independent checksum of a table's rows: the two halves of each row's md5 summed as
# numerics (no overflow). Sensitive to any changed, missing or duplicated row; streams in O(1) memory.
TABLE_CHECKSUM_SQL = """
SELECT count(*),
       coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint::numeric), 0)::text,
       coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint::numeric), 0)::text
FROM (SELECT md5(t::text) AS h FROM {table} AS t) AS rows
"""

LIST_TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2
"""


@dataclass
class PgTarget:
    """Where a database is; the password is read from the environment, never passed around."""

    host: str
    port: int
    user: str
    dbname: str
    sslmode: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, dbname: str | None = None, **overrides) -> "PgTarget":
        target = cls(host=overrides.get("host") or os.environ.get("PGHOST", "127.0.0.1"),
                     port=int(overrides.get("port") or os.environ.get("PGPORT", "5432")),
                     user=overrides.get("user") or os.environ.get("PGUSER", "postgres"),
                     dbname=dbname or os.environ.get("PGDATABASE", "postgres"),
                     sslmode=overrides.get("sslmode") or os.environ.get("PGSSLMODE"))
        target.password = resolve_password()
        return target

    def with_db(self, dbname: str) -> "PgTarget":
        return PgTarget(self.host, self.port, self.user, dbname, self.sslmode, self.password)

    def env(self) -> dict:
        env = {**os.environ, "PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user,
               "PGDATABASE": self.dbname, "PGCONNECT_TIMEOUT": "15"}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        if self.sslmode:
            env["PGSSLMODE"] = self.sslmode
        return env

    def connect(self, autocommit: bool = True):
        import psycopg

        kwargs = {"host": self.host, "port": self.port, "user": self.user, "dbname": self.dbname,
                  "connect_timeout": 15, "autocommit": autocommit, "application_name": "cxr-backup"}
        if self.password is not None:
            kwargs["password"] = self.password
        if self.sslmode:
            kwargs["sslmode"] = self.sslmode
        return psycopg.connect(**kwargs)


def resolve_password() -> str | None:
    """PGPASSWORD, else the secret named by CXR_PG_PASSWORD_SECRET_ID (JSON with "password" or raw)."""
    if os.environ.get("PGPASSWORD"):
        return os.environ["PGPASSWORD"]
    secret_id = os.environ.get("CXR_PG_PASSWORD_SECRET_ID")
    if not secret_id:
        return None
    value = s3util.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        return json.loads(value)["password"]
    except (ValueError, KeyError, TypeError):
        return value


def _binary(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise BackupError(f"{name} is not on PATH (Debian package postgresql-client)")
    return found


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def table_checksums(conn) -> dict:
    """``{"schema.table": {"rows": n, "checksum": "<a>:<b>"}}`` for every user table, in the connection's snapshot."""
    out = {}
    with conn.cursor() as cur:
        cur.execute(LIST_TABLES_SQL)
        tables = cur.fetchall()
        for schema, name in tables:
            cur.execute(TABLE_CHECKSUM_SQL.format(table=f"{_quote_ident(schema)}.{_quote_ident(name)}"))
            rows, a, b = cur.fetchone()
            out[f"{schema}.{name}"] = {"rows": int(rows), "checksum": f"{a}:{b}"}
    return out


def compare_manifest(expected: dict, actual: dict) -> list[str]:
    """One line per difference between two ``table_checksums`` results (empty when equal)."""
    problems = []
    for table in sorted(set(expected) | set(actual)):
        if table not in actual:
            problems.append(f"table {table} is missing from the restore")
        elif table not in expected:
            problems.append(f"table {table} is in the restore but not in the backup manifest")
        elif expected[table]["rows"] != actual[table]["rows"]:
            problems.append(f"table {table}: {actual[table]['rows']} rows restored, {expected[table]['rows']} expected")
        elif expected[table]["checksum"] != actual[table]["checksum"]:
            problems.append(f"table {table}: content checksum differs from the backup manifest")
    return problems


def dump_key(prefix: str, dbname: str, when: datetime) -> str:
    return s3util.join_key(prefix, dbname, s3util.format_timestamp(when) + DUMP_SUFFIX)


def backup(target: PgTarget, bucket: str, prefix: str = "postgres", kms_key_id: str | None = None,
           now: datetime | None = None, compress: int = 6, s3=None, workdir: str | None = None) -> dict:
    """Dump ``target.dbname`` to S3; returns a summary (keys, sizes, digest, timings)."""
    now = now or s3util.utcnow()
    s3 = s3 or s3util.client("s3")
    key = dump_key(prefix, target.dbname, now)
    stem = key[: -len(DUMP_SUFFIX)]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cxr-pgdump-", dir=workdir) as tmp:
        path = os.path.join(tmp, "db.dump")
        conn = target.connect(autocommit=False)
        try:
            with conn.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cur.execute("SELECT pg_export_snapshot(), current_setting('server_version')")
                snapshot, server_version = cur.fetchone()
            proc = subprocess.Popen([_binary("pg_dump"), "--format=custom", f"--compress={compress}", "--no-password",
                                     f"--snapshot={snapshot}", f"--file={path}", target.dbname],
                                    env=target.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                tables = table_checksums(conn)  # same snapshot as the dump, computed while it runs
            finally:
                _out, err = proc.communicate()
        finally:
            conn.rollback()
            conn.close()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump of database {target.dbname} failed (exit {proc.returncode}): {err.strip()[-2000:]}")
        dumped = time.monotonic()
        digest = s3util.sha256_file(path)
        size = os.path.getsize(path)
        manifest = {"version": MANIFEST_VERSION, "database": target.dbname, "timestamp": s3util.format_timestamp(now),
                    "server_version": server_version, "format": "pg_dump custom", "sha256": digest,
                    "size_bytes": size, "tables": tables}
        meta = {s3util.META_TIMESTAMP: s3util.format_timestamp(now), s3util.META_SHA256: digest,
                "cxr-database": target.dbname}
        s3util.upload_file(s3, path, bucket, key, kms_key_id, meta)
        s3util.put_bytes(s3, bucket, stem + ".manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode(),
                         kms_key_id, {s3util.META_TIMESTAMP: s3util.format_timestamp(now)}, "application/json")
        # The checksum object goes last: its presence marks the set complete.
        s3util.put_bytes(s3, bucket, key + ".sha256", s3util.checksum_body(digest, key.rsplit("/", 1)[-1]), kms_key_id,
                         {s3util.META_TIMESTAMP: s3util.format_timestamp(now)})
    return {"bucket": bucket, "key": key, "checksum_key": key + ".sha256", "manifest_key": stem + ".manifest.json",
            "sha256": digest, "size_bytes": size, "tables": len(tables),
            "rows": sum(t["rows"] for t in tables.values()),
            "dump_seconds": round(dumped - started, 3), "total_seconds": round(time.monotonic() - started, 3)}


def database_exists(admin: PgTarget, dbname: str) -> bool:
    with admin.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
        return cur.fetchone() is not None


def create_database(admin: PgTarget, dbname: str) -> None:
    if database_exists(admin, dbname):
        raise BackupError(f"target database {dbname} already exists; restores go into a new, empty database")
    with admin.connect() as conn:
        conn.execute(f"CREATE DATABASE {_quote_ident(dbname)}")


SCRATCH_PREFIX = "cxr_restore_"


def drop_database(admin: PgTarget, dbname: str) -> bool:
    """Drop a scratch database; only names starting with ``cxr_restore_`` are ever dropped."""
    if not dbname.startswith(SCRATCH_PREFIX):
        raise BackupError(f"refusing to drop {dbname}: only scratch databases named {SCRATCH_PREFIX}* are dropped")
    if dbname == admin.dbname:
        raise BackupError(f"refusing to drop the maintenance database {dbname}")
    with admin.connect() as conn:
        existed = database_exists(admin, dbname)
        conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(dbname)} WITH (FORCE)")
    return existed


def restore(admin: PgTarget, bucket: str, target_db: str, prefix: str = "postgres", source_db: str | None = None,
            key: str | None = None, jobs: int = 2, verify: bool = True, s3=None, workdir: str | None = None,
            dry_run: bool = False) -> dict:
    """Restore a backup (``key``, or the newest complete one of ``source_db``) into the new database ``target_db``.

    The download is checked against its checksum before anything is created; after
    ``pg_restore`` the restored tables are checked against the manifest. Returns a report with
    ``verified`` and per-phase timings; raises on corruption or verification failure. With
    ``dry_run`` it stops after the download check (nothing is created) and says what it would do.
    """
    s3 = s3 or s3util.client("s3")
    if key:
        keys = [o["Key"] for o in s3util.list_keys(s3, bucket, key.rsplit("/", 1)[0])]
        matches = [s for s in s3util.backup_sets(keys, DUMP_SUFFIX) if s.key == key]
        if not matches:
            raise BackupError(f"s3://{bucket}/{key} does not exist or is not a backup (<db>/<timestamp>.dump)")
        chosen = matches[0]
    else:
        if not source_db:
            raise BackupError("restore needs the key of a backup or the name of the source database")
        chosen = s3util.newest_complete(s3, bucket, s3util.join_key(prefix, source_db), DUMP_SUFFIX)
    started = time.monotonic()
    report = {"bucket": bucket, "key": chosen.key, "backup_timestamp": s3util.format_timestamp(chosen.timestamp),
              "target_database": target_db, "verified": False}
    with tempfile.TemporaryDirectory(prefix="cxr-pgrestore-", dir=workdir) as tmp:
        path = os.path.join(tmp, "db.dump")
        report["sha256"] = s3util.download_verified(s3, bucket, chosen, path)
        manifest = None
        if chosen.manifest_key:
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=chosen.manifest_key)["Body"].read())
            if manifest.get("sha256") != report["sha256"]:
                raise CorruptBackupError(f"manifest {chosen.manifest_key} describes another dump "
                                         f"(sha256 {manifest.get('sha256')} != {report['sha256']})")
        elif verify:
            raise CorruptBackupError(f"s3://{bucket}/{chosen.key} has no manifest: it cannot be verified")
        downloaded = time.monotonic()
        if dry_run:
            report.update(dry_run=True, would_create=target_db, exists=database_exists(admin, target_db),
                          tables=len((manifest or {}).get("tables", {})),
                          download_seconds=round(downloaded - started, 3))
            return report
        create_database(admin, target_db)
        proc = subprocess.run([_binary("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error", "--no-password",
                               f"--jobs={max(1, jobs)}", f"--dbname={target_db}", path],
                              env=admin.with_db(target_db).env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise BackupError(f"pg_restore into {target_db} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    restored = time.monotonic()
    if verify:
        with admin.with_db(target_db).connect() as conn:
            actual = table_checksums(conn)
        problems = compare_manifest(manifest["tables"], actual)
        report.update(tables=len(actual), rows=sum(t["rows"] for t in actual.values()), problems=problems,
                      verified=not problems)
        if problems:
            raise BackupError(f"restore of {chosen.key} into {target_db} does not match its manifest: " + "; ".join(problems))
    done = time.monotonic()
    report.update(download_seconds=round(downloaded - started, 3), restore_seconds=round(restored - downloaded, 3),
                  verify_seconds=round(done - restored, 3), total_seconds=round(done - started, 3))
    return report
