#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: cxr.mlops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: backup_compliance
short_description: Check backups in S3 and RDS point-in-time recovery against the RPO and the retention
version_added: "0.1.0"
description:
  - Lists the backup sets written by the cxr backup CronJobs (C(<prefix>/<UTC timestamp><suffix>) with a
    C(.sha256) checksum object and C(cxr-sha256) / C(cxr-backup-timestamp) user metadata) and, optionally, reads
    the RDS instance's C(LatestRestorableTime) and C(BackupRetentionPeriod).
  - Reports per source the age of the newest good backup, gaps between backups longer than the schedule, the
    UTC days of the retention window without a backup (retention coverage), incomplete sets and checksum
    mismatches; and overall the newest recovery point against the RPO (the newest of the RDS latest restorable
    time and every newest good backup).
  - C(compliant) is true only when there is no violation; every violation adds one line to C(reasons). A source
    with no backup, or a call with nothing to check, is never compliant.
  - Backup times come from object keys (S3 C(LastModified) is the time of the upload on the server and cannot be
    set in tests). O(now) fixes the evaluation time for tests and reports.
  - Read-only; check mode and normal mode do the same. Uses C(AnsibleAWSModule) with jittered-backoff retries;
    C(AWS_ENDPOINT_URL) (the sandbox's moto) is honoured by botocore.
author:
  - cxr.mlops platform engineers
options:
  rpo_hours:
    description: Recovery point objective in hours; the newest recovery point must be no older.
    type: float
    default: 1.0
  retention_days:
    description:
      - Retention in days. Every UTC day of that many days before today must have a good backup (per source whose
        schedule is daily or more frequent) and the RDS C(BackupRetentionPeriod) must be at least this long.
    type: int
    default: 30
  required_since:
    description: First day (C(YYYY-MM-DD)) backups are required (go-live); earlier days of the window are not counted.
    type: str
  bucket:
    description: Default bucket of the sources.
    type: str
  sources:
    description: Where the backups live; one entry per backup stream.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Name used in the report and the reasons.
        type: str
        required: true
      bucket:
        description: Bucket; defaults to O(bucket).
        type: str
      prefix:
        description: Key prefix holding the sets, for example C(postgres/cxr) or C(kube-config/cxr-production-eks).
        type: str
        required: true
      suffix:
        description: Payload suffix.
        type: str
        default: .dump
      schedule_hours:
        description: Interval between backups in hours (24 for a daily CronJob).
        type: float
        default: 24
      gap_tolerance_hours:
        description: Slack added to the schedule before a gap or age counts as a violation.
        type: float
        default: 1
      max_age_hours:
        description: Maximum age of the newest good backup; default the schedule plus the tolerance.
        type: float
  rds_instance_id:
    description: RDS DB instance whose point-in-time recovery is checked (C(LatestRestorableTime), retention period).
    type: str
  checksum_mode:
    description:
      - C(metadata) compares each payload's C(cxr-sha256) metadata with its checksum object (no download).
      - C(content) also downloads and hashes the newest O(content_check_count) payloads of each source.
    type: str
    choices: [metadata, content]
    default: metadata
  content_check_count:
    description: With O(checksum_mode=content), how many of the newest payloads per source are hashed.
    type: int
    default: 1
  now:
    description: Evaluation time (ISO 8601 or C(YYYYMMDDTHHMMSSZ), UTC when no zone is given); default the current time.
    type: str
  fail_on_violation:
    description: Fail the task (after reporting) when the backups are not compliant.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Needs C(s3:ListBucket), C(s3:GetObject) on the backup prefixes and C(rds:DescribeDBInstances).
"""

EXAMPLES = r"""
- name: Check the platform's backups
  cxr.mlops.backup_compliance:
    rpo_hours: 1
    retention_days: 30
    bucket: cxr-production-backups-111122223333-us-east-1
    sources:
      - name: postgres
        prefix: postgres/cxr
      - name: kube-config
        prefix: kube-config/cxr-production-eks
        suffix: .tar.gz
    rds_instance_id: cxr-production-postgres
  register: backup_report

- name: Fail a scheduled check when out of compliance
  cxr.mlops.backup_compliance:
    bucket: "{{ backup_bucket }}"
    sources: [{name: postgres, prefix: postgres/cxr}]
    fail_on_violation: true
"""

RETURN = r"""
compliant:
  description: True when no violation was found.
  type: bool
  returned: always
reasons:
  description: One line per violation (empty when compliant).
  type: list
  elements: str
  returned: always
recovery_point:
  description: The newest recovery point (ISO 8601) across RDS and every source, or null.
  type: str
  returned: always
recovery_point_age_hours:
  description: Age of the newest recovery point in hours.
  type: float
  returned: always
sources:
  description:
    - Per source; C(newest_good), C(newest_good_age_hours), C(gaps) (list of C(after), C(before), C(hours)),
      C(missing_days), C(retention_coverage) (0..1), C(checksum_mismatches), C(incomplete), C(beyond_retention),
      C(backups), C(good), C(reasons).
  type: list
  elements: dict
  returned: always
rds:
  description: C(found), C(id), C(latest_restorable_time), C(lag_hours), C(backup_retention_period), C(status), C(reasons).
  type: dict
  returned: when rds_instance_id is given
"""

try:
    import botocore
except ImportError:
    pass  # handled by AnsibleAWSModule

import hashlib

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.cxr.mlops.plugins.module_utils import backup as backup_utils


def list_keys(s3, module, bucket, prefix):
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    keys = []
    try:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(obj["Key"] for obj in page.get("Contents", []))
    except is_boto3_error_code("NoSuchBucket"):
        module.fail_json(msg="backup bucket %s does not exist" % bucket)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="cannot list s3://%s/%s" % (bucket, prefix))
    return keys


def content_digest(s3, bucket, key):
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(8 * 1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


def inspect_source(s3, module, source, default_bucket):
    bucket = source.get("bucket") or default_bucket
    if not bucket:
        module.fail_json(msg="source %s has no bucket and the module's bucket option is not set" % source["name"])
    location = "s3://%s/%s" % (bucket, source["prefix"].strip("/"))
    backups = backup_utils.group_backups(list_keys(s3, module, bucket, source["prefix"]), source["suffix"])
    content_from = len(backups) - module.params["content_check_count"] if module.params["checksum_mode"] == "content" else None
    for index, item in enumerate(backups):
        expected = actual = meta_ts = None
        try:
            if item["checksum_key"]:
                expected = backup_utils.parse_checksum_body(s3.get_object(Bucket=bucket, Key=item["checksum_key"])["Body"].read())
                head = s3.head_object(Bucket=bucket, Key=item["key"])
                actual = head.get("Metadata", {}).get(backup_utils.META_SHA256)
                meta_ts = head.get("Metadata", {}).get(backup_utils.META_TIMESTAMP)
                if content_from is not None and index >= content_from and actual == expected:
                    actual = content_digest(s3, bucket, item["key"])
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:
            module.fail_json_aws(e, msg="cannot read backup %s/%s" % (bucket, item["key"]))
        item["status"], item["reason"] = backup_utils.classify(item, expected, actual, meta_ts)
    spec = dict(source, location=location)
    return spec, backups


def describe_instance(module, instance_id):
    rds = module.client("rds", retry_decorator=AWSRetry.jittered_backoff())
    try:
        found = rds.describe_db_instances(DBInstanceIdentifier=instance_id, aws_retry=True)["DBInstances"]
    except is_boto3_error_code("DBInstanceNotFound"):
        return None
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="cannot describe RDS instance %s" % instance_id)
    return found[0] if found else None


def main():
    source_spec = dict(
        name=dict(type="str", required=True),
        bucket=dict(type="str"),
        prefix=dict(type="str", required=True),
        suffix=dict(type="str", default=".dump"),
        schedule_hours=dict(type="float", default=24),
        gap_tolerance_hours=dict(type="float", default=1),
        max_age_hours=dict(type="float"),
    )
    argument_spec = dict(
        rpo_hours=dict(type="float", default=1.0),
        retention_days=dict(type="int", default=30),
        required_since=dict(type="str"),
        bucket=dict(type="str"),
        sources=dict(type="list", elements="dict", options=source_spec, default=[]),
        rds_instance_id=dict(type="str"),
        checksum_mode=dict(type="str", choices=["metadata", "content"], default="metadata"),
        content_check_count=dict(type="int", default=1),
        now=dict(type="str"),
        fail_on_violation=dict(type="bool", default=False),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params
    # Bad input is refused before any AWS call.
    try:
        now = backup_utils.to_utc(p["now"]) if p["now"] else None
        backup_utils.evaluate([], now or "2000-01-01T00:00:00Z", p["rpo_hours"], p["retention_days"],
                              rds={"instance": None}, required_since=p["required_since"])
        for src in p["sources"]:
            backup_utils.evaluate_source(dict(src), [], backup_utils.to_utc("2000-01-01T00:00:00Z"), p["retention_days"])
    except backup_utils.BackupComplianceError as exc:
        module.fail_json(msg="backup_compliance: %s" % exc)
    if p["content_check_count"] < 0:
        module.fail_json(msg="backup_compliance: content_check_count must be >= 0, got %d" % p["content_check_count"])
    names = [s["name"] for s in p["sources"]]
    if len(set(names)) != len(names):
        module.fail_json(msg="backup_compliance: source names must be unique, got %s" % ", ".join(names))

    sources = []
    if p["sources"]:
        s3 = module.client("s3", retry_decorator=AWSRetry.jittered_backoff())
        sources = [inspect_source(s3, module, src, p["bucket"]) for src in p["sources"]]
    rds = {"instance": describe_instance(module, p["rds_instance_id"])} if p["rds_instance_id"] else None
    if now is None:
        from datetime import datetime, timezone

        now = datetime.now(timezone.utc)
    report = backup_utils.evaluate(sources, now, p["rpo_hours"], p["retention_days"], rds, p["required_since"])
    if p["fail_on_violation"] and not report["compliant"]:
        module.fail_json(msg="backups are not compliant: " + "; ".join(report["reasons"]), changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == "__main__":
    main()
