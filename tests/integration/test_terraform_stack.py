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
    assert modules == {"network", "eks", "data", "storage", "edge", "registry", "observability"}
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


@pytest.mark.slow
def test_second_plan_shows_no_changes(stack, tf_env):
    proc = terraform(tf_env, "plan", "-input=false", "-detailed-exitcode", f"-var-file={tf_env['varfile']}", check=False)
    assert proc.returncode == 0, f"second plan is not empty (exit {proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"


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
