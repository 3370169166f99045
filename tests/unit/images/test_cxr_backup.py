"""Pure parts of the backup image's programs (images/backup/cxr_backup): naming, pruning, planning, cleaning."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "images" / "backup"))

from cxr_backup import appdata, cli, kube, pg, s3util  # noqa: E402

NOW = datetime(2026, 11, 26, 3, 15, tzinfo=timezone.utc)


def stamp(days_ago: float) -> str:
    return s3util.format_timestamp(NOW - timedelta(days=days_ago))


def test_timestamp_round_trip_and_naive_refused():
    assert s3util.parse_timestamp("postgres/cxr/" + s3util.format_timestamp(NOW) + ".dump") == NOW
    with pytest.raises(ValueError):
        s3util.format_timestamp(datetime(2026, 1, 1))
    assert pg.dump_key("postgres", "cxr", NOW) == "postgres/cxr/20261126T031500Z.dump"
    assert pg.dump_key("", "cxr", NOW) == "cxr/20261126T031500Z.dump"


def test_checksum_body_format_is_sha256sum_compatible():
    body = s3util.checksum_body("ab" * 32, "x.dump")
    assert body == ("ab" * 32 + "  x.dump\n").encode()
    assert s3util.parse_checksum_body(body) == "ab" * 32
    with pytest.raises(s3util.CorruptBackupError):
        s3util.parse_checksum_body(b"not a digest")


def test_prune_keeps_the_window_and_the_newest_complete_set():
    keys = []
    for days in (40, 35, 31, 29, 1):
        keys += [f"p/db/{stamp(days)}.dump", f"p/db/{stamp(days)}.dump.sha256"]
    sets = s3util.backup_sets(keys, ".dump")
    doomed = s3util.prune_plan(sets, 30, NOW)
    assert [s.timestamp for s in doomed] == [NOW - timedelta(days=d) for d in (40, 35, 31)]


def test_prune_never_deletes_the_last_good_backup_of_a_stopped_job():
    keys = [f"p/db/{stamp(60)}.dump", f"p/db/{stamp(60)}.dump.sha256", f"p/db/{stamp(50)}.dump"]  # newest incomplete
    sets = s3util.backup_sets(keys, ".dump")
    doomed = s3util.prune_plan(sets, 30, NOW)
    assert [s.key for s in doomed] == [f"p/db/{stamp(50)}.dump"]  # the complete one at 60 days survives
    with pytest.raises(ValueError):
        s3util.prune_plan(sets, 0, NOW)


def test_compare_manifest_reports_every_kind_of_difference():
    expected = {"public.a": {"rows": 2, "checksum": "1:2"}, "public.b": {"rows": 1, "checksum": "3:4"},
                "public.c": {"rows": 1, "checksum": "5:6"}}
    actual = {"public.a": {"rows": 2, "checksum": "1:2"}, "public.b": {"rows": 1, "checksum": "9:9"},
              "public.d": {"rows": 0, "checksum": "0:0"}}
    problems = pg.compare_manifest(expected, actual)
    assert problems == ["table public.b: content checksum differs from the backup manifest",
                        "table public.c is missing from the restore",
                        "table public.d is in the restore but not in the backup manifest"]
    assert pg.compare_manifest(expected, expected) == []


def test_appdata_plan_copies_only_new_and_changed_objects():
    source = [{"Key": "a", "ETag": '"1"', "Size": 1}, {"Key": "b", "ETag": '"2"', "Size": 2},
              {"Key": "c", "ETag": '"3"', "Size": 3}]
    state = {"a": {"etag": "1", "size": 1}, "b": {"etag": "old", "size": 2}, "gone": {"etag": "9", "size": 9}}
    changed, vanished = appdata.plan(source, state)
    assert [o["Key"] for o in changed] == ["b", "c"]
    assert vanished == ["gone"]


def test_kube_resources_parse_and_secrets_are_refused():
    assert kube.parse_resource("v1/configmaps") == ("", "v1", "configmaps")
    assert kube.parse_resource("apps/v1/deployments") == ("apps", "v1", "deployments")
    assert kube.list_path("", "v1", "configmaps", "ns") == "/api/v1/namespaces/ns/configmaps"
    assert kube.list_path("argoproj.io", "v1alpha1", "applications", "ns") == "/apis/argoproj.io/v1alpha1/namespaces/ns/applications"
    with pytest.raises(s3util.BackupError, match="Secrets are never exported"):
        kube.parse_resource("v1/secrets")
    with pytest.raises(s3util.BackupError, match="must be"):
        kube.parse_resource("deployments")


def test_kube_clean_strips_server_fields():
    obj = {"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": "s", "namespace": "n", "uid": "u", "resourceVersion": "5", "managedFields": [],
                        "creationTimestamp": "t", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
                        "labels": {"app": "x"}},
           "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80}]}, "status": {}}
    cleaned = kube.clean(obj)
    assert cleaned == {"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "s", "namespace": "n", "labels": {"app": "x"}},
                       "spec": {"ports": [{"port": 80}]}}
    assert obj["metadata"]["uid"] == "u"  # the input is not modified


def test_cli_refuses_bad_input_before_doing_anything(capsys):
    assert cli.main(["pg-backup", "--dbname", "x"]) == 2  # no bucket
    assert "--bucket" in capsys.readouterr().err
    assert cli.main(["pg-backup", "--bucket", "b", "--dbname", "x", "--now", "yesterday"]) == 2
    assert "--now" in capsys.readouterr().err
    assert cli.main(["pg-restore", "--bucket", "b", "--source-db", "x", "--target-db", "prod", "--drop-after"]) == 2
    assert "cxr_restore_" in capsys.readouterr().err
    assert cli.main(["kube-backup", "--bucket", "b", "--namespaces", ""]) == 2
    assert "at least one namespace" in capsys.readouterr().err


def test_drop_refuses_non_scratch_databases():
    admin = pg.PgTarget("127.0.0.1", 1, "postgres", "postgres")
    with pytest.raises(s3util.BackupError, match="only scratch databases"):
        pg.drop_database(admin, "cxr")
