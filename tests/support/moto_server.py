#!/usr/bin/env python3
"""The sandbox's AWS emulator: moto's server, with the patches this project's Terraform needs.

Usage::

    python tests/support/moto_server.py --host 127.0.0.1 --port 20200 [--no-patches]

Runs in the foreground, answers ``GET /moto-api/`` once ready and exits cleanly on SIGTERM or
SIGINT.  ``MOTO_IAM_LOAD_MANAGED_POLICIES=true`` is set before moto is imported (AWS managed
policies such as ``AmazonEKSClusterPolicy`` exist only then, and it cannot be switched on later).

The patches (:data:`PATCHES`, applied by :func:`apply_patches`) close gaps of moto 5.2.5 that
the real AWS provider 5.100 trips over when it applies ``infrastructure/terraform``.  They change
the emulator only; the production Terraform is not bent to suit moto.  Each patch makes moto
answer the way AWS documents; none fakes a result the test then asserts.

This is a test double: it checks no signatures, enforces no IAM, and creates no infrastructure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from typing import Any, Callable
from urllib.parse import unquote

os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
# The sandbox must never pick up real AWS credentials.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

PINNED_MOTO = "5.2.5"

PATCHES: dict[str, Callable[[], None]] = {}


def _patch(func: Callable[[], None]) -> Callable[[], None]:
    PATCHES[func.__name__] = func
    return func


# --------------------------------------------------------------------------------- STS
@_patch
def sts_caller_is_iam_user() -> None:
    """GetCallerIdentity for plain credentials answers an IAM user ARN (as AWS does).

    Stock moto answers ``arn:aws:sts::<acct>:user/moto``, which is not a valid principal for an
    EKS access entry (AWS returns ``arn:aws:iam::<acct>:user/<name>`` for IAM users).
    """
    from moto.sts.models import STSBackend

    original = STSBackend.get_caller_identity
    if getattr(original, "_cxr_patched", False):
        return

    def get_caller_identity(self, access_key_id, region):
        user_id, arn, account_id = original(self, access_key_id, region)
        return user_id, re.sub(r"^arn:([^:]+):sts::(\d+):user/", r"arn:\1:iam::\2:user/", arn), account_id

    get_caller_identity._cxr_patched = True
    STSBackend.get_caller_identity = get_caller_identity


# --------------------------------------------------------------------------------- ElastiCache
@_patch
def elasticache_member_clusters() -> None:
    """Replication groups honour ``NumCacheClusters`` and create their member cache clusters
    (with the group's security groups).

    Stock moto creates one member id regardless of ``NumCacheClusters`` and no CacheCluster
    behind it, so the provider's read (DescribeCacheClusters on the first member) fails with
    CacheClusterNotFound.  Deleting a group now removes it and its members at once (stock moto
    leaves it "deleting" forever, and Terraform waits for it to disappear).
    """
    from moto.elasticache.models import CacheCluster, ElastiCacheBackend, ReplicationGroup

    if getattr(ElastiCacheBackend.create_replication_group, "_cxr_patched", False):
        return

    original_members = ReplicationGroup._set_node_members_clusters_disabled

    def _set_node_members_clusters_disabled(self, **kwargs):
        if not kwargs.get("replicas_per_node_group") and (kwargs.get("num_cache_clusters") or 1) > 1:
            kwargs["replicas_per_node_group"] = kwargs["num_cache_clusters"] - 1
        return original_members(self, **kwargs)

    ReplicationGroup._set_node_members_clusters_disabled = _set_node_members_clusters_disabled

    original_create = ElastiCacheBackend.create_replication_group

    def create_replication_group(self, **kwargs):
        group = original_create(self, **kwargs)
        members = {m["cache_cluster_id"]: m for ng in group.node_groups for m in ng.get("node_group_members", [])}
        for cluster_id in group.member_clusters:
            member = members.get(cluster_id, {})
            cluster = CacheCluster(
                account_id=self.account_id,
                region_name=self.region_name,
                cache_cluster_id=cluster_id,
                cache_node_type=group.cache_node_type,
                replication_group_id=group.replication_group_id,
                az_mode="single-az",
                preferred_availability_zone=member.get("preferred_availability_zone"),
                num_cache_nodes=1,
                engine=group.engine,
                engine_version=kwargs.get("engine_version"),
                cache_parameter_group_name=kwargs.get("cache_parameter_group_name"),
                cache_subnet_group_name=kwargs.get("cache_subnet_group_name"),
                transit_encryption_enabled=kwargs.get("transit_encryption_enabled"),
                network_type=kwargs.get("network_type"),
                ip_discovery=kwargs.get("ip_discovery"),
                snapshot_name=None,
                preferred_maintenance_window=kwargs.get("preferred_maintenance_window"),
                port=group.port,
                notification_topic_arn=kwargs.get("notification_topic_arn"),
                auto_minor_version_upgrade=kwargs.get("auto_minor_version_upgrade"),
                snapshot_retention_limit=kwargs.get("snapshot_retention_limit"),
                snapshot_window=kwargs.get("snapshot_window"),
                auth_token=kwargs.get("auth_token"),
                outpost_mode=None,
                preferred_outpost_arn=None,
                preferred_availability_zones=None,
                cache_security_group_names=kwargs.get("cache_security_group_names"),
                security_group_ids=kwargs.get("security_group_ids"),
                tags=None,
                snapshot_arns=None,
                preferred_outpost_arns=None,
                log_delivery_configurations=[],
                cache_node_ids_to_remove=None,
                cache_node_ids_to_reboot=None,
            )
            cluster.at_rest_encryption_enabled = kwargs.get("at_rest_encryption_enabled") or False
            # The provider reads the group's security groups from its first member cluster.
            cluster.security_groups = [{"SecurityGroupId": sg, "Status": "active"} for sg in kwargs.get("security_group_ids") or []]
            cluster.replication_group_log_delivery_enabled = False
            self.cache_clusters[cluster_id] = cluster
        return group

    create_replication_group._cxr_patched = True
    ElastiCacheBackend.create_replication_group = create_replication_group

    original_delete = ElastiCacheBackend.delete_replication_group

    def delete_replication_group(self, replication_group_id, retain_primary_cluster):
        group = original_delete(self, replication_group_id, retain_primary_cluster)
        prefix = f"{replication_group_id}-"
        for cluster_id in [c for c, cl in self.cache_clusters.items() if getattr(cl, "replication_group_id", None) == replication_group_id and c.startswith(prefix)]:
            del self.cache_clusters[cluster_id]
        self.replication_groups.pop(replication_group_id, None)
        return group

    ElastiCacheBackend.delete_replication_group = delete_replication_group


@_patch
def elasticache_delete_cache_subnet_group() -> None:
    """Implement DeleteCacheSubnetGroup (stock moto answers 500, so destroy hangs)."""
    from moto.core.responses import EmptyResult
    from moto.elasticache.exceptions import CacheSubnetGroupNotFound
    from moto.elasticache.models import ElastiCacheBackend
    from moto.elasticache.responses import ElastiCacheResponse

    if hasattr(ElastiCacheBackend, "delete_cache_subnet_group"):
        return

    def backend_delete(self, cache_subnet_group_name):
        if cache_subnet_group_name not in self.cache_subnet_groups:
            raise CacheSubnetGroupNotFound(cache_subnet_group_name)
        return self.cache_subnet_groups.pop(cache_subnet_group_name)

    def response_delete(self):
        self.elasticache_backend.delete_cache_subnet_group(self._get_param("CacheSubnetGroupName"))
        return EmptyResult()

    ElastiCacheBackend.delete_cache_subnet_group = backend_delete
    ElastiCacheResponse.delete_cache_subnet_group = response_delete


# --------------------------------------------------------------------------------- EKS
@_patch
def eks_keep_requested_config() -> None:
    """Clusters keep ``accessConfig``; node groups keep ``updateConfig``, follow the cluster's
    Kubernetes version and get no ``remoteAccess`` unless asked for.

    Stock moto drops accessConfig and updateConfig, invents remoteAccess (each forces a
    replacement on every plan) and reports node groups at Kubernetes 1.19.
    """
    import moto.eks.models as eks_models
    from moto.eks.responses import EKSResponse

    if getattr(EKSResponse.create_cluster, "_cxr_patched", False):
        return

    eks_models.DEFAULT_REMOTE_ACCESS = None

    original_cluster = EKSResponse.create_cluster

    def create_cluster(self):
        access_config = self._get_param("accessConfig") or {}
        result = original_cluster(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        cluster.access_config = {
            "authenticationMode": access_config.get("authenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": access_config.get("bootstrapClusterCreatorAdminPermissions", True),
        }
        cluster.accessConfig = cluster.access_config
        return result

    create_cluster._cxr_patched = True
    EKSResponse.create_cluster = create_cluster

    original_nodegroup = EKSResponse.create_nodegroup

    def create_nodegroup(self):
        update_config = self._get_param("updateConfig")
        result = original_nodegroup(self)
        cluster = self.eks_backend.clusters[self._get_param("name")]
        nodegroup = cluster.nodegroups[self._get_param("nodegroupName")]
        if update_config:
            nodegroup.update_config = update_config
        if not self._get_param("version"):
            nodegroup.version = cluster.version
        if not self._get_param("remoteAccess"):
            nodegroup.remote_access = None
            nodegroup.resources.pop("remoteAccessSecurityGroup", None)
        return result

    EKSResponse.create_nodegroup = create_nodegroup


class EksAccessEntries:
    """EKS access entries and access-policy associations (absent from stock moto).

    A WSGI middleware in front of moto: it answers the eight REST calls under
    ``/clusters/<name>/access-entries`` for clusters that exist in moto's EKS backend.
    """

    PATH = re.compile(r"^/clusters/(?P<cluster>[^/]+)/access-entries(?:/(?P<rest>.*))?$")

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()
        self.entries: dict[tuple[str, str, str, int], dict[str, dict[str, Any]]] = {}

    @staticmethod
    def _scope(environ) -> tuple[str, str] | None:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        m = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", auth)
        return (m.group(1), m.group(2)) if m else None

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api/reset"):
            with self.lock:
                self.entries.clear()
        scope = self._scope(environ)
        if scope and scope[1] == "eks":
            raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
            raw = raw.split("?", 1)[0]
            m = self.PATH.match(raw)
            if m:
                try:
                    status, body = self.handle(environ, scope[0], m.group("cluster"), m.group("rest") or "")
                except _EksError as err:
                    status, body = err.status, {"message": err.message}
                    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", err.code)]
                    start_response(status, headers)
                    return [json.dumps(body).encode()]
                start_response(status, [("Content-Type", "application/json")])
                return [json.dumps(body).encode()]
        return self.app(environ, start_response)

    def _cluster(self, region: str, name: str):
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.eks.models import eks_backends

        cluster = eks_backends[DEFAULT_ACCOUNT_ID][region].clusters.get(name)
        if cluster is None:
            raise _EksError("404 Not Found", "ResourceNotFoundException", f"No cluster found for name: {name}.")
        return (DEFAULT_ACCOUNT_ID, region, name, id(cluster)), cluster

    def handle(self, environ, region: str, cluster_name: str, rest: str):
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        key, cluster = self._cluster(region, cluster_name)
        parts = rest.split("/access-policies", 1)
        principal = unquote(parts[0]) if parts[0] else ""
        policy_part = parts[1] if len(parts) > 1 else None
        with self.lock:
            entries = self.entries.setdefault(key, {})
            if not principal:
                if method == "POST":
                    return "200 OK", {"accessEntry": self._create(key, cluster, entries, body)}
                return "200 OK", {"accessEntries": sorted(entries)}
            entry = entries.get(principal)
            if entry is None:
                raise _EksError("404 Not Found", "ResourceNotFoundException", f"The specified principalArn could not be found: {principal}")
            if policy_part is None:
                if method == "GET":
                    return "200 OK", {"accessEntry": entry["entry"]}
                if method == "DELETE":
                    del entries[principal]
                    return "200 OK", {}
                for field in ("kubernetesGroups", "username"):
                    if field in body:
                        entry["entry"][field] = body[field]
                entry["entry"]["modifiedAt"] = time.time()
                return "200 OK", {"accessEntry": entry["entry"]}
            policy_arn = unquote(policy_part.lstrip("/"))
            common = {"clusterName": cluster_name, "principalArn": principal}
            if method == "POST":
                now = time.time()
                association = {
                    "policyArn": body.get("policyArn"),
                    "accessScope": body.get("accessScope", {"type": "cluster"}),
                    "associatedAt": entry["policies"].get(body.get("policyArn"), {}).get("associatedAt", now),
                    "modifiedAt": now,
                }
                if not str(association["policyArn"]).startswith("arn:") or ":cluster-access-policy/" not in str(association["policyArn"]):
                    raise _EksError("400 Bad Request", "InvalidParameterException", f"Invalid policyArn: {association['policyArn']}")
                entry["policies"][association["policyArn"]] = association
                return "200 OK", {**common, "associatedAccessPolicy": association}
            if method == "GET":
                return "200 OK", {**common, "associatedAccessPolicies": list(entry["policies"].values())}
            if method == "DELETE":
                if entry["policies"].pop(policy_arn, None) is None:
                    raise _EksError("404 Not Found", "ResourceNotFoundException", f"Policy {policy_arn} is not associated.")
                return "200 OK", {}
        raise _EksError("400 Bad Request", "InvalidRequestException", f"Unsupported {method} {rest}")

    @staticmethod
    def _create(key, cluster, entries, body):
        principal = body.get("principalArn", "")
        if not re.match(r"^arn:[^:]+:iam::\d{12}:(role|user)/.+$", principal):
            raise _EksError("400 Bad Request", "InvalidParameterException", f"The principalArn parameter format is not valid: {principal}")
        if principal in entries:
            raise _EksError("409 Conflict", "ResourceInUseException", f"The specified access entry resource is already in use on this cluster: {principal}")
        kind = body.get("type") or "STANDARD"
        name = principal.rsplit("/", 1)[-1]
        if ":role/" in principal:
            username = f"{principal.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/{{{{SessionName}}}}"
        else:
            username = principal
        now = time.time()
        entry = {
            "clusterName": cluster.name,
            "principalArn": principal,
            "kubernetesGroups": body.get("kubernetesGroups", []),
            "accessEntryArn": f"{cluster.arn.replace(':cluster/', ':access-entry/')}/{':'.join(principal.split(':')[4:5])}/{name}",
            "createdAt": now,
            "modifiedAt": now,
            "tags": body.get("tags", {}),
            "username": body.get("username") or username,
            "type": kind,
        }
        entries[principal] = {"entry": entry, "policies": {}}
        return entry


class _EksError(Exception):
    def __init__(self, status: str, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@_patch
def s3_logging_policy_check() -> None:
    """PutBucketLogging's permission check accepts any valid bucket policy.

    Stock moto crashes (HTTP 500) when the target bucket policy holds a statement whose
    ``Principal`` is ``"*"`` (e.g. the usual deny-insecure-transport statement) and accepts only
    an exact ``Resource`` string.  Now: ``Principal``/``Action``/``Resource`` may be strings or
    lists, and a resource wildcard that covers the log prefix grants delivery, as in AWS.
    """
    import fnmatch

    from moto.s3 import models as s3_models

    if getattr(s3_models.FakeBucket._log_permissions_enabled_policy, "_cxr_patched", False):
        return

    def as_list(value):
        return value if isinstance(value, list) else [value]

    def _log_permissions_enabled_policy(target_bucket, target_prefix):
        if not target_bucket.policy:
            return False
        policy = json.loads(target_bucket.policy.decode())
        target = f"arn:{target_bucket.partition}:s3:::{target_bucket.name}/{target_prefix or ''}"
        for stmt in as_list(policy.get("Statement", [])):
            principal = stmt.get("Principal", {})
            services = as_list(principal.get("Service", [])) if isinstance(principal, dict) else []
            if s3_models.LOGGING_SERVICE_PRINCIPAL not in services or stmt.get("Effect") != "Allow":
                continue
            if not any(fnmatch.fnmatchcase("s3:PutObject", a) for a in as_list(stmt.get("Action", []))):
                continue
            if any(fnmatch.fnmatchcase(target + "x", r) or r == f"arn:{target_bucket.partition}:s3:::{target_bucket.name}" for r in as_list(stmt.get("Resource", []))):
                return True
        return False

    _log_permissions_enabled_policy._cxr_patched = True
    s3_models.FakeBucket._log_permissions_enabled_policy = staticmethod(_log_permissions_enabled_policy)


# --------------------------------------------------------------------------------- RDS
@_patch
def rds_parameter_source_user() -> None:
    """Parameters set through Create/ModifyDBParameterGroup report ``Source=user`` (as in AWS);
    DescribeDBParameters honours the ``Source`` filter.  Stock moto drops Source, which the
    provider reads as a perpetual diff."""
    from moto.core.responses import ActionResult
    from moto.rds.models import DBParameterGroup
    from moto.rds.responses import RDSResponse

    if getattr(DBParameterGroup.update_parameters, "_cxr_patched", False):
        return
    original = DBParameterGroup.update_parameters

    def update_parameters(self, new_parameters):
        new_parameters = [dict(p, Source=p.get("Source") or "user") for p in new_parameters]
        return original(self, new_parameters)

    update_parameters._cxr_patched = True
    DBParameterGroup.update_parameters = update_parameters

    original_describe = RDSResponse.describe_db_parameters

    def describe_db_parameters(self):
        result = original_describe(self)
        source = self.params.get("Source")
        if source:
            params = [p for p in result.result["Parameters"] if p.get("Source", "user") == source]
            return ActionResult({"Parameters": params})
        return result

    RDSResponse.describe_db_parameters = describe_db_parameters


@_patch
def rds_performance_insights() -> None:
    """DB instances keep PerformanceInsightsEnabled / KMSKeyId / RetentionPeriod (stock moto
    drops them: the provider then plans to enable Performance Insights on every run)."""
    from moto.rds.models import RDSBackend

    if getattr(RDSBackend.create_db_instance, "_cxr_patched", False):
        return
    fields = {"enableperformanceinsights": "performance_insights_enabled",
              "performanceinsightskmskeyid": "performance_insights_kms_key_id",
              "performanceinsightsretentionperiod": "performance_insights_retention_period"}

    def keep(database, db_kwargs):
        for key, value in db_kwargs.items():
            attr = fields.get(key.replace("_", "").lower())
            if attr:
                setattr(database, attr, value)
        if getattr(database, "performance_insights_enabled", False):
            if not getattr(database, "performance_insights_retention_period", None):
                database.performance_insights_retention_period = 7
        return database

    original_create = RDSBackend.create_db_instance
    original_modify = RDSBackend.modify_db_instance

    def create_db_instance(self, db_kwargs):
        return keep(original_create(self, db_kwargs), db_kwargs)

    def modify_db_instance(self, db_instance_identifier, db_kwargs):
        return keep(original_modify(self, db_instance_identifier, db_kwargs), db_kwargs)

    create_db_instance._cxr_patched = True
    RDSBackend.create_db_instance = create_db_instance
    RDSBackend.modify_db_instance = modify_db_instance


@_patch
def rds_unique_resource_id() -> None:
    """Each DB instance gets its own DbiResourceId (stock moto gives every instance the same one,
    so with two instances in one server the provider reads the wrong one: "couldn't find resource")."""
    import hashlib

    from moto.rds.models import DBInstance

    if getattr(DBInstance.__init__, "_cxr_patched", False):
        return
    original_init = DBInstance.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        seed = f"{getattr(self, 'region_name', '')}/{getattr(self, 'db_instance_identifier', '')}"
        self.dbi_resource_id = "db-" + hashlib.sha256(seed.encode()).hexdigest()[:26].upper()

    __init__._cxr_patched = True
    DBInstance.__init__ = __init__


@_patch
def rds_cross_region_read_replica() -> None:
    """CreateDBInstanceReadReplica with a source ARN in another region creates the replica in the
    region called, as AWS does; deleting it unlinks it from its source.

    Stock moto copies the source instance and sets the requested fields on the copy *before*
    moving it to the called region, so the replica's own subnet group (which must be in the
    replica's region) is "not found".  The copy also keeps the source's DbiResourceId, its
    Performance Insights settings and its RDS-managed master secret (deleting the replica then
    deleted the source's secret), and deleting a cross-region replica raised, because the source
    lists it by ARN.  Now the replica belongs to the called region before anything is looked up,
    gets its own DbiResourceId and the request's Performance Insights settings, owns no master
    secret (the source does), and deletion removes its ARN or identifier from the source's list.
    """
    import hashlib

    from moto.rds.models import DBInstance, RDSBackend

    if getattr(RDSBackend.create_db_instance_read_replica, "_cxr_patched", False):
        return
    original_create = RDSBackend.create_db_instance_read_replica
    pi_fields = {"enableperformanceinsights": "performance_insights_enabled",
                 "performanceinsightskmskeyid": "performance_insights_kms_key_id",
                 "performanceinsightsretentionperiod": "performance_insights_retention_period"}

    def create_db_instance_read_replica(self, db_kwargs):
        if self.arn_regex.match(db_kwargs.get("source_db_instance_identifier") or ""):
            db_kwargs = {"backend": self, **db_kwargs}  # first: the setters below look up this region
        replica = original_create(self, db_kwargs)
        seed = f"{self.region_name}/{replica.db_instance_identifier}"
        replica.dbi_resource_id = "db-" + hashlib.sha256(seed.encode()).hexdigest()[:26].upper()
        replica.manage_master_user_password = False
        replica.__dict__.pop("master_user_secret", None)
        requested = {pi_fields[k.replace("_", "").lower()]: v for k, v in db_kwargs.items()
                     if k.replace("_", "").lower() in pi_fields}
        replica.performance_insights_enabled = bool(requested.get("performance_insights_enabled"))
        replica.performance_insights_kms_key_id = requested.get("performance_insights_kms_key_id")
        replica.performance_insights_retention_period = (
            requested.get("performance_insights_retention_period") or (7 if replica.performance_insights_enabled else None))
        return replica

    def remove_replica(self, replica):
        for ref in (replica.db_instance_identifier, replica.db_instance_arn):
            if ref in self.replicas:
                self.replicas.remove(ref)

    create_db_instance_read_replica._cxr_patched = True
    RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica
    DBInstance.remove_replica = remove_replica


# --------------------------------------------------------------------------------- EC2
@_patch
def ec2_referenced_rule_description() -> None:
    """Security group rules that reference another group keep their description (stock moto
    reads it only from CIDR rules, so every such rule shows a perpetual description diff)."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    if getattr(SecurityGroupRule.description, "_cxr_patched", False):
        return

    def description(self):
        return self.ip_range.get("Description") or (self.source_group or {}).get("Description")

    description._cxr_patched = True
    SecurityGroupRule.description = property(description)


# --------------------------------------------------------------------------------- S3
@_patch
def s3_replication_round_trip() -> None:
    """GetBucketReplication returns the rules as stored: DeleteMarkerReplication,
    SourceSelectionCriteria and Filter round-trip (stock moto answers a fixed
    ``DeleteMarkerReplication=Disabled`` and drops SourceSelectionCriteria)."""
    from moto.core.responses import ActionResult
    from moto.s3.exceptions import ReplicationConfigurationNotFoundError
    from moto.s3.responses import S3Response

    if getattr(S3Response.get_bucket_replication, "_cxr_patched", False):
        return

    def get_bucket_replication(self):
        self.data["Action"] = "GetBucketReplication"
        replication = self.backend.get_bucket_replication(self.bucket_name)
        if not replication:
            raise ReplicationConfigurationNotFoundError(bucket_name=self.bucket_name)
        rules = []
        for stored in replication["Rule"]:
            rule = {k: v for k, v in stored.items() if v is not None}
            rule.setdefault("DeleteMarkerReplication", {"Status": "Disabled"})
            if not rule.get("Filter") and "Prefix" not in rule:
                rule["Filter"] = {"Prefix": ""}
            rules.append(rule)
        return self.serialized(ActionResult({"ReplicationConfiguration": {"Role": replication["Role"], "Rules": rules}}))

    get_bucket_replication._cxr_patched = True
    S3Response.get_bucket_replication = get_bucket_replication


def apply_patches(names: list[str] | None = None) -> list[str]:
    """Apply the emulator-side patches (all by default); return the names applied."""
    import moto

    if moto.__version__ != PINNED_MOTO:
        print(f"moto_server: warning: patches are written for moto {PINNED_MOTO}, found {moto.__version__}", file=sys.stderr, flush=True)
    applied = []
    for name, func in PATCHES.items():
        if names is None or name in names:
            func()
            applied.append(name)
    return applied


def build_app(patched: bool = True):
    """Return moto's WSGI dispatcher application, patched and wrapped (unless ``patched=False``)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    if not patched:
        return DomainDispatcherApplication(create_backend_app)
    apply_patches()
    return EksAccessEntries(DomainDispatcherApplication(create_backend_app))


def _stop(signum, frame):  # noqa: ARG001 - signal handler signature
    sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--no-patches", action="store_true", help="run stock moto (to reproduce a gap)")
    args = parser.parse_args(argv)

    os.environ["MOTO_PORT"] = str(args.port)
    from moto.moto_server.werkzeug_app import MotoRequestHandler
    from werkzeug.serving import run_simple

    app = build_app(patched=not args.no_patches)
    print(f"moto_server: {'stock' if args.no_patches else 'patched: ' + ', '.join(PATCHES)} on {args.host}:{args.port}", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
