"""S3 helpers shared by the backup programs: naming, checksums, SSE-KMS uploads, pruning.

Every backup is a *set* of objects under one key stem ``<prefix>/<UTC timestamp>``:

* the payload (``.dump`` for PostgreSQL, ``.tar.gz`` for the Kubernetes configuration),
* ``<payload>.sha256``: ``"<hex digest>  <file name>\\n"`` (the ``sha256sum`` format), written
  **last**: a payload without it is an incomplete backup and is never restored,
* optionally ``.manifest.json`` (what the payload holds, used by restore verification).

The payload also carries user metadata ``cxr-backup-timestamp`` and ``cxr-sha256``: S3
``LastModified`` is the server's clock, so ages are computed from the key / metadata instead.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
TIMESTAMP_RE = re.compile(r"(\d{8}T\d{6}Z)")
META_TIMESTAMP = "cxr-backup-timestamp"
META_SHA256 = "cxr-sha256"
CHUNK = 8 * 1024 * 1024


class BackupError(RuntimeError):
    """A backup or restore step failed; the message says which and why."""


class CorruptBackupError(BackupError):
    """The payload does not match its recorded checksum (or the checksum is missing)."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def format_timestamp(when: datetime) -> str:
    if when.tzinfo is None:
        raise ValueError("backup timestamps must be timezone-aware (UTC)")
    return when.astimezone(timezone.utc).strftime(TIMESTAMP_FORMAT)


def parse_timestamp(text: str) -> datetime | None:
    """The UTC timestamp embedded in a key (``.../20261126T031500Z.dump``), or None."""
    match = TIMESTAMP_RE.search(text.rsplit("/", 1)[-1])
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), TIMESTAMP_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def join_key(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_body(digest: str, name: str) -> bytes:
    return f"{digest}  {name}\n".encode()


def parse_checksum_body(body: bytes) -> str:
    text = body.decode("ascii", errors="replace").strip()
    digest = text.split()[0] if text else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise CorruptBackupError(f"checksum object does not hold a SHA-256 digest: {text[:80]!r}")
    return digest


def client(service: str, region: str | None = None):
    """A boto3 client; AWS_ENDPOINT_URL (moto, VPC endpoints) is honoured by botocore itself."""
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=120)
    return boto3.client(service, region_name=region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
                        config=cfg)


def sse_args(kms_key_id: str | None) -> dict:
    """SSE-KMS always (the bucket default key when no key id is given)."""
    args = {"ServerSideEncryption": "aws:kms"}
    if kms_key_id:
        args["SSEKMSKeyId"] = kms_key_id
    return args


def upload_file(s3, path: str, bucket: str, key: str, kms_key_id: str | None, metadata: dict | None = None,
                content_type: str = "application/octet-stream") -> None:
    from boto3.s3.transfer import TransferConfig

    extra = {**sse_args(kms_key_id), "ContentType": content_type, "Metadata": metadata or {}}
    s3.upload_file(path, bucket, key, ExtraArgs=extra,
                   Config=TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=64 * 1024 * 1024))


def put_bytes(s3, bucket: str, key: str, body: bytes, kms_key_id: str | None, metadata: dict | None = None,
              content_type: str = "text/plain") -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type, Metadata=metadata or {},
                  **sse_args(kms_key_id))


def list_keys(s3, bucket: str, prefix: str) -> list[dict]:
    prefix = prefix.rstrip("/") + "/" if prefix else ""
    out: list[dict] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out


@dataclass(frozen=True)
class BackupSet:
    """One backup: the payload key, its checksum and manifest keys (None when absent)."""

    timestamp: datetime
    key: str
    checksum_key: str | None
    manifest_key: str | None

    @property
    def complete(self) -> bool:
        return self.checksum_key is not None


def backup_sets(keys: list[str], suffix: str) -> list[BackupSet]:
    """Group object keys into backup sets for payloads ending in ``suffix``, oldest first."""
    present = set(keys)
    sets = []
    for key in keys:
        if not key.endswith(suffix):
            continue
        when = parse_timestamp(key)
        if when is None:
            continue
        stem = key[: -len(suffix)]
        sets.append(BackupSet(when, key,
                              key + ".sha256" if key + ".sha256" in present else None,
                              stem + ".manifest.json" if stem + ".manifest.json" in present else None))
    return sorted(sets, key=lambda s: (s.timestamp, s.key))


def newest_complete(s3, bucket: str, prefix: str, suffix: str) -> BackupSet:
    sets = [s for s in backup_sets([o["Key"] for o in list_keys(s3, bucket, prefix)], suffix) if s.complete]
    if not sets:
        raise BackupError(f"no complete backup (payload {suffix} with its .sha256) under s3://{bucket}/{prefix}")
    return sets[-1]


def prune_plan(sets: list[BackupSet], retention_days: int, now: datetime, keep_min: int = 1) -> list[BackupSet]:
    """Backup sets older than the retention window, never touching the newest ``keep_min`` complete ones.

    A job that has been failing for weeks must not delete the last good backup, so the newest
    complete sets survive whatever their age.
    """
    if retention_days < 1:
        raise ValueError(f"retention_days must be >= 1, got {retention_days}")
    cutoff = now - timedelta(days=retention_days)
    protected = {s.key for s in [s for s in sets if s.complete][-keep_min:]} if keep_min > 0 else set()
    return [s for s in sets if s.timestamp < cutoff and s.key not in protected]


def prune(s3, bucket: str, prefix: str, suffix: str, retention_days: int, now: datetime | None = None,
          keep_min: int = 1) -> list[str]:
    """Delete backup sets older than ``retention_days``; returns the deleted keys."""
    now = now or utcnow()
    sets = backup_sets([o["Key"] for o in list_keys(s3, bucket, prefix)], suffix)
    doomed: list[str] = []
    for s in prune_plan(sets, retention_days, now, keep_min):
        doomed.extend(k for k in (s.key, s.checksum_key, s.manifest_key) if k)
    for i in range(0, len(doomed), 1000):
        batch = doomed[i:i + 1000]
        resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if resp.get("Errors"):
            raise BackupError(f"pruning s3://{bucket}/{prefix} failed for {len(resp['Errors'])} object(s): "
                              f"{resp['Errors'][0].get('Key')}: {resp['Errors'][0].get('Message')}")
    return doomed


def download_verified(s3, bucket: str, backup: BackupSet, dest: str) -> str:
    """Download the payload to ``dest`` and check it against its checksum object and metadata.

    Raises CorruptBackupError (and removes the download) on any mismatch: a damaged backup is
    reported, never restored.
    """
    if not backup.checksum_key:
        raise CorruptBackupError(f"s3://{bucket}/{backup.key} has no checksum object; refusing to restore it")
    expected = parse_checksum_body(s3.get_object(Bucket=bucket, Key=backup.checksum_key)["Body"].read())
    head = s3.head_object(Bucket=bucket, Key=backup.key)
    meta_digest = head.get("Metadata", {}).get(META_SHA256)
    s3.download_file(bucket, backup.key, dest)
    actual = sha256_file(dest)
    problems = []
    if actual != expected:
        problems.append(f"content SHA-256 {actual} != checksum object {expected}")
    if meta_digest and meta_digest != expected:
        problems.append(f"metadata {META_SHA256} {meta_digest} != checksum object {expected}")
    if problems:
        os.unlink(dest)
        raise CorruptBackupError(f"s3://{bucket}/{backup.key} is corrupt: " + "; ".join(problems))
    return actual
