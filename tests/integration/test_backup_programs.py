"""The backup image's programs against real servers: the sandbox's PostgreSQL, moto S3 and the Kubernetes API.

CronJobs never fire in the API test server, so the programs the CronJobs run are exercised here
directly: a seeded database goes to S3 and comes back equal table by table, a damaged backup is
refused, pruning honours the retention, the application-data copy is incremental, and the
configuration export leaves Secrets out.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "images" / "backup"))

from cxr_backup import appdata, cli, kube, pg, s3util  # noqa: E402

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

SEED_SQL = """
CREATE SCHEMA clinical;
CREATE TABLE public.studies (id bigint PRIMARY KEY, patient text, taken timestamptz, score numeric(6,4),
                             labels text[], meta jsonb, image bytea);
INSERT INTO public.studies
SELECT g, 'patient-' || g, timestamptz '2026-01-01 00:00:00+00' + g * interval '17 minutes', (g % 10000) / 10000.0,
       ARRAY['label' || (g % 7), NULL], jsonb_build_object('g', g, 'even', g % 2 = 0),
       CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END
FROM generate_series(1, 5000) g;
CREATE TABLE clinical."Findings" (study_id bigint, "Finding" text, confidence double precision);
INSERT INTO clinical."Findings" SELECT g % 500, 'finding ' || (g % 13), g / 7.0 FROM generate_series(1, 3000) g;
INSERT INTO clinical."Findings" VALUES (1, 'duplicate', 0.5), (1, 'duplicate', 0.5);
CREATE TABLE public.empty_table (x int);
"""

# Independent of the programs' own checksum: the full text of every row, ordered.
CONTENT_SQL = "SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {} AS t"
TABLES = ["public.studies", 'clinical."Findings"', "public.empty_table"]


@pytest.fixture
def s3(aws_env):
    import boto3

    return boto3.client("s3", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


@pytest.fixture
def kms_key(aws_env):
    import boto3

    kms = boto3.client("kms", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    return kms.create_key(Description="cxr backup test")["KeyMetadata"]["Arn"]


@pytest.fixture
def bucket(s3):
    name = f"cxr-bk-test-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def aws(monkeypatch, aws_env):
    for k, v in aws_env.items():
        monkeypatch.setenv(k, v)


@pytest.fixture
def admin(sandbox) -> pg.PgTarget:
    p = sandbox["postgres"]
    return pg.PgTarget(host=p["host"], port=int(p["port"]), user=p["user"], dbname=p["dbname"], password=p["password"])


@pytest.fixture
def source_db(admin):
    name = f"bk_src_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with admin.with_db(name).connect() as conn:
        conn.execute(SEED_SQL)
    yield admin.with_db(name)
    with admin.connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def scratch(admin):
    name = f"cxr_restore_test_{uuid.uuid4().hex[:10]}"
    yield name
    pg.drop_database(admin, name)


def content(target: pg.PgTarget) -> dict:
    with target.connect() as conn:
        return {t: conn.execute(CONTENT_SQL.format(t)).fetchone() for t in TABLES}


def test_dump_goes_to_s3_encrypted_and_restores_equal(admin, source_db, s3, bucket, kms_key, scratch, aws):
    result = pg.backup(source_db, bucket, kms_key_id=kms_key, s3=s3)
    key = result["key"]
    assert key.startswith(f"postgres/{source_db.dbname}/") and key.endswith(".dump")
    assert s3util.parse_timestamp(key) is not None
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key
    assert head["Metadata"]["cxr-sha256"] == result["sha256"]
    body = s3.get_object(Bucket=bucket, Key=key + ".sha256")["Body"].read().decode()
    assert body == f"{result['sha256']}  {key.rsplit('/', 1)[-1]}\n"
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result["manifest_key"])["Body"].read())
    assert manifest["tables"]["public.studies"]["rows"] == 5000
    assert manifest["tables"]["clinical.Findings"]["rows"] == 3002
    assert manifest["tables"]["public.empty_table"]["rows"] == 0

    report = pg.restore(admin, bucket, scratch, source_db=source_db.dbname, s3=s3)
    assert report["verified"] is True and report["problems"] == [] and report["rows"] == 8002
    assert content(admin.with_db(scratch)) == content(source_db)


def test_restore_picks_the_newest_complete_backup(admin, source_db, s3, bucket, scratch, aws):
    old = pg.backup(source_db, bucket, s3=s3, now=datetime.now(timezone.utc) - timedelta(days=1))
    with source_db.connect() as conn:
        conn.execute("INSERT INTO public.empty_table VALUES (42)")
    new = pg.backup(source_db, bucket, s3=s3)
    # A newer dump whose checksum object was never written (the job died) must be skipped.
    s3.copy_object(Bucket=bucket, Key=f"postgres/{source_db.dbname}/{s3util.format_timestamp(datetime.now(timezone.utc) + timedelta(hours=1))}.dump",
                   CopySource={"Bucket": bucket, "Key": old["key"]})
    report = pg.restore(admin, bucket, scratch, source_db=source_db.dbname, s3=s3)
    assert report["key"] == new["key"]
    assert content(admin.with_db(scratch))["public.empty_table"][0] == 1


def test_corrupted_backup_is_detected_and_never_restored(admin, source_db, s3, bucket, scratch, aws, capsys, monkeypatch):
    result = pg.backup(source_db, bucket, s3=s3)
    data = bytearray(s3.get_object(Bucket=bucket, Key=result["key"])["Body"].read())
    data[len(data) // 2] ^= 0xFF  # one flipped bit in the middle, metadata kept as it was
    s3.put_object(Bucket=bucket, Key=result["key"], Body=bytes(data),
                  Metadata=s3.head_object(Bucket=bucket, Key=result["key"])["Metadata"])
    with pytest.raises(s3util.CorruptBackupError, match="is corrupt"):
        pg.restore(admin, bucket, scratch, source_db=source_db.dbname, s3=s3)
    assert not pg.database_exists(admin, scratch)

    # The CLI (what the drill runs) says so and exits 3.
    monkeypatch.setenv("PGHOST", admin.host)
    monkeypatch.setenv("PGPORT", str(admin.port))
    monkeypatch.setenv("PGUSER", admin.user)
    monkeypatch.setenv("PGPASSWORD", admin.password)
    rc = cli.main(["pg-restore", "--bucket", bucket, "--source-db", source_db.dbname, "--target-db", scratch, "--drop-after"])
    assert rc == 3
    assert "CORRUPT BACKUP" in capsys.readouterr().err
    assert not pg.database_exists(admin, scratch)


def test_restore_that_differs_from_the_manifest_fails(admin, source_db, s3, bucket, scratch, aws):
    result = pg.backup(source_db, bucket, s3=s3)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=result["manifest_key"])["Body"].read())
    manifest["tables"]["clinical.Findings"]["checksum"] = "1:1"
    s3.put_object(Bucket=bucket, Key=result["manifest_key"], Body=json.dumps(manifest).encode())
    with pytest.raises(s3util.BackupError, match="clinical.Findings: content checksum differs"):
        pg.restore(admin, bucket, scratch, source_db=source_db.dbname, s3=s3)


def test_retention_prunes_old_sets_but_keeps_the_window(source_db, s3, bucket, aws):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    for days in (45, 31, 3):
        pg.backup(source_db, bucket, s3=s3, now=now - timedelta(days=days))
    deleted = s3util.prune(s3, bucket, f"postgres/{source_db.dbname}", ".dump", 30, now)
    assert len(deleted) == 6  # two sets x (dump, checksum, manifest)
    left = {o["Key"] for o in s3util.list_keys(s3, bucket, "postgres")}
    assert len(left) == 3 and all(s3util.format_timestamp(now - timedelta(days=3)) in k for k in left)


def test_appdata_copy_is_incremental(s3, bucket, kms_key, aws):
    source = f"cxr-bk-lake-{uuid.uuid4().hex[:10]}"
    s3.create_bucket(Bucket=source)
    for i in range(5):
        s3.put_object(Bucket=source, Key=f"images/{i}.png", Body=f"image {i}".encode())
    s3.put_object(Bucket=source, Key="other/skip.txt", Body=b"not in the prefix")
    first = appdata.backup(source, "images/", bucket, kms_key_id=kms_key, s3=s3)
    assert (first["copied"], first["unchanged"]) == (5, 0)
    again = appdata.backup(source, "images/", bucket, kms_key_id=kms_key, s3=s3)
    assert (again["copied"], again["unchanged"]) == (0, 5)
    s3.put_object(Bucket=source, Key="images/1.png", Body=b"changed")
    s3.put_object(Bucket=source, Key="images/9.png", Body=b"new")
    s3.delete_object(Bucket=source, Key="images/4.png")
    third = appdata.backup(source, "images/", bucket, kms_key_id=kms_key, s3=s3)
    assert (third["copied"], third["vanished"], third["unchanged"]) == (2, 1, 3)
    copy = s3.get_object(Bucket=bucket, Key=f"appdata/{source}/data/images/1.png")
    assert copy["Body"].read() == b"changed" and copy["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key=f"appdata/{source}/data/images/4.png")["Body"].read() == b"image 4"
    state = json.loads(s3.get_object(Bucket=bucket, Key=f"appdata/{source}/state.json")["Body"].read())
    assert sorted(state["objects"]) == ["images/0.png", "images/1.png", "images/2.png", "images/3.png", "images/9.png"]
    assert len(s3util.list_keys(s3, bucket, f"appdata/{source}/runs")) == 3


@pytest.mark.cluster
def test_kube_config_backup_exports_yaml_without_secrets(kubeconfig, s3, bucket, aws):
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    ns = f"bk-kube-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": ns}})
    try:
        core.create_namespaced_config_map(ns, {"metadata": {"name": "settings"}, "data": {"threshold": "0.9"}})
        core.create_namespaced_secret(ns, {"metadata": {"name": "db"}, "stringData": {"password": "hunter2"}})
        apps.create_namespaced_deployment(ns, {
            "metadata": {"name": "inference"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "inference"}},
                     "template": {"metadata": {"labels": {"app": "inference"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}})
        result = kube.backup(bucket, [ns], ["v1/configmaps", "apps/v1/deployments", "example.com/v1/widgets"],
                             cluster="test", kubeconfig=kubeconfig, s3=s3)
    finally:
        core.delete_namespace(ns)
    assert result["not_served"] == ["example.com/v1/widgets"]
    data = s3.get_object(Bucket=bucket, Key=result["key"])["Body"].read()
    assert s3util.parse_checksum_body(s3.get_object(Bucket=bucket, Key=result["key"] + ".sha256")["Body"].read()) == result["sha256"]
    import yaml

    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {m.name: yaml.safe_load(tar.extractfile(m)) for m in tar.getmembers()}
    assert f"{ns}/core/configmaps/settings.yaml" in files
    assert files[f"{ns}/core/configmaps/settings.yaml"]["data"] == {"threshold": "0.9"}
    deploy = files[f"{ns}/apps/deployments/inference.yaml"]
    assert deploy["kind"] == "Deployment" and "uid" not in deploy["metadata"] and "status" not in deploy
    assert not any("secret" in name for name in files)
    assert b"hunter2" not in data
