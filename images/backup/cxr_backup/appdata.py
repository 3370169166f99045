"""Incremental application-data backup: new or changed objects of a data-lake prefix.

A state marker (``<prefix>/<source bucket>/state.json``: key -> ETag and size of what was copied)
in the backup bucket remembers the last run. Each run lists the source prefix, copies only the
objects whose ETag or size differ from the marker (server-side copy, SSE-KMS) to
``<prefix>/<source bucket>/data/<key>``, writes a run record
``<prefix>/<source bucket>/runs/<UTC timestamp>-<random>.json`` (copied and vanished keys) and then the
new marker. Objects deleted at the source stay in the backup (the backup bucket is versioned; its
lifecycle rules expire them). A run that fails half-way leaves the old marker, so the next run
copies the rest again: copies are idempotent.
"""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime

from . import s3util
from .s3util import BackupError


def plan(source: list[dict], state: dict) -> tuple[list[dict], list[str]]:
    """Objects to copy (new or changed by ETag/size) and keys that vanished since the last run."""
    changed = [o for o in source
               if state.get(o["Key"], {}).get("etag") != o["ETag"].strip('"')
               or state.get(o["Key"], {}).get("size") != o["Size"]]
    present = {o["Key"] for o in source}
    vanished = sorted(k for k in state if k not in present)
    return changed, vanished


def _load_state(s3, bucket: str, key: str) -> dict:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return {}
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise BackupError(f"state marker s3://{bucket}/{key} is not JSON; delete it to force a full copy") from exc
    return data.get("objects", {})


def backup(source_bucket: str, source_prefix: str, bucket: str, prefix: str = "appdata",
           kms_key_id: str | None = None, now: datetime | None = None, s3=None) -> dict:
    now = now or s3util.utcnow()
    s3 = s3 or s3util.client("s3")
    started = time.monotonic()
    base = s3util.join_key(prefix, source_bucket)
    state_key = base + "/state.json"
    state = _load_state(s3, bucket, state_key)
    source = [o for o in s3util.list_keys(s3, source_bucket, source_prefix) if not o["Key"].endswith("/")]
    changed, vanished = plan(source, state)
    stamp = s3util.format_timestamp(now)
    copied_bytes = 0
    new_state = {k: v for k, v in state.items() if k not in vanished}
    for obj in changed:
        s3.copy({"Bucket": source_bucket, "Key": obj["Key"]}, bucket, s3util.join_key(base, "data", obj["Key"]),
                ExtraArgs={**s3util.sse_args(kms_key_id), "MetadataDirective": "COPY"})
        new_state[obj["Key"]] = {"etag": obj["ETag"].strip('"'), "size": obj["Size"], "backed_up": stamp}
        copied_bytes += obj["Size"]
    record = {"timestamp": stamp, "source": f"s3://{source_bucket}/{source_prefix}", "copied": [o["Key"] for o in changed],
              "vanished": vanished, "copied_bytes": copied_bytes, "source_objects": len(source)}
    # Two runs in the same second (retries) must not overwrite each other's record.
    s3util.put_bytes(s3, bucket, f"{base}/runs/{stamp}-{uuid.uuid4().hex[:8]}.json", json.dumps(record, indent=2).encode(), kms_key_id,
                     {s3util.META_TIMESTAMP: stamp}, "application/json")
    s3util.put_bytes(s3, bucket, state_key, json.dumps({"timestamp": stamp, "objects": new_state}).encode(), kms_key_id,
                     {s3util.META_TIMESTAMP: stamp}, "application/json")
    return {"copied": len(changed), "copied_bytes": copied_bytes, "vanished": len(vanished),
            "unchanged": len(source) - len(changed), "state_key": state_key,
            "total_seconds": round(time.monotonic() - started, 3)}


def prune_runs(s3, bucket: str, source_bucket: str, prefix: str, retention_days: int, now: datetime | None = None) -> list[str]:
    """Delete run records older than the retention window (the data itself is expired by lifecycle rules)."""
    return s3util.prune(s3, bucket, s3util.join_key(prefix, source_bucket, "runs"), ".json", retention_days, now, keep_min=1)
