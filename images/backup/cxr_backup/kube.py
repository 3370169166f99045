"""Kubernetes configuration backup: namespaced resources and custom resources as YAML, to S3.

Exactly the resources the CronJob's RBAC grants (``get``/``list``) are exported, one YAML file per
object in a ``.tar.gz`` (``<namespace>/<group>/<resource>/<name>.yaml``), with server-populated
fields (uid, resourceVersion, managedFields, status, ...) stripped so the files can be applied
again. Secrets are never exported (the configuration is rebuilt from Vault / Secrets Manager);
asking for them is an error. A resource the API server does not serve (a CRD not installed) is
skipped and listed in the manifest.
"""
from __future__ import annotations

import io
import json
import os
import tarfile
import tempfile
import time
from datetime import datetime

from . import s3util
from .s3util import BackupError

ARCHIVE_SUFFIX = ".tar.gz"
FORBIDDEN = {("", "secrets")}
STRIP_METADATA = ("uid", "resourceVersion", "managedFields", "creationTimestamp", "generation", "selfLink",
                  "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences")
STRIP_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", "deployment.kubernetes.io/revision")

DEFAULT_RESOURCES = [
    "v1/configmaps", "v1/services", "v1/serviceaccounts", "v1/persistentvolumeclaims",
    "apps/v1/deployments", "apps/v1/statefulsets", "apps/v1/daemonsets",
    "batch/v1/cronjobs", "networking.k8s.io/v1/ingresses", "networking.k8s.io/v1/networkpolicies",
    "rbac.authorization.k8s.io/v1/roles", "rbac.authorization.k8s.io/v1/rolebindings",
    "autoscaling/v2/horizontalpodautoscalers", "policy/v1/poddisruptionbudgets",
    "monitoring.coreos.com/v1/prometheusrules", "monitoring.coreos.com/v1/servicemonitors",
    "argoproj.io/v1alpha1/applications", "argoproj.io/v1alpha1/appprojects",
]


def parse_resource(spec: str) -> tuple[str, str, str]:
    """``"apps/v1/deployments"`` -> ("apps", "v1", "deployments"); ``"v1/configmaps"`` -> ("", "v1", "configmaps")."""
    parts = [p for p in spec.strip().split("/") if p]
    if len(parts) == 2:
        group, version, resource = "", parts[0], parts[1]
    elif len(parts) == 3:
        group, version, resource = parts
    else:
        raise BackupError(f"resource {spec!r} must be <version>/<plural> or <group>/<version>/<plural>")
    if (group, resource) in FORBIDDEN:
        raise BackupError(f"resource {spec!r}: Secrets are never exported by the configuration backup")
    return group, version, resource.lower()


def list_path(group: str, version: str, resource: str, namespace: str) -> str:
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return f"{base}/namespaces/{namespace}/{resource}"


def clean(obj: dict) -> dict:
    """A copy of ``obj`` without server-populated fields."""
    obj = json.loads(json.dumps(obj))
    meta = obj.get("metadata", {})
    for name in STRIP_METADATA:
        meta.pop(name, None)
    annotations = meta.get("annotations") or {}
    for name in STRIP_ANNOTATIONS:
        annotations.pop(name, None)
    if "annotations" in meta and not annotations:
        meta.pop("annotations")
    obj.pop("status", None)
    if obj.get("kind") == "Service":  # allocated by the cluster; applying them elsewhere fails
        spec = obj.get("spec", {})
        for name in ("clusterIP", "clusterIPs"):
            spec.pop(name, None)
    return obj


class KubeReader:
    """Minimal GET-only client over the official ``kubernetes`` package (in-cluster or kubeconfig)."""

    def __init__(self, kubeconfig: str | None = None):
        from kubernetes import client, config

        if kubeconfig:
            self.api = config.new_client_from_config(config_file=kubeconfig)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config()
            self.api = client.ApiClient()
        else:
            self.api = config.new_client_from_config()

    def get(self, path: str) -> dict | None:
        """GET a path as JSON; None when the API server does not serve it (404)."""
        from kubernetes.client.rest import ApiException

        try:
            method, url, headers, _body, _post = self.api.param_serialize(
                "GET", path, header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
            resp = self.api.call_api(method, url, header_params=headers)
            resp.read()
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise BackupError(f"GET {path} failed: HTTP {exc.status} {exc.reason}") from exc
        if resp.status == 404:
            return None
        if not 200 <= resp.status < 300:
            raise BackupError(f"GET {path} failed: HTTP {resp.status} {resp.reason}")
        return json.loads(resp.data)


def export(reader, namespaces: list[str], resources: list[str]) -> tuple[dict[str, dict], dict]:
    """Objects by archive path, and a manifest of counts and skipped resources."""
    parsed = [parse_resource(r) for r in resources]
    files: dict[str, dict] = {}
    counts: dict[str, int] = {}
    skipped: list[str] = []
    for ns in namespaces:
        for group, version, resource in parsed:
            listing = reader.get(list_path(group, version, resource, ns))
            label = "/".join(p for p in (group, version, resource) if p)
            if listing is None:
                if label not in skipped:
                    skipped.append(label)
                continue
            kind = listing.get("kind", "").removesuffix("List")
            api_version = f"{group}/{version}" if group else version
            for item in listing.get("items", []):
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                name = item["metadata"]["name"]
                files[f"{ns}/{group or 'core'}/{resource}/{name}.yaml"] = clean(item)
                counts[f"{ns}/{label}"] = counts.get(f"{ns}/{label}", 0) + 1
    return files, {"namespaces": namespaces, "resources": resources, "counts": counts, "not_served": skipped,
                   "objects": len(files)}


def build_archive(files: dict[str, dict], path: str) -> None:
    import yaml

    with tarfile.open(path, "w:gz") as tar:
        for name in sorted(files):
            data = yaml.safe_dump(files[name], sort_keys=True, default_flow_style=False).encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))


def backup(bucket: str, namespaces: list[str], resources: list[str] | None = None, prefix: str = "kube-config",
           cluster: str = "cluster", kms_key_id: str | None = None, kubeconfig: str | None = None,
           now: datetime | None = None, s3=None, reader=None) -> dict:
    if not namespaces:
        raise BackupError("the configuration backup needs at least one namespace")
    now = now or s3util.utcnow()
    s3 = s3 or s3util.client("s3")
    reader = reader or KubeReader(kubeconfig)
    started = time.monotonic()
    files, manifest = export(reader, namespaces, resources or DEFAULT_RESOURCES)
    stamp = s3util.format_timestamp(now)
    key = s3util.join_key(prefix, cluster, stamp + ARCHIVE_SUFFIX)
    stem = key[: -len(ARCHIVE_SUFFIX)]
    with tempfile.TemporaryDirectory(prefix="cxr-kube-") as tmp:
        path = os.path.join(tmp, "config.tar.gz")
        build_archive(files, path)
        digest = s3util.sha256_file(path)
        manifest.update(version=1, cluster=cluster, timestamp=stamp, sha256=digest, files=sorted(files))
        s3util.upload_file(s3, path, bucket, key, kms_key_id,
                           {s3util.META_TIMESTAMP: stamp, s3util.META_SHA256: digest}, "application/gzip")
    s3util.put_bytes(s3, bucket, stem + ".manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode(),
                     kms_key_id, {s3util.META_TIMESTAMP: stamp}, "application/json")
    s3util.put_bytes(s3, bucket, key + ".sha256", s3util.checksum_body(digest, key.rsplit("/", 1)[-1]), kms_key_id,
                     {s3util.META_TIMESTAMP: stamp})
    return {"bucket": bucket, "key": key, "sha256": digest, "objects": manifest["objects"],
            "not_served": manifest["not_served"], "total_seconds": round(time.monotonic() - started, 3)}
