"""The Terraform stack, applied for real: terraform 1.11 + AWS provider 5.100 against moto.

One module-scoped apply (about 100 s on an idle machine): the patched moto launcher
(tests/support/moto_server.py) on a free port, the bootstrap root creates the state bucket and
lock table, the root module is initialised with the S3 backend pointed at moto and applied with a
local-inventory-like sizing.  Then boto3 checks the security settings a user relies on, and a
second ``terraform plan -detailed-exitcode`` must report no changes.

Also here: the launcher's patches, each shown against the AWS behaviour it restores (fast, same
moto server, another region), and static checks (fmt, validate, checkov skip reasons).
"""
from __future__ import annotations

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
from botocore.exceptions import ClientError  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TF_ROOT = ROOT / "infrastructure" / "terraform"
LAUNCHER = ROOT / "tests" / "support" / "moto_server.py"
MIRROR = Path(os.environ.get("CXR_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
REGION, REPLICA_REGION, PATCH_REGION = "us-east-1", "us-west-2", "eu-west-1"
# Generous: the provider's own waiting is ~100 s, a loaded 2-core machine needs far more.
TF_TIMEOUT = int(os.environ.get("CXR_TF_TIMEOUT", "1200"))

pytestmark = [
    pytest.mark.terraform,
    pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not on PATH"),
    pytest.mark.skipif(not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir(),
                       reason=f"no AWS provider in the filesystem mirror {MIRROR}"),
]

SIZING = {  # the local inventory's sizing, written as the -var-file the terraform_apply role writes
    "environment": "local", "region": REGION, "replica_region": REPLICA_REGION,
    "vpc_cidr": "10.40.0.0/16", "az_count": 2, "single_nat_gateway": True, "cluster_version": "1.31",
    "ondemand_instance_types": ["t3.large"], "ondemand_min_size": 1, "ondemand_desired_size": 1,
    "ondemand_max_size": 2, "spot_instance_types": ["t3.large", "t3a.large"], "spot_min_size": 0,
    "spot_desired_size": 1, "spot_max_size": 2, "db_instance_class": "db.t4g.micro",
    "db_allocated_storage": 20, "db_max_allocated_storage": 50, "db_multi_az": False,
    "redis_node_type": "cache.t4g.micro", "redis_num_cache_clusters": 2,
    "domain_name": "cxr.local.example.com", "alarm_email": "oncall@example.com",
    "log_retention_days": 90, "kms_deletion_window_days": 7, "force_destroy_buckets": True,
    "redis_auth_token": "local-sandbox-token-0123456789",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout} s")


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    """The patched moto launcher on a free port, stopped (SIGTERM) after the module."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(LAUNCHER), "--host", "127.0.0.1", "--port", str(port)],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/moto-api/", 120)
    except TimeoutError:
        proc.kill()
        pytest.fail(f"moto launcher did not start: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def tf_env(tmp_path_factory, moto_url):
    work = tmp_path_factory.mktemp("tf")
    rc = work / "terraform.rc"
    rc.write_text(
        'provider_installation {\n'
        f'  filesystem_mirror {{\n    path    = "{MIRROR}"\n    include = ["registry.terraform.io/*/*"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/*/*"]\n  }\n}\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
    env.update({
        "TF_CLI_CONFIG_FILE": str(rc), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_url, "CHECKPOINT_DISABLE": "1",
    })
    return {"env": env, "work": work, "url": moto_url}


def terraform(tf_env, *args, cwd=TF_ROOT, data_dir="root", check=True, timeout=TF_TIMEOUT):
    env = dict(tf_env["env"], TF_DATA_DIR=str(tf_env["work"] / f"{data_dir}.data"))
    proc = subprocess.run(["terraform", *args, "-no-color"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


@pytest.fixture(scope="module")
def stack(tf_env):
    """Bootstrap the state backend, then init/plan/apply the root module once; return outputs."""
    url, work = tf_env["url"], tf_env["work"]
    timings = {}
    boot_vars = ["-var", f"region={REGION}", "-var", "state_bucket_name=cxr-local-tfstate",
                 "-var", "lock_table_name=cxr-local-tflock", "-var", f"aws_endpoint_url={url}"]
    terraform(tf_env, "init", "-input=false", "-lockfile=readonly", cwd=TF_ROOT / "bootstrap", data_dir="boot")
    terraform(tf_env, "apply", "-auto-approve", "-input=false", f"-state={work / 'boot.tfstate'}", *boot_vars,
              cwd=TF_ROOT / "bootstrap", data_dir="boot")

    backend = work / "sandbox.s3.tfbackend"
    backend.write_text(
        'bucket = "cxr-local-tfstate"\nkey = "cxr/local/terraform.tfstate"\nregion = "us-east-1"\n'
        'dynamodb_table = "cxr-local-tflock"\nencrypt = true\nuse_path_style = true\n'
        'skip_credentials_validation = true\nskip_requesting_account_id = true\n'
        'skip_metadata_api_check = true\nskip_region_validation = true\n'
        f'endpoints = {{\n  s3 = "{url}"\n  dynamodb = "{url}"\n  sts = "{url}"\n  iam = "{url}"\n}}\n')
    varfile = work / "local.tfvars.json"
    varfile.write_text(json.dumps(dict(SIZING, aws_endpoint_url=url), indent=2))
    tf_env["varfile"] = varfile

    t0 = time.monotonic()
    terraform(tf_env, "init", "-input=false", "-lockfile=readonly", f"-backend-config={backend}")
    timings["init"] = time.monotonic() - t0
    t0 = time.monotonic()
    plan_file = work / "stack.tfplan"
    terraform(tf_env, "plan", "-input=false", f"-var-file={varfile}", f"-out={plan_file}")
    timings["plan"] = time.monotonic() - t0
    plan = json.loads(terraform(tf_env, "show", "-json", str(plan_file)).stdout)
    t0 = time.monotonic()
    terraform(tf_env, "apply", "-input=false", str(plan_file))
    timings["apply"] = time.monotonic() - t0
    outputs = {k: v["value"] for k, v in json.loads(terraform(tf_env, "output", "-json").stdout).items()}
    managed = sum(rc["mode"] == "managed" for rc in plan["resource_changes"])
    print(f"\nterraform timings (s): {', '.join(f'{k} {v:.1f}' for k, v in timings.items())}; {managed} resources")
    return {"outputs": outputs, "plan": plan, "timings": timings}


def client(tf_env, service, region=REGION):
    return boto3.client(service, region_name=region, endpoint_url=tf_env["url"],
                        aws_access_key_id="testing", aws_secret_access_key="testing")


# ----------------------------------------------------------------------------- the applied stack
@pytest.mark.slow
def test_plan_covers_every_module_and_outputs_are_complete(stack):
    managed = [rc for rc in stack["plan"]["resource_changes"] if rc["mode"] == "managed"]
    modules = {rc["address"].split(".")[1] for rc in managed}
    assert modules == {"network", "eks", "data", "storage", "edge", "registry", "observability", "irsa"}
    assert all(rc["change"]["actions"] == ["create"] for rc in managed) and len(managed) > 100
    out = stack["outputs"]
    for name in ("cluster_name", "cluster_endpoint", "cluster_ca", "cluster_arn", "oidc_provider_arn", "db_endpoint",
                 "db_address", "db_port", "db_identifier", "db_name", "db_username", "db_master_secret_arn",
                 "redis_primary_endpoint", "model_bucket_name", "model_bucket_arn", "data_lake_bucket_name",
                 "backup_bucket_name", "alb_arn", "alb_dns_name", "https_listener_arn", "waf_acl_arn",
                 "ecr_repository_url", "vpc_id", "account_id", "region"):
        assert out.get(name), f"output {name} is empty"
    assert set(out["node_role_arns"]) == {"ondemand", "spot"}
    assert set(out["target_group_arns"]) == {"blue", "green"}
    assert set(out["kms_key_arns"]) == {"eks_secrets", "data", "storage", "replica", "ecr", "logs"}
    assert set(out["irsa_role_arns"]) == set(_role_service_accounts())
    assert out.get("db_replica") is None  # the cross-region replica is off by default
    assert len(out["private_subnet_ids"]) == len(out["public_subnet_ids"]) == SIZING["az_count"]
    assert out["region"] == REGION and out["account_id"] == "123456789012"


@pytest.mark.slow
def test_rds_is_encrypted_backed_up_and_protected(stack, tf_env):
    out = stack["outputs"]
    db = client(tf_env, "rds").describe_db_instances(DBInstanceIdentifier=out["db_identifier"])["DBInstances"][0]
    assert db["StorageEncrypted"] is True and db["KmsKeyId"] == out["kms_key_arns"]["data"]
    assert db["BackupRetentionPeriod"] == 30
    assert db["DeletionProtection"] is True
    assert db["PerformanceInsightsEnabled"] is True
    assert db["PubliclyAccessible"] is False
    assert db["MasterUserSecret"]["SecretArn"] == out["db_master_secret_arn"]
    assert db["Engine"] == "postgres" and db["MultiAZ"] is SIZING["db_multi_az"]
    with pytest.raises(ClientError, match="protection"):
        client(tf_env, "rds").delete_db_instance(DBInstanceIdentifier=out["db_identifier"], SkipFinalSnapshot=True)


@pytest.mark.slow
def test_buckets_are_private_versioned_kms_encrypted_with_lifecycle(stack, tf_env):
    out, s3 = stack["outputs"], client(tf_env, "s3")
    for bucket in (out["model_bucket_name"], out["data_lake_bucket_name"], out["backup_bucket_name"]):
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == out["kms_key_arns"]["storage"]
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(pab[k] for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"))
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert any(r.get("Transitions") for r in rules), f"{bucket} has no tiering rule"
    classes = [t["StorageClass"] for t in s3.get_bucket_lifecycle_configuration(Bucket=out["data_lake_bucket_name"])["Rules"][0]["Transitions"]]
    assert classes == ["STANDARD_IA", "GLACIER_IR"]
    replication = s3.get_bucket_replication(Bucket=out["model_bucket_name"])["ReplicationConfiguration"]["Rules"][0]
    assert replication["Destination"]["Bucket"].endswith(out["replica_bucket_name"])
    assert replication["DeleteMarkerReplication"]["Status"] == "Enabled"
    replica = client(tf_env, "s3", REPLICA_REGION)
    assert replica.get_bucket_location(Bucket=out["replica_bucket_name"])["LocationConstraint"] == REPLICA_REGION


@pytest.mark.slow
def test_eks_secrets_encryption_logs_node_groups_and_admin_access(stack, tf_env):
    out, eks = stack["outputs"], client(tf_env, "eks")
    cluster = eks.describe_cluster(name=out["cluster_name"])["cluster"]
    assert cluster["encryptionConfig"][0]["provider"]["keyArn"] == out["kms_key_arns"]["eks_secrets"]
    assert cluster["encryptionConfig"][0]["resources"] == ["secrets"]
    enabled = {t for entry in cluster["logging"]["clusterLogging"] if entry["enabled"] for t in entry["types"]}
    assert {"api", "audit", "authenticator"} <= enabled
    assert cluster["version"] == SIZING["cluster_version"]
    assert cluster["resourcesVpcConfig"]["endpointPublicAccess"] is False
    assert cluster["accessConfig"]["authenticationMode"] == "API"
    spot = eks.describe_nodegroup(clusterName=out["cluster_name"], nodegroupName="spot")["nodegroup"]
    assert spot["capacityType"] == "SPOT" and spot["taints"][0]["effect"] == "NO_SCHEDULE"
    ondemand = eks.describe_nodegroup(clusterName=out["cluster_name"], nodegroupName="ondemand")["nodegroup"]
    assert ondemand["capacityType"] == "ON_DEMAND"
    assert ondemand["scalingConfig"] == {"minSize": 1, "maxSize": 2, "desiredSize": 1}
    me = client(tf_env, "sts").get_caller_identity()["Arn"]
    assert me in out["cluster_admin_principal_arns"]
    policies = eks.list_associated_access_policies(clusterName=out["cluster_name"], principalArn=me)["associatedAccessPolicies"]
    assert [p["policyArn"].rsplit("/", 1)[1] for p in policies] == ["AmazonEKSClusterAdminPolicy"]


@pytest.mark.slow
def test_ecr_scans_on_push_with_immutable_kms_encrypted_tags(stack, tf_env):
    out = stack["outputs"]
    repos = client(tf_env, "ecr").describe_repositories()["repositories"]
    ours = [r for r in repos if r["repositoryUri"] in out["ecr_repository_urls"].values()]
    assert len(ours) == 2
    for repo in ours:
        assert repo["imageScanningConfiguration"]["scanOnPush"] is True
        assert repo["imageTagMutability"] == "IMMUTABLE"
        assert repo["encryptionConfiguration"] == {"encryptionType": "KMS", "kmsKey": out["kms_key_arns"]["ecr"]}


@pytest.mark.slow
def test_log_groups_have_retention_and_kms(stack, tf_env):
    out, logs = stack["outputs"], client(tf_env, "logs")
    for name in out["log_group_names"].values():
        group = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
        assert group["retentionInDays"] == SIZING["log_retention_days"], name
        assert group["kmsKeyId"] == out["kms_key_arns"]["logs"], name
    alarms = client(tf_env, "cloudwatch").describe_alarms(AlarmNamePrefix="cxr-local-")["MetricAlarms"]
    assert len(alarms) >= 5 and all(a["AlarmActions"] == [out["alarm_topic_arn"]] for a in alarms)


@pytest.mark.slow
def test_alb_serves_https_weighted_blue_green_behind_waf(stack, tf_env):
    out, elb = stack["outputs"], client(tf_env, "elbv2")
    listener = elb.describe_listeners(ListenerArns=[out["https_listener_arn"]])["Listeners"][0]
    assert listener["Protocol"] == "HTTPS" and listener["Certificates"][0]["CertificateArn"] == out["certificate_arn"]
    weights = {tg["TargetGroupArn"]: tg["Weight"] for tg in listener["DefaultActions"][0]["ForwardConfig"]["TargetGroups"]}
    assert weights == {out["target_group_arns"]["blue"]: 100, out["target_group_arns"]["green"]: 0}
    acl = client(tf_env, "wafv2").get_web_acl_for_resource(ResourceArn=out["alb_arn"])["WebACL"]
    assert acl["ARN"] == out["waf_acl_arn"]
    assert {"AWSManagedRulesKnownBadInputsRuleSet", "rate-limit-per-ip"} <= {r["Name"] for r in acl["Rules"]}


@pytest.mark.slow
def test_redis_encrypted_with_auth_and_member_clusters(stack, tf_env):
    out, ec = stack["outputs"], client(tf_env, "elasticache")
    group = ec.describe_replication_groups(ReplicationGroupId="cxr-local-redis")["ReplicationGroups"][0]
    assert group["AtRestEncryptionEnabled"] and group["TransitEncryptionEnabled"] and group["AuthTokenEnabled"]
    assert group["KmsKeyId"] == out["kms_key_arns"]["data"]
    assert len(group["MemberClusters"]) == SIZING["redis_num_cache_clusters"]
    assert group["NodeGroups"][0]["PrimaryEndpoint"]["Address"] == out["redis_primary_endpoint"]


@functools.lru_cache(maxsize=1)
def _role_service_accounts() -> dict[str, str]:
    """<namespace>/<name> of every service account an IRSA role is for, read from the roles that create them."""
    import yaml
    addons = yaml.safe_load((ROOT / "roles" / "cluster_baseline" / "vars" / "main.yml").read_text())["cluster_baseline__addon_defaults"]
    out = {}
    for key in ("aws_load_balancer_controller", "cluster_autoscaler", "aws_for_fluent_bit", "external_dns"):
        values = addons[key]["values"]
        sa = values.get("serviceAccount") or values["rbac"]["serviceAccount"]
        out[key] = f"{addons[key]['namespace']}/{sa['name']}"
    namespace = yaml.safe_load((ROOT / "roles" / "backup_cronjobs" / "defaults" / "main.yml").read_text())["backup_cronjobs_namespace"]
    template = (ROOT / "roles" / "backup_cronjobs" / "templates" / "resources.yml.j2").read_text()
    for job_id, name in re.findall(r"'id': '([a-z-]+)', 'name': '([a-z-]+)'", template):
        out["backup_" + job_id.replace("-", "_")] = f"{namespace}/{name}"
    return out


def test_irsa_service_accounts_are_read_from_the_roles():
    assert _role_service_accounts() == {
        "aws_load_balancer_controller": "kube-system/aws-load-balancer-controller",
        "cluster_autoscaler": "kube-system/cluster-autoscaler",
        "aws_for_fluent_bit": "amazon-cloudwatch/aws-for-fluent-bit",
        "external_dns": "kube-system/external-dns",
        "backup_postgres": "cxr-backups/cxr-backup-postgres",
        "backup_kube_config": "cxr-backups/cxr-backup-kube-config",
        "backup_appdata": "cxr-backups/cxr-backup-appdata",
    }


def _statements(document) -> list[dict]:
    doc = json.loads(document) if isinstance(document, str) else document
    return doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.slow
def test_irsa_roles_trust_only_their_service_account_through_the_cluster_oidc_provider(stack, tf_env):
    out, iam = stack["outputs"], client(tf_env, "iam")
    issuer = client(tf_env, "eks").describe_cluster(name=out["cluster_name"])["cluster"]["identity"]["oidc"]["issuer"]
    host = issuer.removeprefix("https://")
    provider = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=out["oidc_provider_arn"])
    assert provider["ClientIDList"] == ["sts.amazonaws.com"] and out["oidc_provider_arn"].endswith(host)
    assert out["irsa_service_accounts"] == _role_service_accounts()
    for key, sa in _role_service_accounts().items():
        arn = out["irsa_role_arns"][key]
        role = iam.get_role(RoleName=arn.rsplit("/", 1)[1])["Role"]
        assert role["Arn"] == arn and role["RoleName"] == f"cxr-local-{key.replace('_', '-')}"
        [stmt] = _statements(role["AssumeRolePolicyDocument"])
        namespace, name = sa.split("/")
        assert stmt["Effect"] == "Allow" and stmt["Action"] == "sts:AssumeRoleWithWebIdentity", key
        assert stmt["Principal"] == {"Federated": out["oidc_provider_arn"]}, key
        assert stmt["Condition"] == {"StringEquals": {f"{host}:sub": f"system:serviceaccount:{namespace}:{name}",
                                                      f"{host}:aud": "sts.amazonaws.com"}}, key
        assert iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"] == [key.replace("_", "-")], key
    assert out["irsa_role_names"] == {k: a.rsplit("/", 1)[1] for k, a in out["irsa_role_arns"].items()}


@pytest.mark.slow
def test_irsa_policies_reach_only_their_own_resources(stack, tf_env):
    out, iam = stack["outputs"], client(tf_env, "iam")

    def policy(key):
        name = out["irsa_role_names"][key]
        return _statements(iam.get_role_policy(RoleName=name, PolicyName=key.replace("_", "-"))["PolicyDocument"])

    bucket_arn, lake_arn = out["backup_bucket_arn"], out["data_lake_bucket_arn"]
    for key, prefix in (("backup_postgres", "postgres"), ("backup_kube_config", "kube-config"), ("backup_appdata", "appdata")):
        stmts = {s["Sid"]: s for s in policy(key)}
        assert _as_list(stmts["ReadWritePruneOwnPrefix"]["Resource"]) == [f"{bucket_arn}/{prefix}/*"], key
        assert {"s3:PutObject", "s3:GetObject"} <= set(stmts["ReadWritePruneOwnPrefix"]["Action"]), key
        assert stmts["ListOwnPrefix"]["Condition"] == {"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}}, key
        assert stmts["BucketKeyThroughS3"]["Resource"] == out["kms_key_arns"]["storage"], key
        backup_objects = [r for s in stmts.values() for r in _as_list(s["Resource"]) if r.startswith(bucket_arn + "/")]
        assert all(r.startswith(f"{bucket_arn}/{prefix}/") for r in backup_objects), (key, backup_objects)
        # only the application-data copy reads the data lake, only the dump reads the DB secret
        assert any(lake_arn in _as_list(s["Resource"]) for s in stmts.values()) is (key == "backup_appdata"), key
        assert ("ReadDatabaseSecret" in stmts) is (key == "backup_postgres"), key
    assert {s["Sid"]: s for s in policy("backup_postgres")}["ReadDatabaseSecret"]["Resource"] == out["db_master_secret_arn"]

    [scale] = [s for s in policy("cluster_autoscaler") if s["Sid"] == "ScaleOwnNodeGroups"]
    assert scale["Condition"]["StringEquals"] == {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{out['cluster_name']}": "owned",
                                                  "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true"}
    app = client(tf_env, "logs").describe_log_groups(logGroupNamePrefix=out["log_group_names"]["app"])["logGroups"][0]["arn"]
    assert {r for s in policy("aws_for_fluent_bit") for r in _as_list(s["Resource"])} == {app.removesuffix(":*"), app.removesuffix(":*") + ":*"}
    # no hosted zone given (external_dns_zone_ids = []): ExternalDNS may list zones and change nothing
    assert [(s["Sid"], s["Action"]) for s in policy("external_dns")] == [("ListZones", "route53:ListHostedZones")]
    lbc = policy("aws_load_balancer_controller")
    tagged = [s for s in lbc if "aws:ResourceTag/elbv2.k8s.aws/cluster" in json.dumps(s.get("Condition", {}))]
    assert tagged and all(out["cluster_name"] in json.dumps(s["Condition"]) for s in tagged)
    [create_sg] = [s for s in lbc if s["Sid"] == "CreateSecurityGroup"]
    assert any(r.endswith(f":vpc/{out['vpc_id']}") for r in _as_list(create_sg["Resource"]))


@pytest.mark.slow
def test_backups_bucket_expires_backups_after_the_retention(stack, tf_env):
    out, s3 = stack["outputs"], client(tf_env, "s3")
    rules = {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=out["backup_bucket_name"])["Rules"]}
    assert set(rules) == {"tiering", "expire-postgres", "expire-kube-config", "appdata-tiering"}
    assert all(r["Status"] == "Enabled" for r in rules.values())
    for rule_id, prefix in (("expire-postgres", "postgres/"), ("expire-kube-config", "kube-config/")):
        assert rules[rule_id]["Filter"] == {"Prefix": prefix}
        assert rules[rule_id]["Expiration"] == {"Days": 31}  # backup_retention_days (30) + 1: the jobs prune first
    everything = rules["tiering"]
    assert everything["Filter"] == {"Prefix": ""}
    assert everything["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    assert everything["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert everything["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert "Transitions" not in everything  # dumps are not tiered to Glacier IR only to be deleted a day later
    # application-data copies are never expired while their source exists, only tiered
    assert rules["appdata-tiering"]["Filter"] == {"Prefix": "appdata/"} and "Expiration" not in rules["appdata-tiering"]
    assert rules["appdata-tiering"]["Transitions"] == [{"Days": 30, "StorageClass": "GLACIER_IR"}]
    # the other buckets keep their single tiering rule
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=out["model_bucket_name"])["Rules"]] == ["tiering"]


@pytest.mark.slow
def test_second_plan_shows_no_changes(stack, tf_env):
    proc = terraform(tf_env, "plan", "-input=false", "-detailed-exitcode", f"-var-file={tf_env['varfile']}", check=False)
    assert proc.returncode == 0, f"second plan is not empty (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


@pytest.mark.slow
def test_cross_region_replica_is_opt_in_and_lands_in_the_replica_region(stack, tf_env):
    """db_cross_region_replica_enabled=true on the applied stack: the plan adds the replica module and
    changes nothing else; moto (patched) applies it as a read replica of the primary's ARN in the
    replica region, under that region's KMS key; its second plan is empty. Afterwards it is removed
    (deletion protection off, as an operator must, then a targeted apply with the flag off), so the
    other tests see the default stack whatever the order."""
    out, work, varfile = stack["outputs"], tf_env["work"], tf_env["varfile"]
    on = ["-var", "db_cross_region_replica_enabled=true"]
    source = client(tf_env, "rds").describe_db_instances(DBInstanceIdentifier=out["db_identifier"])["DBInstances"][0]
    plan_file = work / "replica.tfplan"
    terraform(tf_env, "plan", "-input=false", "-refresh=false", f"-var-file={varfile}", *on, f"-out={plan_file}")
    plan = json.loads(terraform(tf_env, "show", "-json", str(plan_file)).stdout)

    changes = [rc for rc in plan["resource_changes"] if rc["mode"] == "managed" and rc["change"]["actions"] != ["no-op"]]
    assert changes and all(rc["change"]["actions"] == ["create"] for rc in changes)
    assert {rc["module_address"] for rc in changes} == {"module.db_replica[0]"}, "enabling the replica changed something else"
    [db] = [rc for rc in changes if rc["type"] == "aws_db_instance"]
    after = db["change"]["after"]
    assert after["identifier"] == "cxr-local-postgres-replica"  # dr_failover_db_instance_id
    assert after["replicate_source_db"] == source["DBInstanceArn"]
    assert (after["storage_encrypted"], after["publicly_accessible"], after["backup_retention_period"]) == (True, False, 30)
    # in the replica region: the module runs on the aws.replica provider (region = var.replica_region)
    config = plan["configuration"]
    [res] = [r for r in config["root_module"]["module_calls"]["db_replica"]["module"]["resources"] if r["address"] == "aws_db_instance.this"]
    assert res["provider_config_key"] == "aws.replica"
    assert config["provider_config"]["aws.replica"]["expressions"]["region"]["references"][0] == "var.replica_region"
    assert plan["variables"]["replica_region"]["value"] == REPLICA_REGION
    zones = sorted(rc["change"]["after"]["availability_zone"] for rc in changes if rc["type"] == "aws_subnet")
    assert zones == [f"{REPLICA_REGION}a", f"{REPLICA_REGION}b"]

    terraform(tf_env, "apply", "-input=false", str(plan_file))
    rds = client(tf_env, "rds", REPLICA_REGION)
    try:
        replica_out = json.loads(terraform(tf_env, "output", "-json", "db_replica").stdout)
        replica = rds.describe_db_instances(DBInstanceIdentifier=replica_out["identifier"])["DBInstances"][0]
        assert replica["DBInstanceArn"].split(":")[3] == REPLICA_REGION == replica_out["region"]
        assert replica["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
        assert replica["StorageEncrypted"] is True and replica["KmsKeyId"] == replica_out["kms_key_arn"]
        key = client(tf_env, "kms", REPLICA_REGION).describe_key(KeyId=replica_out["kms_key_arn"])["KeyMetadata"]
        assert key["Arn"].split(":")[3] == REPLICA_REGION and key["KeyManager"] == "CUSTOMER"
        assert replica["BackupRetentionPeriod"] == 30 and replica["DeletionProtection"] is True
        assert replica["PubliclyAccessible"] is False and replica["DBSubnetGroup"]["DBSubnetGroupName"] == replica_out["subnet_group_name"]
        vpc = client(tf_env, "ec2", REPLICA_REGION).describe_vpcs(VpcIds=[replica["DBSubnetGroup"]["VpcId"]])["Vpcs"][0]
        assert vpc["CidrBlock"] == "10.60.0.0/20"
        assert replica["PerformanceInsightsKMSKeyId"] == replica_out["kms_key_arn"]
        proc = terraform(tf_env, "plan", "-input=false", "-detailed-exitcode", f"-var-file={varfile}", *on,
                         "-target=module.db_replica", check=False)
        assert proc.returncode == 0, f"second plan of the replica is not empty:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    finally:
        try:
            rds.modify_db_instance(DBInstanceIdentifier="cxr-local-postgres-replica", DeletionProtection=False, ApplyImmediately=True)
        except ClientError:
            pass  # not created
        terraform(tf_env, "apply", "-auto-approve", "-input=false", f"-var-file={varfile}", "-target=module.db_replica")
    assert not [d for d in rds.describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"] == "cxr-local-postgres-replica"]
    source_after = client(tf_env, "rds").describe_db_instances(DBInstanceIdentifier=out["db_identifier"])["DBInstances"][0]
    assert source_after["MasterUserSecret"]["SecretArn"] == out["db_master_secret_arn"]
    client(tf_env, "secretsmanager").describe_secret(SecretId=out["db_master_secret_arn"])  # the source's secret survived


BAD_INPUT = {  # each value breaks one validation block; terraform reports all of them at once
    "ondemand_min_size": 3, "vpc_cidr": "10.40.0.0/33", "region": "US-EAST", "environment": "production",
    "db_multi_az": False, "green_weight": 50,
}
BAD_INPUT_MESSAGES = [
    "ondemand_min_size <= ondemand_desired_size", "vpc_cidr must be a valid IPv4 CIDR",
    "region must look like an AWS region", "db_multi_az must be true in production",
    "blue_weight + green_weight must be 100",
]


@pytest.mark.slow
def test_bad_input_is_refused_before_any_change(stack, tf_env):
    bad = tf_env["work"] / "bad.tfvars.json"
    values = dict(SIZING, aws_endpoint_url=tf_env["url"], **BAD_INPUT)
    token = values.pop("redis_auth_token")  # secrets go by environment, never in the var-file
    bad.write_text(json.dumps(values, indent=2))  # one value a line: a diagnostic quotes only its own line
    env_before = tf_env["env"]
    tf_env["env"] = dict(env_before, TF_VAR_redis_auth_token=token)
    try:
        proc = terraform(tf_env, "plan", "-input=false", "-detailed-exitcode", f"-var-file={bad}", check=False)
    finally:
        tf_env["env"] = env_before
    assert proc.returncode == 1
    errors = re.sub(r"\s+", " ", proc.stderr)
    missing = [m for m in BAD_INPUT_MESSAGES if m not in errors]
    assert not missing, f"not reported: {missing}\n{proc.stderr[-4000:]}"
    assert token not in proc.stdout + proc.stderr, "a sensitive value reached the output"


# ----------------------------------------------------------------------------- the launcher's patches
@pytest.fixture
def patched(tf_env):
    """boto3 clients on the launcher, in a region the stack does not use."""
    return lambda service: client(tf_env, service, PATCH_REGION)


def test_patch_caller_identity_is_an_iam_user(patched):
    assert re.fullmatch(r"arn:aws:iam::123456789012:user/\S+", patched("sts").get_caller_identity()["Arn"])


def test_patch_replication_group_has_member_clusters_and_deletes(patched):
    ec = patched("elasticache")
    ec.create_cache_subnet_group(CacheSubnetGroupName="p-sub", CacheSubnetGroupDescription="d", SubnetIds=["subnet-1"])
    ec.create_replication_group(ReplicationGroupId="p-rg", ReplicationGroupDescription="d", NumCacheClusters=3,
                                CacheNodeType="cache.t4g.micro", Engine="redis", CacheSubnetGroupName="p-sub",
                                SecurityGroupIds=["sg-0123"])
    members = ec.describe_replication_groups(ReplicationGroupId="p-rg")["ReplicationGroups"][0]["MemberClusters"]
    assert members == ["p-rg-001", "p-rg-002", "p-rg-003"]
    member = ec.describe_cache_clusters(CacheClusterId="p-rg-002")["CacheClusters"][0]
    assert member["ReplicationGroupId"] == "p-rg"
    assert member["SecurityGroups"] == [{"SecurityGroupId": "sg-0123", "Status": "active"}]
    ec.delete_replication_group(ReplicationGroupId="p-rg")
    with pytest.raises(ClientError, match="ReplicationGroupNotFound"):
        ec.describe_replication_groups(ReplicationGroupId="p-rg")
    with pytest.raises(ClientError, match="CacheClusterNotFound"):
        ec.describe_cache_clusters(CacheClusterId="p-rg-001")
    ec.delete_cache_subnet_group(CacheSubnetGroupName="p-sub")
    with pytest.raises(ClientError, match="CacheSubnetGroupNotFoundFault"):
        ec.describe_cache_subnet_groups(CacheSubnetGroupName="p-sub")


def test_patch_eks_keeps_config_and_serves_access_entries(patched):
    eks, iam = patched("eks"), patched("iam")
    role = iam.create_role(RoleName="p-eks", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    eks.create_cluster(name="p-eks", version="1.31", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]},
                       accessConfig={"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False})
    assert eks.describe_cluster(name="p-eks")["cluster"]["accessConfig"]["authenticationMode"] == "API"
    eks.create_nodegroup(clusterName="p-eks", nodegroupName="ng", nodeRole=role, subnets=["subnet-1"],
                         updateConfig={"maxUnavailablePercentage": 33})
    ng = eks.describe_nodegroup(clusterName="p-eks", nodegroupName="ng")["nodegroup"]
    assert ng["updateConfig"] == {"maxUnavailablePercentage": 33} and "remoteAccess" not in ng and ng["version"] == "1.31"

    admin = "arn:aws:iam::123456789012:role/ops admin"
    eks.create_access_entry(clusterName="p-eks", principalArn=admin)
    with pytest.raises(ClientError, match="ResourceInUseException"):
        eks.create_access_entry(clusterName="p-eks", principalArn=admin)
    with pytest.raises(ClientError, match="InvalidParameterException"):
        eks.create_access_entry(clusterName="p-eks", principalArn="arn:aws:sts::123456789012:user/x")
    assert eks.describe_access_entry(clusterName="p-eks", principalArn=admin)["accessEntry"]["principalArn"] == admin
    policy = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    eks.associate_access_policy(clusterName="p-eks", principalArn=admin, policyArn=policy, accessScope={"type": "cluster"})
    listed = eks.list_associated_access_policies(clusterName="p-eks", principalArn=admin)["associatedAccessPolicies"]
    assert [p["policyArn"] for p in listed] == [policy]
    eks.disassociate_access_policy(clusterName="p-eks", principalArn=admin, policyArn=policy)
    assert eks.list_associated_access_policies(clusterName="p-eks", principalArn=admin)["associatedAccessPolicies"] == []
    assert eks.list_access_entries(clusterName="p-eks")["accessEntries"] == [admin]
    eks.delete_access_entry(clusterName="p-eks", principalArn=admin)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        eks.describe_access_entry(clusterName="p-eks", principalArn=admin)
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        eks.list_access_entries(clusterName="no-such-cluster")


def test_patch_rds_modified_parameters_are_user_sourced(patched):
    rds = patched("rds")
    rds.create_db_parameter_group(DBParameterGroupName="p-pg", DBParameterGroupFamily="postgres16", Description="d")
    rds.modify_db_parameter_group(DBParameterGroupName="p-pg", Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "pending-reboot"}])
    params = rds.describe_db_parameters(DBParameterGroupName="p-pg", Source="user")["Parameters"]
    assert [(p["ParameterName"], p["Source"]) for p in params] == [("rds.force_ssl", "user")]


def test_patch_rds_keeps_performance_insights(patched):
    rds = patched("rds")
    rds.create_db_instance(DBInstanceIdentifier="p-pi", Engine="postgres", DBInstanceClass="db.t4g.micro",
                           MasterUsername="u", MasterUserPassword="passw0rd-passw0rd", AllocatedStorage=20,
                           EnablePerformanceInsights=True, PerformanceInsightsRetentionPeriod=7,
                           PerformanceInsightsKMSKeyId="arn:aws:kms:eu-west-1:123456789012:key/pi")
    db = rds.describe_db_instances(DBInstanceIdentifier="p-pi")["DBInstances"][0]
    assert (db["PerformanceInsightsEnabled"], db["PerformanceInsightsRetentionPeriod"]) == (True, 7)
    assert db["PerformanceInsightsKMSKeyId"].endswith(":key/pi")


def test_patch_rds_instances_have_their_own_resource_id(patched):
    rds = patched("rds")
    for name in ("p-id-a", "p-id-b"):
        rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", DBInstanceClass="db.t4g.micro",
                               MasterUsername="u", MasterUserPassword="passw0rd-passw0rd", AllocatedStorage=20)
    ids = {db["DBInstanceIdentifier"]: db["DbiResourceId"] for db in rds.describe_db_instances()["DBInstances"]
           if db["DBInstanceIdentifier"].startswith("p-id-")}
    assert len(set(ids.values())) == 2, ids


def test_patch_rds_cross_region_read_replica(patched, tf_env):
    src, dst = patched("rds"), client(tf_env, "rds", "eu-central-1")
    src.create_db_instance(DBInstanceIdentifier="p-src", Engine="postgres", DBInstanceClass="db.t4g.micro", MasterUsername="u",
                           ManageMasterUserPassword=True, AllocatedStorage=20, BackupRetentionPeriod=7)
    source = src.describe_db_instances(DBInstanceIdentifier="p-src")["DBInstances"][0]
    ec2 = client(tf_env, "ec2", "eu-central-1")
    vpc = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.8.{i}.0/24", AvailabilityZone=f"eu-central-1{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    dst.create_db_subnet_group(DBSubnetGroupName="p-dr", DBSubnetGroupDescription="d", SubnetIds=subnets)
    key = "arn:aws:kms:eu-central-1:123456789012:key/dr"
    dst.create_db_instance_read_replica(DBInstanceIdentifier="p-replica", SourceDBInstanceIdentifier=source["DBInstanceArn"],
                                        DBInstanceClass="db.t4g.micro", DBSubnetGroupName="p-dr", KmsKeyId=key,
                                        EnablePerformanceInsights=True, PerformanceInsightsKMSKeyId=key)
    replica = dst.describe_db_instances(DBInstanceIdentifier="p-replica")["DBInstances"][0]
    assert replica["DBInstanceArn"] == "arn:aws:rds:eu-central-1:123456789012:db:p-replica"
    assert replica["ReadReplicaSourceDBInstanceIdentifier"] == source["DBInstanceArn"]
    assert replica["DBSubnetGroup"]["DBSubnetGroupName"] == "p-dr" and replica["DBSubnetGroup"]["VpcId"] == vpc
    assert replica["KmsKeyId"] == key and replica["PerformanceInsightsKMSKeyId"] == key
    assert replica["DbiResourceId"] != source["DbiResourceId"] and "MasterUserSecret" not in replica
    assert src.describe_db_instances(DBInstanceIdentifier="p-src")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == [replica["DBInstanceArn"]]
    dst.delete_db_instance(DBInstanceIdentifier="p-replica", SkipFinalSnapshot=True)
    assert src.describe_db_instances(DBInstanceIdentifier="p-src")["DBInstances"][0]["ReadReplicaDBInstanceIdentifiers"] == []
    patched("secretsmanager").describe_secret(SecretId=source["MasterUserSecret"]["SecretArn"])  # still the source's


def test_patch_ec2_referenced_rule_keeps_description(patched):
    ec2 = patched("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    db = ec2.create_security_group(GroupName="p-db", Description="d", VpcId=vpc)["GroupId"]
    nodes = ec2.create_security_group(GroupName="p-nodes", Description="n", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=db, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": nodes, "Description": "from nodes"}]}])
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [db]}])["SecurityGroupRules"]
    [rule] = [r for r in rules if not r["IsEgress"]]
    assert rule["Description"] == "from nodes" and rule["ReferencedGroupInfo"]["GroupId"] == nodes


def test_patch_s3_replication_and_logging_policy(patched):
    s3 = patched("s3")
    loc = {"LocationConstraint": PATCH_REGION}
    for name in ("p-src", "p-dst", "p-logs"):
        s3.create_bucket(Bucket=name, CreateBucketConfiguration=loc)
    for name in ("p-src", "p-dst"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    rule = {"ID": "r", "Priority": 1, "Status": "Enabled", "Filter": {"Prefix": ""},
            "DeleteMarkerReplication": {"Status": "Enabled"},
            "SourceSelectionCriteria": {"SseKmsEncryptedObjects": {"Status": "Enabled"}},
            "Destination": {"Bucket": "arn:aws:s3:::p-dst"}}
    s3.put_bucket_replication(Bucket="p-src", ReplicationConfiguration={"Role": "arn:aws:iam::123456789012:role/r", "Rules": [rule]})
    got = s3.get_bucket_replication(Bucket="p-src")["ReplicationConfiguration"]["Rules"][0]
    assert got["DeleteMarkerReplication"] == {"Status": "Enabled"}
    assert got["SourceSelectionCriteria"] == {"SseKmsEncryptedObjects": {"Status": "Enabled"}}
    # A policy with a deny-insecure-transport statement (Principal "*") and a wildcard grant.
    with pytest.raises(ClientError, match="InvalidTargetBucketForLogging"):
        s3.put_bucket_logging(Bucket="p-src", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "p-logs", "TargetPrefix": "s3/src/"}})
    s3.put_bucket_policy(Bucket="p-logs", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::p-logs/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Effect": "Allow", "Principal": {"Service": "logging.s3.amazonaws.com"}, "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::p-logs/s3/*"}]}))
    s3.put_bucket_logging(Bucket="p-src", BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": "p-logs", "TargetPrefix": "s3/src/"}})
    assert s3.get_bucket_logging(Bucket="p-src")["LoggingEnabled"]["TargetBucket"] == "p-logs"


# ----------------------------------------------------------------------------- static checks
def test_terraform_fmt_and_validate(tf_env):
    assert subprocess.run(["terraform", "fmt", "-check", "-recursive", "-diff"], cwd=TF_ROOT, env=tf_env["env"],
                          capture_output=True, text=True, timeout=120).returncode == 0
    terraform(tf_env, "init", "-backend=false", "-input=false", "-lockfile=readonly", data_dir="validate", timeout=300)
    terraform(tf_env, "validate", data_dir="validate", timeout=300)


def test_every_checkov_skip_carries_a_reason():
    skips = []
    for tf in TF_ROOT.rglob("*.tf"):
        for line in tf.read_text().splitlines():
            if "checkov:skip" in line:
                m = re.search(r"#checkov:skip=(CKV2?_AWS_\d+):(.{15,})$", line.strip())
                assert m, f"{tf.relative_to(ROOT)}: skip without a written reason: {line.strip()}"
                skips.append(m.group(1))
    assert skips, "no inline skips found (the scan below would be vacuous)"


@pytest.mark.slow
def test_checkov_passes():
    checkov = shutil.which(os.environ.get("CXR_CHECKOV") or str(ROOT / ".tools" / "checkov" / "bin" / "checkov"))
    assert checkov, "checkov is missing: scripts/bootstrap.sh installs it into .tools/checkov"
    proc = subprocess.run([checkov, "-d", str(TF_ROOT), "--framework",
                           "terraform", "--compact", "--quiet"], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-6000:]
