"""Kubernetes API test server for the cxr.mlops sandbox.

THIS IS A TEST DOUBLE, NOT KUBERNETES.  It speaks enough of the Kubernetes REST
API (plain HTTP, JSON, any bearer token accepted) for kubectl 1.32, the official
Python client, kubernetes.core and Helm 3/4 to work against it on 127.0.0.1 when
no real cluster is available.  Anything that runs against it must also run
unchanged against a real cluster through KUBECONFIG.

What it does:
  * discovery (/version, /api, /apis, per group-version resource lists), a
    minimal /openapi/v3 (PATCH operations advertise ``fieldValidation``);
  * CRUD with resourceVersion/uid/generation/creationTimestamp, typed lists,
    label and field selectors, watch (also ``sendInitialEvents`` with the
    ``k8s.io/initial-events-end`` bookmark), PUT, JSON patch, merge patch,
    strategic merge patch, server-side apply, ``dryRun=All``, status and scale
    subresources, finalizers, namespace cascade deletion, ownerReference
    garbage collection, Status errors (404/409/422/400/415) like the real API;
  * CRDs that register their kinds (namespaced or cluster-scoped, status and
    scale subresources), with strict field validation from their schemas;
  * protobuf request bodies for Secret and ConfigMap (how Helm stores releases)
    and DeleteOptions;
  * tiny controllers: Deployment -> ReplicaSet -> Pods that are Running/Ready
    immediately, StatefulSets and DaemonSets with pods, Endpoints and
    EndpointSlices from Service selectors, Jobs that complete at once, PVCs
    that bind, namespaces with a default ServiceAccount, one Ready Node;
  * storage provisioning as strict as EKS: a claim binds only when its
    StorageClass exists and the class's provisioner is installed (a CSIDriver
    object of that name; the bootstrap class ``standard`` uses the server's own
    provisioner).  Otherwise it stays Pending with the Event the PV controller
    writes (ProvisioningFailed 'storageclass... not found', or
    ExternalProvisioning "Waiting for a volume to be created either by the
    external provisioner ...").  ``--csi-driver NAME`` creates CSIDriver
    objects at start: the sandbox passes ``ebs.csi.aws.com``, standing in for
    EKS with the aws-ebs-csi-driver add-on installed.  No PersistentVolume
    objects are made, ``volumeBindingMode: WaitForFirstConsumer`` binds at once,
    and the class's parameters (type, encryption, kmsKeyId) are not checked.

What it does NOT emulate: scheduling, containers (no container ever runs; pods
are marked Running and Ready and get fake IPs from 10.244.0.0/16), kubelet,
networking or DNS, admission control and webhooks (webhook configurations are
stored, never called), RBAC enforcement (every request is allowed, every access
review says allowed), authentication, field ownership in server-side apply (no
conflicts are ever reported; the previous applied configuration of each field
manager is remembered so fields a manager stops applying are removed), API
version conversion (objects are stored as written), quota and limit
enforcement, graceful termination, CronJob scheduling, and the full OpenAPI
schemas (field validation knows the common built-in fields and CRD schemas).

Launcher contract (tests/support/kubeapi_server.py is a thin launcher for this module, so the
interpreter loads the cached bytecode instead of compiling this file at every start):
    python tests/support/kubeapi_server.py --host 127.0.0.1 --port N [--state-file PATH]
    python -m kubeapi --port N          (with tests/support on sys.path)
Readiness: GET /readyz returns 200 "ok".  SIGTERM shuts it down and persists the
state to --state-file, which is loaded at start.  In-process use:
    from kubeapi_server import serve
    server = serve("127.0.0.1", 0)      # started in a background thread
    server.url, server.write_kubeconfig(path), server.stop()

Standard library only (PyYAML is used when present for apply-patch+yaml bodies).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import copy
import datetime
import hashlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


def _yaml():
    """PyYAML, imported on first use (only YAML request bodies need it); None when missing."""
    try:
        import yaml
    except ImportError:  # pragma: no cover
        return None
    return yaml

SERVER_VERSION = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0",
    "gitCommit": "kubeapi-test-server",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "python",
    "compiler": "python",
    "platform": "linux/amd64",
}
NODE_NAME = "kubeapi-test-node"
# The provisioner of the bootstrap class ``standard``: the server itself provisions its volumes.
FAKE_PROVISIONER = "kubeapi-test/fake"
INITIAL_EVENTS_END = "k8s.io/initial-events-end"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
CREATE_ONLY = ["create"]
NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
PATH_SEGMENT_NAME = re.compile(r"^[^/%]+$")


# --------------------------------------------------------------------------- helpers


def now_ts() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(value):
    try:
        return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except (TypeError, ValueError):
        return None


def rand_suffix(n=5) -> str:
    return "".join(random.choice(NAME_CHARS) for _ in range(n))


def stable_hash(value, n=10) -> str:
    digest = hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).digest()
    return "".join(NAME_CHARS[b % len(NAME_CHARS)] for b in digest[:n])


def drop_nulls(value):
    """null means unset for every Kubernetes field: the real server decodes into structs and drops them."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def meta(obj) -> dict:
    return obj.setdefault("metadata", {})


def dig(obj, path, default=None):
    cur = obj
    for part in path:
        if isinstance(cur, dict) and part in cur or isinstance(cur, list) and isinstance(part, int) and part < len(cur):
            cur = cur[part]
        else:
            return default
    return cur


def human_age(ts) -> str:
    created = parse_ts(ts)
    if not created:
        return "<unknown>"
    secs = int((datetime.datetime.now(datetime.UTC) - created).total_seconds())
    secs = max(secs, 0)
    if secs < 120:
        return f"{secs}s"
    mins = secs // 60
    if mins < 10:
        return f"{mins}m{secs % 60}s"
    if mins < 180:
        return f"{mins}m"
    hours = mins // 60
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


class APIError(Exception):
    """An error answered as a metav1.Status object."""

    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self):
        body = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(rt, name):
    return APIError(404, "NotFound", f'{rt.qualified} "{name}" not found',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def already_exists(rt, name):
    return APIError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists',
                    {"name": name, "group": rt.group, "kind": rt.plural})


def conflict(rt, name):
    return APIError(409, "Conflict",
                    f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "group": rt.group, "kind": rt.plural})


def invalid(rt, name, causes):
    """causes: list of (field, message, value)."""
    text = "; ".join(f"{f}: {'Invalid value: ' + json.dumps(v) + ': ' if v is not None else ''}{m}" for f, m, v in causes)
    return APIError(422, "Invalid", f'{rt.kind} "{name}" is invalid: {text}',
                    {"name": name, "group": rt.group, "kind": rt.kind,
                     "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m, _ in causes]})


def bad_request(message):
    return APIError(400, "BadRequest", message)


# --------------------------------------------------------------------------- schemas (field validation)
# A schema is: None (anything), a dict of known field -> schema (an object), or a one-element
# list [schema] (a list of such items).  Unknown fields are rejected with fieldValidation=Strict,
# reported as warnings with Warn (the default) and pruned otherwise, like the real API server.

def _fields(*names, **nested):
    out = dict.fromkeys(names)
    out.update(nested)
    return out


OBJECT_META = _fields("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
                      "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
                      "annotations", "ownerReferences", "finalizers", "managedFields")
CONTAINER = _fields("name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources",
                    "resizePolicy", "restartPolicy", "volumeMounts", "volumeDevices", "livenessProbe",
                    "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath",
                    "terminationMessagePolicy", "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty")
POD_SPEC = _fields("volumes", "ephemeralContainers", "restartPolicy", "terminationGracePeriodSeconds",
                   "activeDeadlineSeconds", "dnsPolicy", "nodeSelector", "serviceAccountName", "serviceAccount",
                   "automountServiceAccountToken", "nodeName", "hostNetwork", "hostPID", "hostIPC",
                   "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname", "subdomain",
                   "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
                   "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy",
                   "overhead", "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers",
                   "schedulingGates", "resourceClaims", "resources",
                   containers=[CONTAINER], initContainers=[CONTAINER])
POD_TEMPLATE = {"metadata": OBJECT_META, "spec": POD_SPEC}
JOB_SPEC = _fields("parallelism", "completions", "activeDeadlineSeconds", "podFailurePolicy", "successPolicy",
                   "backoffLimit", "backoffLimitPerIndex", "maxFailedIndexes", "selector", "manualSelector",
                   "ttlSecondsAfterFinished", "completionMode", "suspend", "podReplacementPolicy", "managedBy",
                   template=POD_TEMPLATE)
SPEC_SCHEMAS = {
    "Pod": POD_SPEC,
    "Deployment": _fields("replicas", "selector", "strategy", "minReadySeconds", "revisionHistoryLimit", "paused",
                          "progressDeadlineSeconds", template=POD_TEMPLATE),
    "ReplicaSet": _fields("replicas", "minReadySeconds", "selector", template=POD_TEMPLATE),
    "StatefulSet": _fields("replicas", "selector", "volumeClaimTemplates", "serviceName", "podManagementPolicy",
                           "updateStrategy", "revisionHistoryLimit", "minReadySeconds",
                           "persistentVolumeClaimRetentionPolicy", "ordinals", template=POD_TEMPLATE),
    "DaemonSet": _fields("selector", "updateStrategy", "minReadySeconds", "revisionHistoryLimit",
                         template=POD_TEMPLATE),
    "Job": JOB_SPEC,
    "CronJob": _fields("schedule", "timeZone", "startingDeadlineSeconds", "concurrencyPolicy", "suspend",
                       "successfulJobsHistoryLimit", "failedJobsHistoryLimit",
                       jobTemplate={"metadata": OBJECT_META, "spec": JOB_SPEC}),
    "Service": _fields("selector", "clusterIP", "clusterIPs", "type", "externalIPs", "sessionAffinity",
                       "loadBalancerIP", "loadBalancerSourceRanges", "externalName", "externalTrafficPolicy",
                       "healthCheckNodePort", "publishNotReadyAddresses", "sessionAffinityConfig", "ipFamilies",
                       "ipFamilyPolicy", "allocateLoadBalancerNodePorts", "loadBalancerClass",
                       "internalTrafficPolicy", "trafficDistribution",
                       ports=[_fields("name", "protocol", "appProtocol", "port", "targetPort", "nodePort")]),
    "PersistentVolumeClaim": _fields("accessModes", "selector", "resources", "volumeName", "storageClassName",
                                     "volumeMode", "dataSource", "dataSourceRef", "volumeAttributesClassName"),
}
TOP_LEVEL = {
    "ConfigMap": ("data", "binaryData", "immutable"),
    "Secret": ("data", "stringData", "type", "immutable"),
    "ServiceAccount": ("secrets", "imagePullSecrets", "automountServiceAccountToken"),
    "Endpoints": ("subsets",),
    "EndpointSlice": ("addressType", "endpoints", "ports"),
    "Event": ("involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp", "count", "type",
              "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"),
    "Role": ("rules",),
    "ClusterRole": ("rules", "aggregationRule"),
    "RoleBinding": ("subjects", "roleRef"),
    "ClusterRoleBinding": ("subjects", "roleRef"),
    "StorageClass": ("provisioner", "parameters", "reclaimPolicy", "mountOptions", "allowVolumeExpansion",
                     "volumeBindingMode", "allowedTopologies"),
    "ValidatingWebhookConfiguration": ("webhooks",),
    "MutatingWebhookConfiguration": ("webhooks",),
    "PriorityClass": ("value", "globalDefault", "description", "preemptionPolicy"),
    "ControllerRevision": ("data", "revision"),
}


def builtin_schema(kind):
    schema = {"apiVersion": None, "kind": None, "metadata": OBJECT_META}
    if kind in TOP_LEVEL:
        schema.update(dict.fromkeys(TOP_LEVEL[kind]))
    else:
        schema["spec"] = SPEC_SCHEMAS.get(kind)
        schema["status"] = None
    return schema


def crd_schema(openapi):
    """Convert a CRD openAPIV3Schema into the validation schema above."""
    def conv(s):
        if not isinstance(s, dict) or s.get("x-kubernetes-preserve-unknown-fields"):
            return None
        if s.get("type") == "array" and isinstance(s.get("items"), dict):
            return [conv(s["items"])]
        if "properties" in s and not s.get("additionalProperties"):
            return {k: conv(v) for k, v in s["properties"].items()}
        return None
    top = {"apiVersion": None, "kind": None, "metadata": OBJECT_META}
    if not isinstance(openapi, dict):
        return None
    if openapi.get("x-kubernetes-preserve-unknown-fields"):
        return None
    for key, sub in (openapi.get("properties") or {}).items():
        if key not in ("apiVersion", "kind", "metadata"):
            top[key] = conv(sub)
    return top


def unknown_fields(obj, schema, path=""):
    """Return the dotted paths of fields not in schema."""
    found = []
    if schema is None:
        return found
    if isinstance(schema, list):
        if isinstance(obj, list):
            for i, item in enumerate(obj):
                found.extend(unknown_fields(item, schema[0], f"{path}[{i}]"))
        return found
    if not isinstance(obj, dict):
        return found
    for key, value in obj.items():
        sub_path = f"{path}.{key}" if path else key
        if key not in schema:
            found.append(sub_path)
        else:
            found.extend(unknown_fields(value, schema[key], sub_path))
    return found


def prune_fields(obj, schema):
    if schema is None:
        return obj
    if isinstance(schema, list):
        if isinstance(obj, list):
            return [prune_fields(i, schema[0]) for i in obj]
        return obj
    if not isinstance(obj, dict):
        return obj
    return {k: prune_fields(v, schema[k]) for k, v in obj.items() if k in schema}


def openapi_of(schema):
    if schema is None:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(schema, list):
        return {"type": "array", "items": openapi_of(schema[0])}
    return {"type": "object", "properties": {k: openapi_of(v) for k, v in schema.items()}}


# --------------------------------------------------------------------------- resource types


class ResourceType:
    def __init__(self, group, version, plural, kind, namespaced, short=(), subresources=(), verbs=None,
                 categories=(), singular=None, crd=None, schema=None, scale_paths=None, list_kind=None,
                 printer_columns=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.short = list(short)
        self.subresources = set(subresources)
        self.verbs = verbs or ALL_VERBS
        self.categories = list(categories)
        self.singular = singular or kind.lower()
        self.crd = crd  # name of the CRD for custom resources
        self.schema = schema if crd else builtin_schema(kind)
        self.scale_paths = scale_paths or {"spec": ".spec.replicas", "status": ".status.replicas",
                                           "selector": ".status.selector"}
        self.list_kind = list_kind or kind + "List"
        self.printer_columns = printer_columns or []

    @property
    def gv(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gk(self):
        return (self.group, self.plural)

    @property
    def qualified(self):
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def create_only(self):
        return self.verbs == CREATE_ONLY

    @property
    def strategic(self):
        return self.crd is None


_ALL = ("all",)
BUILTIN_TYPES = [
    # group, version, plural, kind, namespaced, shortNames, subresources, categories
    ("", "v1", "namespaces", "Namespace", False, ("ns",), ("status", "finalize"), ()),
    ("", "v1", "pods", "Pod", True, ("po",), ("status", "eviction", "log", "binding"), _ALL),
    ("", "v1", "services", "Service", True, ("svc",), ("status",), _ALL),
    ("", "v1", "endpoints", "Endpoints", True, ("ep",), (), ()),
    ("", "v1", "configmaps", "ConfigMap", True, ("cm",), (), ()),
    ("", "v1", "secrets", "Secret", True, (), (), ()),
    ("", "v1", "serviceaccounts", "ServiceAccount", True, ("sa",), ("token",), ()),
    ("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", True, ("pvc",), ("status",), ()),
    ("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",), ("status",), ()),
    ("", "v1", "events", "Event", True, ("ev",), (), ()),
    ("", "v1", "resourcequotas", "ResourceQuota", True, ("quota",), ("status",), ()),
    ("", "v1", "limitranges", "LimitRange", True, ("limits",), (), ()),
    ("", "v1", "nodes", "Node", False, ("no",), ("status",), ()),
    ("", "v1", "podtemplates", "PodTemplate", True, (), (), ()),
    ("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("status", "scale"), _ALL),
    ("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("status", "scale"), _ALL),
    ("apps", "v1", "statefulsets", "StatefulSet", True, ("sts",), ("status", "scale"), _ALL),
    ("apps", "v1", "daemonsets", "DaemonSet", True, ("ds",), ("status",), _ALL),
    ("apps", "v1", "controllerrevisions", "ControllerRevision", True, (), (), ()),
    ("batch", "v1", "jobs", "Job", True, (), ("status",), _ALL),
    ("batch", "v1", "cronjobs", "CronJob", True, ("cj",), ("status",), _ALL),
    ("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("status",), _ALL),
    ("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), ("status",), _ALL),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", True, ("pdb",), ("status",), ()),
    ("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), ("status",), ()),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True, ("netpol",), (), ()),
    ("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False, (), (), ()),
    ("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True, (), (), ()),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role", True, (), (), ()),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", True, (), (), ()),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, (), (), ()),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, (), (), ()),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
     ("crd", "crds"), ("status",), ()),
    ("coordination.k8s.io", "v1", "leases", "Lease", True, (), (), ()),
    ("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, ("sc",), (), ()),
    ("storage.k8s.io", "v1", "csidrivers", "CSIDriver", False, (), (), ()),
    ("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, ("pc",), (), ()),
    ("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration",
     False, (), (), ()),
    ("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration",
     False, (), (), ()),
]
REVIEW_TYPES = [
    ("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False),
    ("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False),
    ("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False),
    ("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", True),
    ("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False),
    ("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False),
]
# Strategic merge patch: list merge keys by field name (the real ones for the built-in types).
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
    "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath", "imagePullSecrets": "name",
    "hostAliases": "ip", "ownerReferences": "uid", "conditions": "type", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name", "schedulingGates": "name", "resizePolicy": "resourceName",
}
PRIMITIVE_MERGE_LISTS = {"finalizers"}
CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}


def merge_key_for(path, field):
    if field == "ports":
        return "containerPort" if path and path[-1] in CONTAINER_LISTS else "port"
    return MERGE_KEYS.get(field)


# --------------------------------------------------------------------------- patches


def _clean(value):
    """Strip strategic-merge directives and nulls from a value inserted as is."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")]
    return value


_DELETE = object()


def strategic_merge(orig, patch, path=(), keyed=True):
    """Strategic merge patch for built-in types (keyed=False gives plain list replacement)."""
    if not isinstance(patch, dict):
        return _clean(patch)
    if not isinstance(orig, dict):
        orig = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return _clean({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return _DELETE
    result = dict(orig)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
            continue
        current = result.get(key)
        if isinstance(value, dict):
            merged = strategic_merge(current, value, path + (key,), keyed)
            if merged is _DELETE:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and isinstance(current, list) and keyed:
            result[key] = _merge_list(current, value, path, key)
        else:
            result[key] = _clean(value)
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [x for x in result[field] if x not in value]
        elif key.startswith("$setElementOrder/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list) and isinstance(value, list):
                result[field] = _reorder(result[field], value, merge_key_for(path, field))
    if "$retainKeys" in patch and isinstance(patch["$retainKeys"], list):
        keep = set(patch["$retainKeys"])
        result = {k: v for k, v in result.items() if k in keep}
    return result


def _merge_list(current, patch_list, path, field):
    if any(isinstance(x, dict) and x.get("$patch") == "replace" for x in patch_list):
        return _clean([x for x in patch_list if not (isinstance(x, dict) and x.get("$patch") == "replace")])
    key = merge_key_for(path, field)
    if key is None:
        if field in PRIMITIVE_MERGE_LISTS:
            out = list(current)
            out.extend(x for x in patch_list if x not in out)
            return out
        return _clean(patch_list)
    result = list(current)
    for item in patch_list:
        if not isinstance(item, dict):
            continue
        idx = next((i for i, x in enumerate(result) if isinstance(x, dict) and x.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                result.pop(idx)
            continue
        if idx is None:
            result.append(_clean(item))
        else:
            result[idx] = strategic_merge(result[idx], item, path + (field,))
    return result


def _reorder(items, order, key):
    def ident(x):
        return x.get(key) if (key and isinstance(x, dict)) else x
    wanted = [o.get(key) if (key and isinstance(o, dict)) else o for o in order]
    ranked = []
    for pos, item in enumerate(items):
        ident_value = ident(item)
        rank = wanted.index(ident_value) if ident_value in wanted else len(wanted) + pos
        ranked.append((rank, pos, item))
    return [item for _, _, item in sorted(ranked, key=lambda t: (t[0], t[1]))]


def json_merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _container(doc, parts, create=False):
    cur = doc
    for part in parts[:-1]:
        if isinstance(cur, list):
            try:
                cur = cur[int(part)]
            except (ValueError, IndexError):
                raise APIError(422, "Invalid", f"jsonpatch: index {part} out of range") from None
        elif isinstance(cur, dict):
            if part not in cur:
                raise APIError(422, "Invalid", f"jsonpatch: path segment {part!r} does not exist")
            cur = cur[part]
        else:
            raise APIError(422, "Invalid", f"jsonpatch: cannot traverse into {part!r}")
    return cur


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise bad_request("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def get(path):
        parts = _pointer(path)
        cur = doc
        for part in parts:
            if isinstance(cur, list):
                try:
                    cur = cur[int(part)]
                except (ValueError, IndexError):
                    raise APIError(422, "Invalid", f"jsonpatch: path {path} does not exist") from None
            elif isinstance(cur, dict) and part in cur:
                cur = cur[part]
            else:
                raise APIError(422, "Invalid", f"jsonpatch: path {path} does not exist")
        return cur

    def remove(path):
        parts = _pointer(path)
        parent = _container(doc, parts)
        last = parts[-1]
        if isinstance(parent, list):
            try:
                return parent.pop(int(last))
            except (ValueError, IndexError):
                raise APIError(422, "Invalid", f"jsonpatch: remove of missing path {path}") from None
        if not isinstance(parent, dict) or last not in parent:
            raise APIError(422, "Invalid", f"jsonpatch: remove of missing path {path}")
        return parent.pop(last)

    def add(path, value, replace=False):
        nonlocal doc
        parts = _pointer(path)
        if not parts:
            doc = value
            return
        parent = _container(doc, parts)
        last = parts[-1]
        if isinstance(parent, list):
            if last == "-":
                parent.append(value)
                return
            try:
                idx = int(last)
            except ValueError:
                raise APIError(422, "Invalid", f"jsonpatch: bad index in {path}") from None
            if replace:
                if idx >= len(parent):
                    raise APIError(422, "Invalid", f"jsonpatch: replace of missing path {path}")
                parent[idx] = value
            elif idx > len(parent):
                raise APIError(422, "Invalid", f"jsonpatch: index out of range in {path}")
            else:
                parent.insert(idx, value)
        elif isinstance(parent, dict):
            if replace and last not in parent:
                raise APIError(422, "Invalid", f"jsonpatch: replace of missing path {path}")
            parent[last] = value
        else:
            raise APIError(422, "Invalid", f"jsonpatch: cannot add at {path}")

    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise bad_request(f"invalid json patch operation: {op!r}")
        kind, path = op["op"], op["path"]
        if kind == "add":
            add(path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            remove(path)
        elif kind == "replace":
            add(path, copy.deepcopy(op.get("value")), replace=True)
        elif kind == "move":
            add(path, remove(op["from"]))
        elif kind == "copy":
            add(path, copy.deepcopy(get(op["from"])))
        elif kind == "test":
            if get(path) != op.get("value"):
                raise APIError(422, "Invalid", f"jsonpatch: test failed at {path}")
        else:
            raise bad_request(f"unknown json patch operation {kind!r}")
    return doc


def prune_unapplied(current, last, new, path=(), keyed=True):
    """Remove from current the fields a manager applied before (last) but no longer applies (new)."""
    if not isinstance(current, dict) or not isinstance(last, dict):
        return current
    new = new if isinstance(new, dict) else {}
    result = dict(current)
    for key, old_value in last.items():
        if key not in new:
            result.pop(key, None)
        elif isinstance(old_value, dict) and isinstance(new[key], dict):
            result[key] = prune_unapplied(result.get(key), old_value, new[key], path + (key,), keyed)
        elif keyed and isinstance(old_value, list) and isinstance(result.get(key), list):
            mkey = merge_key_for(path, key)
            if mkey:
                new_list = new[key] if isinstance(new[key], list) else []
                new_ids = {x.get(mkey) for x in new_list if isinstance(x, dict)}
                old_by_id = {x.get(mkey): x for x in old_value if isinstance(x, dict)}
                merged = []
                for item in result[key]:
                    ident = item.get(mkey) if isinstance(item, dict) else None
                    if ident in old_by_id and ident not in new_ids:
                        continue
                    if ident in old_by_id:
                        new_item = next(x for x in new_list if isinstance(x, dict) and x.get(mkey) == ident)
                        item = prune_unapplied(item, old_by_id[ident], new_item, path + (key,), keyed)
                    merged.append(item)
                result[key] = merged
    return result


def fields_v1(obj):
    if isinstance(obj, dict):
        return {f"f:{k}": fields_v1(v) for k, v in obj.items() if k not in ("apiVersion", "kind")}
    return {}


# --------------------------------------------------------------------------- selectors


def _split_top(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(text):
    reqs = []
    for term in _split_top(text or ""):
        m = re.match(r"^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$", term)
        if m:
            values = {v.strip() for v in m.group(3).split(",") if v.strip()}
            reqs.append((m.group(1), m.group(2), values))
        elif term.startswith("!"):
            reqs.append((term[1:].strip(), "!exists", None))
        elif "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif re.match(r"^[A-Za-z0-9./_-]+$", term):
            reqs.append((term, "exists", None))
        else:
            raise bad_request(f"unable to parse requirement: {term!r}")
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for key, op, value in reqs:
        present = key in labels
        if op == "=" and labels.get(key) != value:
            return False
        if op == "!=" and present and labels.get(key) == value:
            return False
        if op == "in" and (not present or labels[key] not in value):
            return False
        if op == "notin" and present and labels[key] in value:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def parse_field_selector(text):
    reqs = []
    for term in _split_top(text or ""):
        if "!=" in term:
            k, v = term.split("!=", 1)
            reqs.append((k.strip(), "!=", v.strip()))
        elif "==" in term:
            k, v = term.split("==", 1)
            reqs.append((k.strip(), "=", v.strip()))
        elif "=" in term:
            k, v = term.split("=", 1)
            reqs.append((k.strip(), "=", v.strip()))
        else:
            raise bad_request(f"invalid field selector: {term!r}")
    return reqs


def fields_match(reqs, obj):
    for key, op, value in reqs:
        actual = dig(obj, key.split("."))
        actual = "" if actual is None else (str(actual).lower() if isinstance(actual, bool) else str(actual))
        if op == "=" and actual != value:
            return False
        if op == "!=" and actual == value:
            return False
    return True


def selector_matches(selector, labels):
    """metav1.LabelSelector against labels (an empty selector matches everything)."""
    if not selector:
        return True
    labels = labels or {}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), set(expr.get("values") or [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def selector_string(selector):
    parts = [f"{k}={v}" for k, v in sorted((selector or {}).get("matchLabels", {}).items())]
    for expr in (selector or {}).get("matchExpressions") or []:
        op = expr.get("operator")
        if op in ("In", "NotIn"):
            parts.append(f"{expr['key']} {op.lower()} ({','.join(sorted(expr.get('values') or []))})")
        elif op == "Exists":
            parts.append(expr["key"])
        elif op == "DoesNotExist":
            parts.append("!" + expr["key"])
    return ",".join(parts)


# --------------------------------------------------------------------------- protobuf


def _varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise bad_request("truncated protobuf varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def pb_fields(buf):
    """Yield (field_number, wire_type, value) of a protobuf message."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value = bytes(buf[pos:pos + length])
            pos += length
        elif wire == 1:
            value = buf[pos:pos + 8]
            pos += 8
        elif wire == 5:
            value = buf[pos:pos + 4]
            pos += 4
        else:
            raise bad_request(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def _pb_map_entry(buf):
    key = value = b""
    for f, _, v in pb_fields(buf):
        if f == 1:
            key = v
        elif f == 2:
            value = v
    return key, value


# Field tables of the k8s.io/api generated.proto messages the typed clients of kubectl and Helm send
# (kubectl create namespace/configmap/secret/deployment/service/job/cronjob/serviceaccount/role...).
# Types: s string, i int (varint, signed), b bool, y bytes (base64 in JSON), m:<msg>, M:<value type>
# for maps with string keys, r:<type> for repeated fields, q quantity, o int-or-string.
PROTO = {
    "ObjectMeta": {1: ("name", "s"), 2: ("generateName", "s"), 3: ("namespace", "s"), 5: ("uid", "s"),
                   6: ("resourceVersion", "s"), 7: ("generation", "i"), 11: ("labels", "M:s"),
                   12: ("annotations", "M:s"), 13: ("ownerReferences", "r:m:OwnerReference"),
                   14: ("finalizers", "r:s")},
    "OwnerReference": {1: ("kind", "s"), 3: ("name", "s"), 4: ("uid", "s"), 5: ("apiVersion", "s"),
                       6: ("controller", "b"), 7: ("blockOwnerDeletion", "b")},
    "Namespace": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:NamespaceSpec")},
    "NamespaceSpec": {1: ("finalizers", "r:s")},
    "ConfigMap": {1: ("metadata", "m:ObjectMeta"), 2: ("data", "M:s"), 3: ("binaryData", "M:y"),
                  4: ("immutable", "b")},
    "Secret": {1: ("metadata", "m:ObjectMeta"), 2: ("data", "M:y"), 3: ("type", "s"), 4: ("stringData", "M:s"),
               5: ("immutable", "b")},
    "ServiceAccount": {1: ("metadata", "m:ObjectMeta"), 2: ("secrets", "r:m:ObjectReference"),
                       3: ("imagePullSecrets", "r:m:LocalObjectReference"),
                       4: ("automountServiceAccountToken", "b")},
    "ObjectReference": {1: ("kind", "s"), 2: ("namespace", "s"), 3: ("name", "s"), 4: ("uid", "s"),
                        5: ("apiVersion", "s"), 6: ("resourceVersion", "s"), 7: ("fieldPath", "s")},
    "LocalObjectReference": {1: ("name", "s")},
    "LabelSelector": {1: ("matchLabels", "M:s"), 2: ("matchExpressions", "r:m:LabelSelectorRequirement")},
    "LabelSelectorRequirement": {1: ("key", "s"), 2: ("operator", "s"), 3: ("values", "r:s")},
    "Deployment": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:DeploymentSpec")},
    "DeploymentSpec": {1: ("replicas", "i"), 2: ("selector", "m:LabelSelector"), 3: ("template", "m:PodTemplateSpec"),
                       4: ("strategy", "m:DeploymentStrategy"), 5: ("minReadySeconds", "i"),
                       6: ("revisionHistoryLimit", "i"), 7: ("paused", "b"), 9: ("progressDeadlineSeconds", "i")},
    "DeploymentStrategy": {1: ("type", "s"), 2: ("rollingUpdate", "m:RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: ("maxUnavailable", "o"), 2: ("maxSurge", "o")},
    "PodTemplateSpec": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:PodSpec")},
    "Pod": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:PodSpec")},
    "PodSpec": {2: ("containers", "r:m:Container"), 3: ("restartPolicy", "s"),
                4: ("terminationGracePeriodSeconds", "i"), 5: ("activeDeadlineSeconds", "i"), 6: ("dnsPolicy", "s"),
                7: ("nodeSelector", "M:s"), 8: ("serviceAccountName", "s"), 9: ("serviceAccount", "s"),
                10: ("nodeName", "s"), 11: ("hostNetwork", "b"), 15: ("imagePullSecrets", "r:m:LocalObjectReference"),
                16: ("hostname", "s"), 17: ("subdomain", "s"), 19: ("schedulerName", "s"),
                20: ("initContainers", "r:m:Container"), 21: ("automountServiceAccountToken", "b"),
                24: ("priorityClassName", "s"), 30: ("enableServiceLinks", "b")},
    "Container": {1: ("name", "s"), 2: ("image", "s"), 3: ("command", "r:s"), 4: ("args", "r:s"),
                  5: ("workingDir", "s"), 6: ("ports", "r:m:ContainerPort"), 7: ("env", "r:m:EnvVar"),
                  8: ("resources", "m:ResourceRequirements"), 13: ("terminationMessagePath", "s"),
                  14: ("imagePullPolicy", "s"), 16: ("stdin", "b"), 17: ("stdinOnce", "b"), 18: ("tty", "b"),
                  20: ("terminationMessagePolicy", "s")},
    "ContainerPort": {1: ("name", "s"), 2: ("hostPort", "i"), 3: ("containerPort", "i"), 4: ("protocol", "s"),
                      5: ("hostIP", "s")},
    "EnvVar": {1: ("name", "s"), 2: ("value", "s")},
    "ResourceRequirements": {1: ("limits", "M:q"), 2: ("requests", "M:q")},
    "Service": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:ServiceSpec")},
    "ServiceSpec": {1: ("ports", "r:m:ServicePort"), 2: ("selector", "M:s"), 3: ("clusterIP", "s"), 4: ("type", "s"),
                    5: ("externalIPs", "r:s"), 7: ("sessionAffinity", "s"), 8: ("loadBalancerIP", "s"),
                    10: ("externalName", "s"), 11: ("externalTrafficPolicy", "s"),
                    13: ("publishNotReadyAddresses", "b"), 18: ("clusterIPs", "r:s")},
    "ServicePort": {1: ("name", "s"), 2: ("protocol", "s"), 3: ("port", "i"), 4: ("targetPort", "o"),
                    5: ("nodePort", "i"), 6: ("appProtocol", "s")},
    "Job": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:JobSpec")},
    "JobSpec": {1: ("parallelism", "i"), 2: ("completions", "i"), 3: ("activeDeadlineSeconds", "i"),
                4: ("selector", "m:LabelSelector"), 5: ("manualSelector", "b"), 6: ("template", "m:PodTemplateSpec"),
                7: ("backoffLimit", "i"), 8: ("ttlSecondsAfterFinished", "i"), 9: ("completionMode", "s"),
                10: ("suspend", "b")},
    "CronJob": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:CronJobSpec")},
    "CronJobSpec": {1: ("schedule", "s"), 2: ("startingDeadlineSeconds", "i"), 3: ("concurrencyPolicy", "s"),
                    4: ("suspend", "b"), 5: ("jobTemplate", "m:JobTemplateSpec"),
                    6: ("successfulJobsHistoryLimit", "i"), 7: ("failedJobsHistoryLimit", "i"), 8: ("timeZone", "s")},
    "JobTemplateSpec": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:JobSpec")},
    "Role": {1: ("metadata", "m:ObjectMeta"), 2: ("rules", "r:m:PolicyRule")},
    "ClusterRole": {1: ("metadata", "m:ObjectMeta"), 2: ("rules", "r:m:PolicyRule")},
    "PolicyRule": {1: ("verbs", "r:s"), 2: ("apiGroups", "r:s"), 3: ("resources", "r:s"), 4: ("resourceNames", "r:s"),
                   5: ("nonResourceURLs", "r:s")},
    "RoleBinding": {1: ("metadata", "m:ObjectMeta"), 2: ("subjects", "r:m:Subject"), 3: ("roleRef", "m:RoleRef")},
    "ClusterRoleBinding": {1: ("metadata", "m:ObjectMeta"), 2: ("subjects", "r:m:Subject"),
                           3: ("roleRef", "m:RoleRef")},
    "Subject": {1: ("kind", "s"), 2: ("apiGroup", "s"), 3: ("name", "s"), 4: ("namespace", "s")},
    "RoleRef": {1: ("apiGroup", "s"), 2: ("kind", "s"), 3: ("name", "s")},
    "DeleteOptions": {1: ("gracePeriodSeconds", "i"), 2: ("preconditions", "m:Preconditions"),
                      3: ("orphanDependents", "b"), 4: ("propagationPolicy", "s"), 5: ("dryRun", "r:s")},
    "Preconditions": {1: ("uid", "s"), 2: ("resourceVersion", "s")},
    "SelfSubjectAccessReview": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:SelfSubjectAccessReviewSpec")},
    "SelfSubjectAccessReviewSpec": {1: ("resourceAttributes", "m:ResourceAttributes"),
                                    2: ("nonResourceAttributes", "m:NonResourceAttributes")},
    "ResourceAttributes": {1: ("namespace", "s"), 2: ("verb", "s"), 3: ("group", "s"), 4: ("version", "s"),
                           5: ("resource", "s"), 6: ("subresource", "s"), 7: ("name", "s")},
    "NonResourceAttributes": {1: ("path", "s"), 2: ("verb", "s")},
    "SelfSubjectRulesReview": {1: ("metadata", "m:ObjectMeta"), 2: ("spec", "m:SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: ("namespace", "s")},
}
PROTO_KINDS = sorted(k for k in PROTO if k[0].isupper() and k in (
    "Namespace", "ConfigMap", "Secret", "ServiceAccount", "Deployment", "Pod", "Service", "Job", "CronJob", "Role",
    "ClusterRole", "RoleBinding", "ClusterRoleBinding", "DeleteOptions", "SelfSubjectAccessReview",
    "SelfSubjectRulesReview"))


# Optional (pointer) fields: a zero value present on the wire is meaningful (replicas: 0, suspend: false).
PB_POINTER_FIELDS = {
    "replicas", "parallelism", "completions", "backoffLimit", "activeDeadlineSeconds", "revisionHistoryLimit",
    "terminationGracePeriodSeconds", "progressDeadlineSeconds", "ttlSecondsAfterFinished", "startingDeadlineSeconds",
    "successfulJobsHistoryLimit", "failedJobsHistoryLimit", "suspend", "automountServiceAccountToken", "immutable",
    "enableServiceLinks", "controller", "blockOwnerDeletion", "manualSelector", "gracePeriodSeconds",
    "orphanDependents", "maxUnavailable", "maxSurge",
}


def _pb_scalar(kind, wire, value):
    if kind == "s":
        return value.decode("utf-8")
    if kind == "y":
        return base64.b64encode(value).decode()
    if kind == "i":
        return value - (1 << 64) if value >= 1 << 63 else value
    if kind == "b":
        return bool(value)
    if kind == "q":  # resource.Quantity {string = 1}
        return next((v.decode() for f, _, v in pb_fields(value) if f == 1), "0")
    if kind == "o":  # intstr.IntOrString {type = 1, intVal = 2, strVal = 3}
        fields = {f: v for f, _, v in pb_fields(value)}
        return fields.get(3, b"").decode() if fields.get(1) == 1 else _pb_scalar("i", 0, fields.get(2, 0))
    if kind.startswith("m:"):
        return pb_message(kind[2:], value)
    raise bad_request(f"unsupported protobuf field type {kind}")


def pb_message(name, buf):
    """Decode a protobuf message into its JSON form using the PROTO tables (unknown fields are skipped)."""
    table = PROTO[name]
    out = {}
    for field, wire, value in pb_fields(buf):
        if field not in table:
            continue
        json_name, kind = table[field]
        if kind.startswith("M:"):
            key, raw = _pb_map_entry(value)
            out.setdefault(json_name, {})[key.decode()] = _pb_scalar(kind[2:], 2, raw)
        elif kind.startswith("r:"):
            item_kind = kind[2:]
            if item_kind == "i" and wire == 2:  # packed
                pos = 0
                while pos < len(value):
                    item, pos = _varint(value, pos)
                    out.setdefault(json_name, []).append(_pb_scalar("i", 0, item))
            else:
                out.setdefault(json_name, []).append(_pb_scalar(item_kind, wire, value))
        else:
            decoded = _pb_scalar(kind, wire, value)
            # Go writes zero values of non-pointer fields; JSON clients would have omitted them.
            if decoded in ("", 0, False) and not isinstance(decoded, float) and json_name not in PB_POINTER_FIELDS:
                continue
            out[json_name] = decoded
    return out


def decode_protobuf(body):
    """Decode a k8s protobuf envelope ("k8s\\0" + runtime.Unknown) for the kinds in PROTO."""
    if not body.startswith(b"k8s\x00"):
        raise bad_request("protobuf body without the k8s envelope magic")
    api_version = kind = ""
    raw = b""
    for f, _, v in pb_fields(body[4:]):
        if f == 1:
            for tf, _, tv in pb_fields(v):
                if tf == 1:
                    api_version = tv.decode()
                elif tf == 2:
                    kind = tv.decode()
        elif f == 2:
            raw = v
    if kind not in PROTO_KINDS:
        raise APIError(415, "UnsupportedMediaType",
                       f"the kubeapi test server cannot decode protobuf bodies of kind {kind!r}; send JSON "
                       f"(it decodes: {', '.join(PROTO_KINDS)})")
    obj = pb_message(kind, raw)
    if kind != "DeleteOptions":
        obj = {"apiVersion": api_version, "kind": kind, **obj}
    return obj


# --------------------------------------------------------------------------- the API


class KubeAPI:
    """State, REST semantics and controllers.  Stored objects are never mutated in place."""

    def __init__(self, state_file=None):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.rv = 0
        self.objects = {}  # (group, plural) -> {(namespace, name): obj}
        self.applied = {}  # "group/plural/ns/name" -> {manager: last applied object}
        self.history = []  # (rv, gk, type, obj, prev)
        self.history_rvs = []
        self.history_floor = 0
        self._owner_index = {}
        self._fingerprints = {}
        self.types = {}  # (group, version, plural) -> ResourceType
        self.ip_counter = 0
        self.cluster_ip_counter = 0
        self.node_port_counter = 0
        self.state_file = state_file
        self.dirty = False
        self.stopping = threading.Event()
        self.server_address = "127.0.0.1:0"
        for group, version, plural, kind, namespaced, short, subs, cats in BUILTIN_TYPES:
            self._register(ResourceType(group, version, plural, kind, namespaced, short, subs, categories=cats))
        for group, version, plural, kind, namespaced in REVIEW_TYPES:
            self._register(ResourceType(group, version, plural, kind, namespaced, verbs=CREATE_ONLY))
        if state_file and os.path.exists(state_file):
            self.load(state_file)
        else:
            self._bootstrap()

    # ----------------------------------------------------------------- registry

    def _register(self, rt):
        self.types[(rt.group, rt.version, rt.plural)] = rt
        self.objects.setdefault(rt.gk, {})

    def groups(self):
        """[(group, [versions], preferred)] in a stable order (core first)."""
        order = {}
        for rt in self.types.values():
            versions = order.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return [(g, vs, vs[0]) for g, vs in order.items()]

    def type_for(self, group, version, plural):
        rt = self.types.get((group, version, plural))
        if rt is None:
            raise APIError(404, "NotFound", "the server could not find the requested resource",
                           {"group": group, "kind": plural})
        return rt

    def type_of_kind(self, api_version, kind):
        group, _, version = api_version.rpartition("/")
        for rt in self.types.values():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        for rt in self.types.values():
            if rt.group == group and rt.kind == kind:
                return rt
        return None

    def storage_type(self, gk):
        for rt in self.types.values():
            if rt.gk == gk:
                return rt
        return None

    # ----------------------------------------------------------------- low-level store

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _emit(self, gk, etype, obj, prev=None):
        self._owner_index.pop(gk, None)
        rv = int(obj["metadata"]["resourceVersion"])
        self.history.append((rv, gk, etype, obj, prev))
        self.history_rvs.append(rv)
        if len(self.history) > 20000:
            drop = 10000
            self.history_floor = self.history_rvs[drop - 1]
            del self.history[:drop]
            del self.history_rvs[:drop]
        self.dirty = True
        self.cond.notify_all()

    def _get(self, gk, ns, name):
        return self.objects.get(gk, {}).get((ns or "", name))

    def _store(self, gk, obj, etype):
        """Store obj (a new dict) with a fresh resourceVersion and emit an event."""
        m = obj["metadata"]
        key = (m.get("namespace", ""), m["name"])
        prev = self.objects.setdefault(gk, {}).get(key)
        m["resourceVersion"] = str(self._next_rv())
        self.objects[gk][key] = obj
        self._emit(gk, etype, obj, prev)
        return obj

    def _remove(self, gk, obj):
        m = obj["metadata"]
        key = (m.get("namespace", ""), m["name"])
        if self.objects.get(gk, {}).pop(key, None) is None:
            return
        final = copy.deepcopy(obj)
        final["metadata"]["resourceVersion"] = str(self._next_rv())
        self._emit(gk, "DELETED", final, obj)
        self.applied.pop(self._applied_key(gk, key[0], key[1]), None)

    @staticmethod
    def _applied_key(gk, ns, name):
        return f"{gk[0]}/{gk[1]}/{ns}/{name}"

    def _new_meta(self, obj, rt):
        m = obj["metadata"]
        m["uid"] = str(uuid.uuid4())
        m["creationTimestamp"] = now_ts()
        if self._has_generation(rt):
            m["generation"] = 1
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            m.pop(key, None)
        if not rt.namespaced:
            m.pop("namespace", None)

    @staticmethod
    def _has_generation(rt):
        return rt.kind not in ("ConfigMap", "Secret", "Endpoints", "EndpointSlice", "Event", "ServiceAccount",
                               "Lease", "Namespace", "Node", "ControllerRevision")

    def _internal_create(self, rt, obj):
        obj.setdefault("apiVersion", rt.gv)
        obj.setdefault("kind", rt.kind)
        self._new_meta(obj, rt)
        self._on_create(rt, obj)
        return self._store(rt.gk, obj, "ADDED")

    def _internal_write(self, rt, old, new):
        """Write new if it differs from old (status/metadata changes from controllers)."""
        if self._same(old, new):
            return old
        return self._store(rt.gk, new, "MODIFIED")

    @staticmethod
    def _same(a, b):
        def strip(o):
            o = dict(o)
            m = dict(o.get("metadata") or {})
            m.pop("resourceVersion", None)
            m.pop("managedFields", None)
            o["metadata"] = m
            return o
        return strip(a) == strip(b)

    def _bootstrap(self):
        with self.lock:
            for ns in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self._internal_create(self.storage_type(("", "namespaces")),
                                      {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            self._internal_create(self.storage_type(("", "nodes")), self._node_object())
            self._internal_create(self.storage_type(("storage.k8s.io", "storageclasses")), {
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": "standard",
                             "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
                "provisioner": FAKE_PROVISIONER, "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate"})
            self._internal_create(self.storage_type(("", "services")), {
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "kubernetes", "namespace": "default",
                             "labels": {"component": "apiserver", "provider": "kubernetes"}},
                "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}})
            self.reconcile()

    @staticmethod
    def _node_object():
        ts = now_ts()
        return {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": "", "topology.kubernetes.io/zone": "local-a"}},
            "spec": {"podCIDR": "10.244.0.0/16"},
            "status": {
                "capacity": {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"},
                "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "1000", "ephemeral-storage": "1Ti"},
                "conditions": [
                    {"type": "Ready", "status": "True", "reason": "KubeletReady",
                     "message": "kubeapi test server node (no containers run)",
                     "lastHeartbeatTime": ts, "lastTransitionTime": ts},
                    {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                     "lastHeartbeatTime": ts, "lastTransitionTime": ts},
                    {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
                     "lastHeartbeatTime": ts, "lastTransitionTime": ts},
                    {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
                     "lastHeartbeatTime": ts, "lastTransitionTime": ts}],
                "addresses": [{"type": "InternalIP", "address": "10.0.0.10"},
                              {"type": "Hostname", "address": NODE_NAME}],
                "nodeInfo": {"kubeletVersion": "v1.32.0", "kubeProxyVersion": "v1.32.0",
                             "containerRuntimeVersion": "none://kubeapi-test-server", "osImage": "none",
                             "operatingSystem": "linux", "architecture": "amd64", "kernelVersion": "none",
                             "machineID": "", "systemUUID": "", "bootID": ""},
            },
        }

    # ----------------------------------------------------------------- persistence

    def snapshot(self):
        with self.lock:
            return {
                "rv": self.rv, "ip_counter": self.ip_counter, "cluster_ip_counter": self.cluster_ip_counter,
                "node_port_counter": self.node_port_counter,
                "objects": [[gk[0], gk[1], obj] for gk, objs in self.objects.items() for obj in objs.values()],
                "applied": self.applied,
            }

    def save(self, path=None):
        path = path or self.state_file
        if not path:
            return
        data = self.snapshot()
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(tmp, path)
        self.dirty = False

    def load(self, path):
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        with self.lock:
            self.rv = data["rv"]
            self.history_floor = self.rv
            self.ip_counter = data.get("ip_counter", 0)
            self.cluster_ip_counter = data.get("cluster_ip_counter", 0)
            self.node_port_counter = data.get("node_port_counter", 0)
            self.applied = data.get("applied", {})
            for group, plural, obj in data["objects"]:
                m = obj["metadata"]
                self.objects.setdefault((group, plural), {})[(m.get("namespace", ""), m["name"])] = obj
                if (group, plural) == ("apiextensions.k8s.io", "customresourcedefinitions"):
                    self._register_crd(obj)

    # ----------------------------------------------------------------- discovery

    def discovery_resources(self, group, version):
        resources = []
        for rt in self.types.values():
            if rt.group != group or rt.version != version:
                continue
            entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                     "kind": rt.kind, "verbs": rt.verbs}
            if rt.short:
                entry["shortNames"] = rt.short
            if rt.categories:
                entry["categories"] = rt.categories
            entry["storageVersionHash"] = stable_hash([rt.group, rt.kind], 11)
            resources.append(entry)
            for sub in sorted(rt.subresources):
                if sub == "scale":
                    resources.append({"name": f"{rt.plural}/scale", "singularName": "", "namespaced": rt.namespaced,
                                      "group": "autoscaling", "version": "v1", "kind": "Scale",
                                      "verbs": ["get", "patch", "update"]})
                elif sub in ("status",):
                    resources.append({"name": f"{rt.plural}/status", "singularName": "",
                                      "namespaced": rt.namespaced, "kind": rt.kind,
                                      "verbs": ["get", "patch", "update"]})
                elif sub == "eviction":
                    resources.append({"name": "pods/eviction", "singularName": "", "namespaced": True,
                                      "group": "policy", "version": "v1", "kind": "Eviction", "verbs": ["create"]})
                elif sub == "log":
                    resources.append({"name": "pods/log", "singularName": "", "namespaced": True,
                                      "kind": "Pod", "verbs": ["get"]})
        if not resources and not any(g == group and version in vs for g, vs, _ in self.groups()):
            return None
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
                "resources": resources}

    def api_group_list(self):
        groups = []
        for group, versions, preferred in self.groups():
            if not group:
                continue
            groups.append({"name": group,
                           "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                           "preferredVersion": {"groupVersion": f"{group}/{preferred}", "version": preferred}})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def openapi_root(self):
        paths = {}
        for group, versions, _ in self.groups():
            for v in versions:
                key = f"apis/{group}/{v}" if group else f"api/{v}"
                doc = self.openapi_gv(group, v)
                paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={stable_hash(doc, 16)}"}
        return {"paths": paths}

    def openapi_gv(self, group, version):
        paths, schemas = {}, {}
        params = [{"name": n, "in": "query", "schema": {"type": "string"}, "uniqueItems": True}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force", "pretty")]
        for rt in self.types.values():
            if rt.group != group or rt.version != version or rt.create_only:
                continue
            gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
            schema_name = f"{rt.group or 'core'}.{rt.version}.{rt.kind}"
            schema = openapi_of(rt.schema)
            schema["x-kubernetes-group-version-kind"] = gvk
            schemas[schema_name] = schema
            prefix = f"/apis/{group}/{version}" if group else f"/api/{version}"
            item = (f"{prefix}/namespaces/{{namespace}}/{rt.plural}/{{name}}" if rt.namespaced
                    else f"{prefix}/{rt.plural}/{{name}}")
            ref = {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
            paths[item] = {
                "get": {"x-kubernetes-action": "get", "x-kubernetes-group-version-kind": gvk[0],
                        "responses": {"200": {"content": {"application/json": ref}}}},
                "put": {"x-kubernetes-action": "put", "x-kubernetes-group-version-kind": gvk[0],
                        "parameters": params, "requestBody": {"content": {"*/*": ref}},
                        "responses": {"200": {"content": {"application/json": ref}}}},
                "patch": {"x-kubernetes-action": "patch", "x-kubernetes-group-version-kind": gvk[0],
                          "parameters": params,
                          "requestBody": {"content": {
                              "application/json-patch+json": {"schema": {"type": "object"}},
                              "application/merge-patch+json": {"schema": {"type": "object"}},
                              "application/apply-patch+yaml": {"schema": {"type": "object"}}}},
                          "responses": {"200": {"content": {"application/json": ref}}}},
                "delete": {"x-kubernetes-action": "delete", "x-kubernetes-group-version-kind": gvk[0],
                           "responses": {"200": {"content": {"application/json": ref}}}},
            }
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes (kubeapi test server)", "version": "v1.32.0"},
                "paths": paths, "components": {"schemas": schemas}}

    # ----------------------------------------------------------------- reads

    def list_objects(self, rt, ns, label_selector=None, field_selector=None):
        lreqs = parse_label_selector(label_selector) if label_selector else []
        freqs = parse_field_selector(field_selector) if field_selector else []
        with self.lock:
            items = [o for (ons, _), o in self.objects.get(rt.gk, {}).items() if not ns or ons == ns]
            rv = self.rv
        items = [o for o in items if labels_match(lreqs, o["metadata"].get("labels"))
                 and fields_match(freqs, o)]
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items, rv

    def get_object(self, rt, ns, name):
        with self.lock:
            obj = self._get(rt.gk, ns if rt.namespaced else "", name)
        if obj is None:
            raise not_found(rt, name)
        return obj

    # ----------------------------------------------------------------- validation and defaults

    def _validate_fields(self, rt, obj, mode, warnings):
        """Apply fieldValidation (Strict/Warn/Ignore) and prune unknown fields."""
        schema = rt.schema
        if schema is None:
            return obj
        unknown = unknown_fields(obj, schema)
        if not unknown:
            return obj
        mode = (mode or "Warn").lower()
        if mode == "strict":
            text = ", ".join(f'unknown field "{u}"' for u in unknown)
            raise bad_request(f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                              f"strict decoding error: {text}")
        if mode == "warn":
            warnings.extend(f'unknown field "{u}"' for u in unknown)
        return prune_fields(obj, schema)

    def _check_name(self, rt, name):
        if not name:
            raise invalid(rt, "", [("metadata.name", "Required value: name or generateName is required", None)])
        pattern = DNS_LABEL if rt.kind in ("Namespace", "Service") else DNS_SUBDOMAIN
        if rt.kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"):
            pattern = PATH_SEGMENT_NAME
        if rt.crd is None and rt.kind not in ("Event",) and (len(name) > 253 or not pattern.match(name)):
            raise invalid(rt, name, [("metadata.name",
                                      ("a lowercase RFC 1123 name must consist of lower case alphanumeric "
                                       "characters, '-' or '.', and must start and end with an alphanumeric character"),
                                      name)])

    def _validate_kind(self, rt, obj, old=None):
        name = obj["metadata"].get("name", "")
        causes = []
        spec = obj.get("spec") or {}
        for key in ("labels", "annotations"):
            values = obj["metadata"].get(key)
            if values is not None and (not isinstance(values, dict)
                                       or not all(isinstance(v, str) for v in values.values())):
                causes.append((f"metadata.{key}", "must be a map of string keys to string values", None))
        if rt.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"):
            sel = spec.get("selector")
            tmpl_labels = dig(spec, ["template", "metadata", "labels"]) or {}
            if not sel or not (sel.get("matchLabels") or sel.get("matchExpressions")):
                causes.append(("spec.selector", "Required value", None))
            elif not selector_matches(sel, tmpl_labels):
                causes.append(("spec.template.metadata.labels", "`selector` does not match template `labels`",
                               tmpl_labels))
            if old is not None and rt.kind != "ReplicaSet" and (old.get("spec") or {}).get("selector") != sel:
                causes.append(("spec.selector", "field is immutable", sel))
            replicas = spec.get("replicas")
            if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
                causes.append(("spec.replicas", "must be greater than or equal to 0", replicas))
        if rt.kind in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"):
            pod_spec = dig(spec, ["template", "spec"]) or {}
            causes.extend(self._pod_spec_causes(pod_spec, "spec.template.spec"))
        if rt.kind == "Pod":
            causes.extend(self._pod_spec_causes(spec, "spec"))
        if rt.kind == "Service":
            for i, port in enumerate(spec.get("ports") or []):
                if not isinstance(port.get("port"), int) or not 0 < port["port"] < 65536:
                    causes.append((f"spec.ports[{i}].port", "must be between 1 and 65535, inclusive",
                                   port.get("port")))
            if old is not None:
                old_ip = dig(old, ["spec", "clusterIP"])
                new_ip = spec.get("clusterIP")
                if new_ip and old_ip and new_ip != old_ip:
                    causes.append(("spec.clusterIP", "field is immutable", new_ip))
        if rt.kind == "ConfigMap" or rt.kind == "Secret":
            if old is not None and old.get("immutable") and (
                    old.get("data") != obj.get("data") or old.get("binaryData") != obj.get("binaryData")):
                causes.append(("data", "field is immutable when `immutable` is set", None))
            for key in (obj.get("data") or {}):
                if not re.match(r"^[-._a-zA-Z0-9]+$", key):
                    causes.append((f"data[{key}]", ("a valid config key must consist of alphanumeric characters, "
                                                    "'-', '_' or '.'"), key))
            if rt.kind == "Secret":
                for key, value in (obj.get("data") or {}).items():
                    try:
                        base64.b64decode(value, validate=True)
                    except (ValueError, TypeError):
                        causes.append((f"data[{key}]", "illegal base64 data", None))
        if rt.kind == "CustomResourceDefinition":
            causes.extend(self._crd_causes(obj))
        if causes:
            raise invalid(rt, name, causes)

    @staticmethod
    def _pod_spec_causes(pod_spec, prefix):
        causes = []
        containers = pod_spec.get("containers")
        if not containers:
            causes.append((f"{prefix}.containers", "Required value", None))
        names = set()
        for i, c in enumerate(containers or []):
            if not isinstance(c, dict):
                causes.append((f"{prefix}.containers[{i}]", "must be an object", None))
                continue
            if not c.get("name"):
                causes.append((f"{prefix}.containers[{i}].name", "Required value", None))
            elif c["name"] in names:
                causes.append((f"{prefix}.containers[{i}].name", "Duplicate value", c["name"]))
            names.add(c.get("name"))
            if not c.get("image"):
                causes.append((f"{prefix}.containers[{i}].image", "Required value", None))
        return causes

    @staticmethod
    def _crd_causes(crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        causes = []
        for key in ("plural", "kind"):
            if not names.get(key):
                causes.append((f"spec.names.{key}", "Required value", None))
        if not spec.get("group"):
            causes.append(("spec.group", "Required value", None))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            causes.append(("spec.scope", "Unsupported value: must be Namespaced or Cluster", spec.get("scope")))
        versions = spec.get("versions") or []
        if not versions:
            causes.append(("spec.versions", "Required value", None))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            causes.append(("spec.versions", "must have exactly one version marked as storage version", None))
        expected = f"{names.get('plural')}.{spec.get('group')}"
        if crd["metadata"].get("name") != expected:
            causes.append(("metadata.name", 'must be spec.names.plural+"."+spec.group', crd["metadata"].get("name")))
        return causes

    def _defaults(self, rt, obj, old=None):
        spec = obj.get("spec")
        kind = rt.kind
        if kind == "Deployment" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
            if strategy.get("type", "RollingUpdate") == "RollingUpdate":
                strategy.setdefault("type", "RollingUpdate")
                strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        elif kind in ("ReplicaSet",) and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
        elif kind == "StatefulSet" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("podManagementPolicy", "OrderedReady")
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        elif kind == "DaemonSet" and isinstance(spec, dict):
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("updateStrategy", {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}})
        elif kind == "Job" and isinstance(spec, dict):
            spec.setdefault("backoffLimit", 6)
            spec.setdefault("completionMode", "NonIndexed")
            spec.setdefault("suspend", False)
            if spec.get("completions") is None:
                spec["completions"] = 1
            if spec.get("parallelism") is None:
                spec["parallelism"] = 1
            if old is None and not spec.get("manualSelector"):
                uid = obj["metadata"]["uid"]
                name = obj["metadata"]["name"]
                spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
                labels = spec.setdefault("template", {}).setdefault("metadata", {}).setdefault("labels", {})
                labels.setdefault("batch.kubernetes.io/controller-uid", uid)
                labels.setdefault("batch.kubernetes.io/job-name", name)
                labels.setdefault("controller-uid", uid)
                labels.setdefault("job-name", name)
        elif kind == "CronJob" and isinstance(spec, dict):
            spec.setdefault("concurrencyPolicy", "Allow")
            spec.setdefault("suspend", False)
            spec.setdefault("successfulJobsHistoryLimit", 3)
            spec.setdefault("failedJobsHistoryLimit", 1)
        elif kind == "Service":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")
                    if spec["type"] != "ExternalName":
                        port.setdefault("targetPort", port.get("port"))
            if spec["type"] != "ExternalName":
                old_spec = (old or {}).get("spec") or {}
                if not spec.get("clusterIP") and old_spec.get("clusterIP"):
                    spec["clusterIP"] = old_spec["clusterIP"]
                    spec["clusterIPs"] = old_spec.get("clusterIPs", [old_spec["clusterIP"]])
                if not spec.get("clusterIP"):
                    self.cluster_ip_counter += 1
                    n = self.cluster_ip_counter
                    spec["clusterIP"] = f"10.96.{n // 250}.{n % 250 + 2}"
                if "clusterIPs" not in spec:
                    spec["clusterIPs"] = [spec["clusterIP"]]
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
            if spec["type"] in ("NodePort", "LoadBalancer"):
                old_ports = {p.get("port"): p.get("nodePort") for p in ((old or {}).get("spec") or {}).get("ports") or []}
                for port in spec.get("ports") or []:
                    if not port.get("nodePort"):
                        if old_ports.get(port.get("port")):
                            port["nodePort"] = old_ports[port.get("port")]
                        else:
                            self.node_port_counter += 1
                            port["nodePort"] = 30000 + self.node_port_counter % 2768
                spec.setdefault("externalTrafficPolicy", "Cluster")
            if spec["type"] == "LoadBalancer":
                obj["status"] = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}
        elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
            spec.setdefault("volumeMode", "Filesystem")
            if "storageClassName" not in spec:
                # DefaultStorageClass admission: the class annotated default (the newest if several).
                default = self._default_storage_class()
                if default:
                    spec["storageClassName"] = default
        elif kind == "Secret":
            obj.setdefault("type", "Opaque")
            string_data = obj.pop("stringData", None)
            if string_data:
                data = obj.setdefault("data", {})
                for k, v in string_data.items():
                    data[k] = base64.b64encode(str(v).encode()).decode()
        elif kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        elif kind == "CustomResourceDefinition" and isinstance(spec, dict):
            names = spec.setdefault("names", {})
            if names.get("kind"):
                names.setdefault("singular", names["kind"].lower())
                names.setdefault("listKind", names["kind"] + "List")
            spec.setdefault("conversion", {"strategy": "None"})

    # ----------------------------------------------------------------- create hooks and CRDs

    def _on_create(self, rt, obj):
        if rt.kind == "Pod":
            spec = obj.setdefault("spec", {})
            spec.setdefault("nodeName", NODE_NAME)
            spec.setdefault("restartPolicy", "Always")
            spec.setdefault("dnsPolicy", "ClusterFirst")
            spec.setdefault("schedulerName", "default-scheduler")
            spec.setdefault("serviceAccountName", "default")
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        elif rt.kind == "Namespace":
            obj["status"] = {"phase": "Active"}
        elif rt.kind == "PersistentVolumeClaim":
            obj["status"] = {"phase": "Pending"}
        elif rt.kind == "CustomResourceDefinition":
            obj["status"] = self._crd_status(obj)

    @staticmethod
    def _crd_status(crd):
        ts = now_ts()
        spec = crd.get("spec") or {}
        storage = [v["name"] for v in spec.get("versions") or [] if v.get("storage")]
        return {
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": ts},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": ts}],
            "acceptedNames": copy.deepcopy(spec.get("names") or {}),
            "storedVersions": storage,
        }

    def _register_crd(self, crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        self._deregister_crd(crd["metadata"]["name"])
        for version in spec.get("versions") or []:
            if not version.get("served", True):
                continue
            subs = version.get("subresources") or {}
            scale = subs.get("scale") or {}
            scale_paths = {"spec": scale.get("specReplicasPath", ".spec.replicas"),
                           "status": scale.get("statusReplicasPath", ".status.replicas"),
                           "selector": scale.get("labelSelectorPath", "")}
            schema = crd_schema(dig(version, ["schema", "openAPIV3Schema"]))
            rt = ResourceType(group, version["name"], names["plural"], names["kind"],
                              spec.get("scope") == "Namespaced", names.get("shortNames") or (),
                              [s for s in ("status", "scale") if s in subs], categories=names.get("categories") or (),
                              singular=names.get("singular"), crd=crd["metadata"]["name"], schema=schema,
                              scale_paths=scale_paths, list_kind=names.get("listKind"),
                              printer_columns=version.get("additionalPrinterColumns") or [])
            self._register(rt)

    def _deregister_crd(self, crd_name):
        for key in [k for k, rt in self.types.items() if rt.crd == crd_name]:
            del self.types[key]

    # ----------------------------------------------------------------- writes

    def create(self, rt, ns, body, params, warnings):
        if rt.create_only:
            return self._review(rt, body)
        obj = copy.deepcopy(body)
        if not isinstance(obj, dict):
            raise bad_request("the request body must be a JSON object")
        if obj.get("kind") and obj["kind"] != rt.kind:
            raise bad_request(f"the API version in the data ({obj.get('apiVersion')}) does not match the expected "
                              f"API version ({rt.gv}) or kind {obj['kind']!r} is not {rt.kind!r}")
        obj["apiVersion"], obj["kind"] = rt.gv, rt.kind
        obj = self._validate_fields(rt, drop_nulls(obj), params.get("fieldValidation"), warnings)
        m = obj.setdefault("metadata", {})
        if rt.namespaced:
            if m.get("namespace") and m["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
            m["namespace"] = ns
        with self.lock:
            if rt.namespaced:
                nso = self._get(("", "namespaces"), "", ns)
                if nso is None:
                    raise APIError(404, "NotFound", f'namespaces "{ns}" not found',
                                   {"name": ns, "kind": "namespaces"})
                if nso["metadata"].get("deletionTimestamp"):
                    raise APIError(403, "Forbidden", f"{rt.kind.lower()}s \"{m.get('name', '')}\" is forbidden: "
                                   f"unable to create new content in namespace {ns} because it is being terminated")
            if not m.get("name") and m.get("generateName"):
                m["name"] = m["generateName"] + rand_suffix()
            self._check_name(rt, m.get("name"))
            if self._get(rt.gk, m.get("namespace", ""), m["name"]) is not None:
                raise already_exists(rt, m["name"])
            m.pop("resourceVersion", None)
            self._new_meta(obj, rt)
            if rt.kind != "CustomResourceDefinition" and "status" in rt.subresources:
                obj.pop("status", None)
            self._defaults(rt, obj)
            self._validate_kind(rt, obj)
            self._on_create(rt, obj)
            manager = params.get("fieldManager") or "kubeapi-client"
            m["managedFields"] = [self._managed_entry(manager, params.get("_operation", "Update"), rt, body)]
            if params.get("dryRun"):
                return obj
            if rt.kind == "CustomResourceDefinition":
                self._register_crd(obj)
            stored = self._store(rt.gk, obj, "ADDED")
            self.reconcile()
            return stored

    @staticmethod
    def _managed_entry(manager, operation, rt, body):
        fields = fields_v1({k: v for k, v in (body or {}).items() if k != "status"}) if isinstance(body, dict) else {}
        return {"manager": manager, "operation": operation, "apiVersion": rt.gv, "time": now_ts(),
                "fieldsType": "FieldsV1", "fieldsV1": fields}

    def _review(self, rt, body):
        obj = copy.deepcopy(body) if isinstance(body, dict) else {}
        obj["apiVersion"], obj["kind"] = rt.gv, rt.kind
        obj.setdefault("metadata", {})["creationTimestamp"] = None
        if rt.kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
            obj["status"] = {"allowed": True, "reason": "the kubeapi test server enforces no RBAC"}
        elif rt.kind == "SelfSubjectRulesReview":
            obj["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                             "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
        elif rt.kind == "TokenReview":
            obj["status"] = {"authenticated": True, "user": {"username": "kubeapi-test-admin",
                                                             "groups": ["system:masters", "system:authenticated"]}}
        elif rt.kind == "SelfSubjectReview":
            obj["status"] = {"userInfo": {"username": "kubeapi-test-admin",
                                          "groups": ["system:masters", "system:authenticated"]}}
        return obj

    def update(self, rt, ns, name, body, params, warnings, subresource=None, allow_create=False):
        """PUT semantics: replace (main resource) or replace the status."""
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        with self.lock:
            key_ns = ns if rt.namespaced else ""
            old = self._get(rt.gk, key_ns, name)
            if old is None:
                if allow_create or rt.kind in ("Endpoints", "Lease", "Event"):
                    body = copy.deepcopy(body)
                    body.setdefault("metadata", {})["name"] = name
                    return self.create(rt, ns, body, params, warnings)
                raise not_found(rt, name)
            new = copy.deepcopy(body)
            if new.get("kind") and new["kind"] != rt.kind:
                raise bad_request(f"kind {new['kind']!r} does not match {rt.kind!r}")
            new["apiVersion"], new["kind"] = rt.gv, rt.kind
            new.setdefault("metadata", {})
            if new["metadata"].get("name", name) != name:
                raise bad_request(f"the name of the object ({new['metadata'].get('name')}) does not match the name "
                                  f"on the URL ({name})")
            rv = new["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            new = self._validate_fields(rt, new, params.get("fieldValidation"), warnings)
            return self._commit_update(rt, old, new, params, subresource, "Update", body)

    def _commit_update(self, rt, old, new, params, subresource, operation, body):
        new = drop_nulls(new)
        m = new.setdefault("metadata", {})
        om = old["metadata"]
        for key in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
                    "deletionGracePeriodSeconds"):
            if key in om:
                m[key] = om[key]
            else:
                m.pop(key, None)
        if subresource == "status":
            result = copy.deepcopy(old)
            if "status" in new:
                result["status"] = new["status"]
            else:
                result.pop("status", None)
            new = result
        elif "status" in rt.subresources or rt.kind in ("Pod", "Namespace", "Node"):
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        if rt.kind == "Pod" and subresource != "status":
            new.setdefault("spec", {})
            for key in ("nodeName", "restartPolicy", "dnsPolicy", "schedulerName", "serviceAccountName"):
                if key in (old.get("spec") or {}):
                    new["spec"].setdefault(key, old["spec"][key])
        if rt.kind == "Namespace":
            new["spec"] = copy.deepcopy(old.get("spec") or {"finalizers": ["kubernetes"]})
        self._defaults(rt, new, old)
        self._validate_kind(rt, new, old)
        if rt.kind == "CustomResourceDefinition" and subresource != "status":
            new["status"] = self._crd_status(new)
            if old.get("status", {}).get("conditions"):
                new["status"]["conditions"] = old["status"]["conditions"]
        if self._has_generation(rt):
            gen = om.get("generation", 1)
            if self._spec_of(old) != self._spec_of(new):
                gen += 1
            m["generation"] = gen
        manager = params.get("fieldManager") or "kubeapi-client"
        managed = [e for e in om.get("managedFields") or [] if not (e.get("manager") == manager
                                                                    and e.get("operation") == operation)]
        managed.append(self._managed_entry(manager, operation, rt, body))
        m["managedFields"] = managed
        if self._same(old, new):
            return old
        if params.get("dryRun"):
            m["resourceVersion"] = om["resourceVersion"]
            return new
        if m.get("deletionTimestamp") and not m.get("finalizers"):
            stored = self._store(rt.gk, new, "MODIFIED")
            self._delete_now(rt, stored, "Background")
            self.reconcile()
            return stored
        if rt.kind == "CustomResourceDefinition":
            self._register_crd(new)
        stored = self._store(rt.gk, new, "MODIFIED")
        self.reconcile()
        return stored

    @staticmethod
    def _spec_of(obj):
        return {k: v for k, v in obj.items() if k not in ("metadata", "status")}

    def patch(self, rt, ns, name, body_bytes, content_type, params, warnings, subresource=None):
        ctype = (content_type or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/apply-patch+yaml":
                text = body_bytes.decode("utf-8")
                try:
                    patch = json.loads(text)
                except ValueError:
                    yaml = _yaml()
                    if yaml is None:
                        raise
                    patch = yaml.safe_load(text)
            else:
                patch = json.loads(body_bytes.decode("utf-8") or "null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from None
        if ctype == "application/strategic-merge-patch+json" and not rt.strategic:
            raise APIError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml")
        with self.lock:
            key_ns = ns if rt.namespaced else ""
            old = self._get(rt.gk, key_ns, name)
            if ctype == "application/apply-patch+yaml":
                return self._server_side_apply(rt, ns, name, old, patch, params, warnings, subresource)
            if old is None:
                raise not_found(rt, name)
            if subresource == "scale":
                return self._patch_scale(rt, old, patch, ctype, params, warnings)
            if ctype == "application/json-patch+json":
                new = json_patch(old, patch)
            elif ctype == "application/merge-patch+json":
                if not isinstance(patch, dict):
                    raise bad_request("merge patch must be a JSON object")
                new = json_merge_patch(old, patch)
            elif ctype == "application/strategic-merge-patch+json":
                if not isinstance(patch, dict):
                    raise bad_request("strategic merge patch must be a JSON object")
                new = strategic_merge(copy.deepcopy(old), patch)
            else:
                raise APIError(415, "UnsupportedMediaType", f"unsupported patch content type {ctype!r}")
            new = copy.deepcopy(new)
            if not isinstance(new, dict):
                raise bad_request("the patch produced something that is not an object")
            rv = (new.get("metadata") or {}).get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            new = self._validate_fields(rt, new, params.get("fieldValidation"), warnings)
            return self._commit_update(rt, old, new, params, subresource, "Update", patch)

    def _server_side_apply(self, rt, ns, name, old, patch, params, warnings, subresource):
        if not isinstance(patch, dict):
            raise bad_request("apply patch must be an object")
        manager = params.get("fieldManager")
        if not manager:
            raise bad_request("PATCH requests of type application/apply-patch+yaml must specify a fieldManager")
        if patch.get("kind") and patch["kind"] != rt.kind:
            raise bad_request(f"kind {patch['kind']!r} does not match {rt.kind!r}")
        pm = patch.setdefault("metadata", {})
        if pm.get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        pm["name"] = name
        applied = self._validate_fields(rt, copy.deepcopy(patch), params.get("fieldValidation"), warnings)
        akey = self._applied_key(rt.gk, ns if rt.namespaced else "", name)
        if old is None:
            if subresource:
                raise not_found(rt, name)
            body = copy.deepcopy(applied)
            created = self.create(rt, ns, body, dict(params, fieldValidation="Ignore", _operation="Apply"), [])
            if not params.get("dryRun"):
                self.applied.setdefault(akey, {})[manager] = applied
            return created
        last = self.applied.get(akey, {}).get(manager)
        current = copy.deepcopy(old)
        if subresource == "status":
            base = {"status": current.get("status") or {}}
            new_status = strategic_merge(prune_unapplied(base, last or {}, applied, keyed=rt.strategic),
                                         {"status": applied.get("status") or {}}, keyed=rt.strategic)
            current["status"] = new_status.get("status")
            new = current
        else:
            if last is not None:
                current = prune_unapplied(current, last, applied, keyed=rt.strategic)
            new = strategic_merge(current, {k: v for k, v in applied.items() if k != "status"
                                            or "status" not in rt.subresources}, keyed=rt.strategic)
        rv = pm.get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise conflict(rt, name)
        result = self._commit_update(rt, old, copy.deepcopy(new), params, subresource, "Apply", applied)
        if not params.get("dryRun"):
            self.applied.setdefault(akey, {})[manager] = applied
            self.dirty = True
        return result

    # ----------------------------------------------------------------- scale subresource

    @staticmethod
    def _path(expr):
        return [p for p in expr.strip(".").split(".") if p]

    def scale_of(self, rt, obj):
        paths = rt.scale_paths
        spec_replicas = dig(obj, self._path(paths["spec"]), 0)
        status_replicas = dig(obj, self._path(paths["status"]), 0)
        if rt.crd:
            selector = dig(obj, self._path(paths["selector"])) if paths["selector"] else None
        else:
            selector = selector_string(dig(obj, ["spec", "selector"]))
        m = obj["metadata"]
        scale = {"kind": "Scale", "apiVersion": "autoscaling/v1",
                 "metadata": {"name": m["name"], "uid": m["uid"], "resourceVersion": m["resourceVersion"],
                              "creationTimestamp": m["creationTimestamp"]},
                 "spec": {"replicas": spec_replicas}, "status": {"replicas": status_replicas or 0}}
        if m.get("namespace"):
            scale["metadata"]["namespace"] = m["namespace"]
        if selector:
            scale["status"]["selector"] = selector
        return scale

    def _set_replicas(self, rt, old, replicas, params):
        if not isinstance(replicas, int) or replicas < 0:
            raise invalid(rt, old["metadata"]["name"], [("spec.replicas", "must be greater than or equal to 0",
                                                          replicas)])
        new = copy.deepcopy(old)
        path = self._path(rt.scale_paths["spec"])
        cur = new
        for part in path[:-1]:
            cur = cur.setdefault(part, {})
        cur[path[-1]] = replicas
        stored = self._commit_update(rt, old, new, params, None, "Update", {"spec": {"replicas": replicas}})
        return self.scale_of(rt, stored)

    def _patch_scale(self, rt, old, patch, ctype, params, warnings):
        scale = self.scale_of(rt, old)
        if ctype == "application/json-patch+json":
            new_scale = json_patch(scale, patch)
        else:
            new_scale = json_merge_patch(scale, patch)
        return self._set_replicas(rt, old, dig(new_scale, ["spec", "replicas"]), params)

    def update_scale(self, rt, ns, name, body, params):
        with self.lock:
            old = self._get(rt.gk, ns if rt.namespaced else "", name)
            if old is None:
                raise not_found(rt, name)
            rv = dig(body, ["metadata", "resourceVersion"])
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            return self._set_replicas(rt, old, dig(body, ["spec", "replicas"]), params)

    # ----------------------------------------------------------------- delete and garbage collection

    def delete(self, rt, ns, name, options):
        with self.lock:
            key_ns = ns if rt.namespaced else ""
            obj = self._get(rt.gk, key_ns, name)
            if obj is None:
                raise not_found(rt, name)
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
                raise APIError(409, "Conflict", f"Precondition failed: UID in precondition: {pre['uid']}, "
                               f"UID in object meta: {obj['metadata']['uid']}")
            if pre.get("resourceVersion") and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if options.get("dryRun"):
                return obj
            policy = options.get("propagationPolicy")
            if not policy:
                policy = "Orphan" if options.get("orphanDependents") else "Background"
            result = self._delete(rt, obj, policy)
            self.reconcile()
            return result

    def _delete(self, rt, obj, policy):
        m = obj["metadata"]
        if rt.kind == "Namespace":
            return self._delete_namespace(obj)
        if m.get("finalizers"):
            if m.get("deletionTimestamp"):
                return obj
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            return self._store(rt.gk, new, "MODIFIED")
        self._delete_now(rt, obj, policy)
        return obj

    def _delete_now(self, rt, obj, policy):
        self._remove(rt.gk, obj)
        uid = obj["metadata"]["uid"]
        if rt.kind == "CustomResourceDefinition":
            group, plural = obj["spec"]["group"], obj["spec"]["names"]["plural"]
            for child in list(self.objects.get((group, plural), {}).values()):
                self._remove((group, plural), child)
            self._deregister_crd(obj["metadata"]["name"])
        # garbage collection of dependents
        for gk, objs in list(self.objects.items()):
            for dep in list(objs.values()):
                refs = dep["metadata"].get("ownerReferences") or []
                if not any(r.get("uid") == uid for r in refs):
                    continue
                dep_rt = self.storage_type(gk)
                if policy == "Orphan" or len([r for r in refs if r.get("uid") != uid]) > 0:
                    new = copy.deepcopy(dep)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._store(gk, new, "MODIFIED")
                elif dep_rt is not None:
                    self._delete(dep_rt, dep, "Background")

    def _delete_namespace(self, nso):
        name = nso["metadata"]["name"]
        if not nso["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(nso)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["status"] = {"phase": "Terminating"}
            nso = self._store(("", "namespaces"), new, "MODIFIED")
        for gk, objs in list(self.objects.items()):
            rt = self.storage_type(gk)
            if rt is None or not rt.namespaced:
                continue
            for (ons, _), obj in list(objs.items()):
                if ons == name and self._get(gk, ons, obj["metadata"]["name"]) is obj:
                    self._delete(rt, obj, "Background")
        self._finish_namespace(nso)
        return nso

    def _finish_namespace(self, nso):
        name = nso["metadata"]["name"]
        for gk, objs in self.objects.items():
            rt = self.storage_type(gk)
            if rt is not None and rt.namespaced and any(ons == name for ons, _ in objs):
                return False
        self._remove(("", "namespaces"), nso)
        return True

    def delete_collection(self, rt, ns, params, options):
        items, _ = self.list_objects(rt, ns, params.get("labelSelector"), params.get("fieldSelector"))
        deleted = []
        with self.lock:
            for obj in items:
                current = self._get(rt.gk, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
                if current is not None:
                    if not options.get("dryRun"):
                        self._delete(rt, current, options.get("propagationPolicy") or "Background")
                    deleted.append(current)
            self.reconcile()
            rv = self.rv
        return {"kind": rt.list_kind, "apiVersion": rt.gv, "metadata": {"resourceVersion": str(rv)},
                "items": deleted}

    # ----------------------------------------------------------------- controllers

    def reconcile(self):
        with self.lock:
            for _ in range(30):
                changed = False
                for controller in (self._ctl_namespaces, self._ctl_deployments, self._ctl_replicasets,
                                   self._ctl_statefulsets, self._ctl_daemonsets, self._ctl_jobs, self._ctl_pods,
                                   self._ctl_pvcs, self._ctl_endpoints):
                    if controller():
                        changed = True
                if not changed:
                    return

    def _all(self, gk):
        return list(self.objects.get(gk, {}).values())

    def _rt(self, gk):
        return self.storage_type(gk)

    def _owned(self, gk, owner):
        """Objects of gk whose controller is owner (an index rebuilt after any write)."""
        index = self._owner_index.get(gk)
        if index is None:
            index = {}
            for o in self.objects.get(gk, {}).values():
                for r in o["metadata"].get("ownerReferences") or []:
                    if r.get("controller"):
                        index.setdefault(r.get("uid"), []).append(o)
            self._owner_index[gk] = index
        ns = owner["metadata"].get("namespace", "")
        return [o for o in index.get(owner["metadata"]["uid"], []) if o["metadata"].get("namespace", "") == ns]

    @staticmethod
    def _owner_ref(owner, kind, api_version):
        return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
                "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}

    @staticmethod
    def _condition(old_conditions, ctype, status, reason, message):
        ts = now_ts()
        for c in old_conditions or []:
            if c.get("type") == ctype:
                if c.get("status") == status and c.get("reason") == reason and c.get("message") == message:
                    return c
                return {"type": ctype, "status": status, "reason": reason, "message": message,
                        "lastUpdateTime": ts, "lastTransitionTime": ts if c.get("status") != status
                        else c.get("lastTransitionTime", ts)}
        return {"type": ctype, "status": status, "reason": reason, "message": message,
                "lastUpdateTime": ts, "lastTransitionTime": ts}

    def _set_status(self, gk, obj, status):
        if obj.get("status") == status:
            return False
        new = copy.deepcopy(obj)
        new["status"] = status
        self._store(gk, new, "MODIFIED")
        return True

    def _ctl_namespaces(self):
        changed = False
        gk = ("", "namespaces")
        sa_rt = self._rt(("", "serviceaccounts"))
        for nso in self._all(gk):
            name = nso["metadata"]["name"]
            if nso["metadata"].get("deletionTimestamp"):
                if self._finish_namespace(nso):
                    changed = True
                continue
            if self._get(("", "serviceaccounts"), name, "default") is None:
                self._internal_create(sa_rt, {"apiVersion": "v1", "kind": "ServiceAccount",
                                              "metadata": {"name": "default", "namespace": name}})
                changed = True
        return changed

    def _ctl_deployments(self):
        changed = False
        rs_gk = ("apps", "replicasets")
        rs_rt = self._rt(rs_gk)
        for d in self._all(("apps", "deployments")):
            dm = d["metadata"]
            if dm.get("deletionTimestamp") or self._unchanged("deployment", d, rs_gk):
                continue
            spec = d.get("spec") or {}
            template = copy.deepcopy(spec.get("template") or {})
            replicas = spec.get("replicas", 1)
            h = stable_hash(template)
            owned = self._owned(rs_gk, d)
            revisions = [int(o["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                         for o in owned]
            max_rev = max(revisions, default=0)
            new_rs = next((o for o in owned if o["metadata"].get("labels", {}).get("pod-template-hash") == h), None)
            if new_rs is None:
                labels = dict((template.get("metadata") or {}).get("labels") or {})
                labels["pod-template-hash"] = h
                rs_template = copy.deepcopy(template)
                rs_template.setdefault("metadata", {})["labels"] = dict(labels)
                selector = copy.deepcopy(spec.get("selector") or {})
                selector.setdefault("matchLabels", {})["pod-template-hash"] = h
                rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                      "metadata": {"name": f"{dm['name']}-{h}", "namespace": dm["namespace"], "labels": labels,
                                   "annotations": {"deployment.kubernetes.io/revision": str(max_rev + 1),
                                                   "deployment.kubernetes.io/desired-replicas": str(replicas),
                                                   "deployment.kubernetes.io/max-replicas": str(replicas)},
                                   "ownerReferences": [self._owner_ref(d, "Deployment", "apps/v1")]},
                      "spec": {"replicas": replicas, "selector": selector, "template": rs_template}}
                existing = self._get(rs_gk, dm["namespace"], rs["metadata"]["name"])
                if existing is not None:  # orphaned or foreign RS with the same name
                    self._delete_now(rs_rt, existing, "Background")
                new_rs = self._internal_create(rs_rt, rs)
                owned.append(new_rs)
                changed = True
            else:
                rev = int(new_rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                want_rev = rev if rev == max_rev else max_rev + 1
                if (new_rs.get("spec") or {}).get("replicas") != replicas or rev != want_rev:
                    upd = copy.deepcopy(new_rs)
                    upd["spec"]["replicas"] = replicas
                    ann = upd["metadata"].setdefault("annotations", {})
                    ann["deployment.kubernetes.io/revision"] = str(want_rev)
                    ann["deployment.kubernetes.io/desired-replicas"] = str(replicas)
                    new_rs = self._store(rs_gk, self._bump_generation(new_rs, upd), "MODIFIED")
                    owned = [new_rs if o["metadata"]["uid"] == new_rs["metadata"]["uid"] else o for o in owned]
                    changed = True
            revision = new_rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision")
            if (dm.get("annotations") or {}).get("deployment.kubernetes.io/revision") != revision:
                upd = copy.deepcopy(d)
                upd["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = revision
                d = self._store(("apps", "deployments"), upd, "MODIFIED")
                dm = d["metadata"]
                changed = True
            old_sets = [o for o in owned if o["metadata"]["uid"] != new_rs["metadata"]["uid"]]
            for old in old_sets:
                if (old.get("spec") or {}).get("replicas", 1) != 0:
                    upd = copy.deepcopy(old)
                    upd["spec"]["replicas"] = 0
                    self._store(rs_gk, self._bump_generation(old, upd), "MODIFIED")
                    changed = True
            limit = spec.get("revisionHistoryLimit", 10)
            old_sets = sorted((o for o in self._owned(rs_gk, d) if o["metadata"]["uid"] != new_rs["metadata"]["uid"]),
                              key=lambda o: int(o["metadata"].get("annotations", {}).get(
                                  "deployment.kubernetes.io/revision", "0")))
            while len(old_sets) > limit:
                self._delete_now(rs_rt, old_sets.pop(0), "Background")
                changed = True
            current = [self._get(rs_gk, dm["namespace"], o["metadata"]["name"]) for o in self._owned(rs_gk, d)]
            current = [c for c in current if c]
            new_rs = self._get(rs_gk, dm["namespace"], new_rs["metadata"]["name"]) or new_rs
            total = sum((c.get("status") or {}).get("replicas", 0) for c in current)
            ready = sum((c.get("status") or {}).get("readyReplicas", 0) for c in current)
            available = sum((c.get("status") or {}).get("availableReplicas", 0) for c in current)
            updated = (new_rs.get("status") or {}).get("replicas", 0)
            old_status = d.get("status") or {}
            conds = old_status.get("conditions")
            max_unavailable = self._max_unavailable(spec, replicas)
            avail_ok = available >= replicas - max_unavailable
            progressed = updated == replicas and available >= replicas and total == replicas
            status = {"observedGeneration": dm.get("generation", 1)}
            for key, value in (("replicas", total), ("updatedReplicas", updated), ("readyReplicas", ready),
                               ("availableReplicas", available), ("unavailableReplicas", max(total - available, 0))):
                if value:
                    status[key] = value
            status["conditions"] = [
                self._condition(conds, "Available", "True" if avail_ok else "False",
                                "MinimumReplicasAvailable" if avail_ok else "MinimumReplicasUnavailable",
                                "Deployment has minimum availability." if avail_ok
                                else "Deployment does not have minimum availability."),
                self._condition(conds, "Progressing", "True",
                                "NewReplicaSetAvailable" if progressed else "ReplicaSetUpdated",
                                f'ReplicaSet "{new_rs["metadata"]["name"]}" has successfully progressed.' if progressed
                                else f'ReplicaSet "{new_rs["metadata"]["name"]}" is progressing.'),
            ]
            if self._set_status(("apps", "deployments"), d, status):
                changed = True
            self._remember("deployment", ("apps", "deployments"), d, rs_gk)
        return changed

    def _fingerprint(self, obj, child_gk):
        return (obj["metadata"]["resourceVersion"],
                tuple(sorted(o["metadata"]["resourceVersion"] for o in self._owned(child_gk, obj))))

    def _unchanged(self, kind, obj, child_gk):
        """True when neither obj nor what it controls changed since the controller last synced it."""
        return self._fingerprints.get((kind, obj["metadata"]["uid"])) == self._fingerprint(obj, child_gk)

    def _remember(self, kind, gk, obj, child_gk):
        current = self._get(gk, obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        if current is not None:
            self._fingerprints[(kind, obj["metadata"]["uid"])] = self._fingerprint(current, child_gk)

    @staticmethod
    def _max_unavailable(spec, replicas):
        strategy = spec.get("strategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        value = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        if isinstance(value, str) and value.endswith("%"):
            return int(replicas * int(value[:-1]) / 100)
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    @staticmethod
    def _bump_generation(old, new):
        if KubeAPI._spec_of(old) != KubeAPI._spec_of(new):
            new["metadata"]["generation"] = old["metadata"].get("generation", 1) + 1
        return new

    def _make_pod(self, owner, kind, template, name, extra_labels=None, extra_spec=None):
        labels = dict((template.get("metadata") or {}).get("labels") or {})
        labels.update(extra_labels or {})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": owner["metadata"]["namespace"], "labels": labels,
                            "ownerReferences": [self._owner_ref(owner, kind, owner["apiVersion"])]},
               "spec": copy.deepcopy(template.get("spec") or {})}
        annotations = (template.get("metadata") or {}).get("annotations")
        if annotations:
            pod["metadata"]["annotations"] = dict(annotations)
        pod["spec"].update(extra_spec or {})
        return self._internal_create(self._rt(("", "pods")), pod)

    def _pods_status(self, pods):
        ready = sum(1 for p in pods if self._pod_ready(p))
        return len(pods), ready

    @staticmethod
    def _pod_ready(pod):
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])

    def _ctl_replicasets(self):
        changed = False
        pod_gk = ("", "pods")
        pod_rt = self._rt(pod_gk)
        for rs in self._all(("apps", "replicasets")):
            if rs["metadata"].get("deletionTimestamp") or self._unchanged("replicaset", rs, pod_gk):
                continue
            want = (rs.get("spec") or {}).get("replicas", 1)
            pods = [p for p in self._owned(pod_gk, rs) if not p["metadata"].get("deletionTimestamp")]
            template = (rs.get("spec") or {}).get("template") or {}
            while len(pods) < want:
                pods.append(self._make_pod(rs, "ReplicaSet", template, f"{rs['metadata']['name']}-{rand_suffix()}"))
                changed = True
            if len(pods) > want:
                pods.sort(key=lambda p: p["metadata"]["creationTimestamp"])
                for extra in pods[want:]:
                    self._delete_now(pod_rt, extra, "Background")
                pods = pods[:want]
                changed = True
            pods = [self._get(pod_gk, p["metadata"]["namespace"], p["metadata"]["name"]) or p for p in pods]
            total, ready = self._pods_status(pods)
            status = {"replicas": total, "observedGeneration": rs["metadata"].get("generation", 1)}
            if total:
                status["fullyLabeledReplicas"] = total
            if ready:
                status["readyReplicas"] = ready
                status["availableReplicas"] = ready
            if self._set_status(("apps", "replicasets"), rs, status):
                changed = True
            self._remember("replicaset", ("apps", "replicasets"), rs, pod_gk)
        return changed

    def _ctl_statefulsets(self):
        changed = False
        pod_gk = ("", "pods")
        pod_rt = self._rt(pod_gk)
        for sts in self._all(("apps", "statefulsets")):
            sm = sts["metadata"]
            if sm.get("deletionTimestamp"):
                continue
            spec = sts.get("spec") or {}
            want = spec.get("replicas", 1)
            template = spec.get("template") or {}
            revision = f"{sm['name']}-{stable_hash(template)}"
            pods = {p["metadata"]["name"]: p for p in self._owned(pod_gk, sts)}
            for i in range(want):
                pname = f"{sm['name']}-{i}"
                pod = pods.pop(pname, None)
                if pod is not None and pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
                    self._delete_now(pod_rt, pod, "Background")
                    pod = None
                if pod is None:
                    for claim in spec.get("volumeClaimTemplates") or []:
                        cname = f"{claim['metadata']['name']}-{pname}"
                        if self._get(("", "persistentvolumeclaims"), sm["namespace"], cname) is None:
                            pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                                   "metadata": {"name": cname, "namespace": sm["namespace"],
                                                "labels": dict((template.get("metadata") or {}).get("labels") or {})},
                                   "spec": copy.deepcopy(claim.get("spec") or {})}
                            pvc_rt = self._rt(("", "persistentvolumeclaims"))
                            self._defaults(pvc_rt, pvc)
                            self._internal_create(pvc_rt, pvc)
                    self._make_pod(sts, "StatefulSet", template, pname,
                                   {"controller-revision-hash": revision,
                                    "statefulset.kubernetes.io/pod-name": pname,
                                    "apps.kubernetes.io/pod-index": str(i)},
                                   {"hostname": pname, "subdomain": spec.get("serviceName", "")})
                    changed = True
            for extra in pods.values():
                self._delete_now(pod_rt, extra, "Background")
                changed = True
            current = self._owned(pod_gk, sts)
            total, ready = self._pods_status(current)
            status = {"observedGeneration": sm.get("generation", 1), "replicas": total, "currentReplicas": total,
                      "updatedReplicas": total, "currentRevision": revision, "updateRevision": revision,
                      "collisionCount": 0}
            if ready:
                status["readyReplicas"] = ready
                status["availableReplicas"] = ready
            if self._set_status(("apps", "statefulsets"), sts, status):
                changed = True
        return changed

    def _ctl_daemonsets(self):
        changed = False
        pod_gk = ("", "pods")
        for ds in self._all(("apps", "daemonsets")):
            dm = ds["metadata"]
            if dm.get("deletionTimestamp"):
                continue
            template = (ds.get("spec") or {}).get("template") or {}
            revision = stable_hash(template)
            pods = self._owned(pod_gk, ds)
            for pod in pods:
                if pod["metadata"].get("labels", {}).get("controller-revision-hash") != revision:
                    self._delete_now(self._rt(pod_gk), pod, "Background")
                    changed = True
            pods = [p for p in self._owned(pod_gk, ds)]
            if not pods:
                self._make_pod(ds, "DaemonSet", template, f"{dm['name']}-{rand_suffix()}",
                               {"controller-revision-hash": revision, "pod-template-generation":
                                str(dm.get("generation", 1))})
                changed = True
            total, ready = self._pods_status(self._owned(pod_gk, ds))
            status = {"observedGeneration": dm.get("generation", 1), "desiredNumberScheduled": 1,
                      "currentNumberScheduled": total, "numberMisscheduled": 0, "numberReady": ready,
                      "updatedNumberScheduled": total, "numberAvailable": ready}
            if self._set_status(("apps", "daemonsets"), ds, status):
                changed = True
        return changed

    def _ctl_jobs(self):
        changed = False
        for job in self._all(("batch", "jobs")):
            if job["metadata"].get("deletionTimestamp"):
                continue
            spec = job.get("spec") or {}
            status = job.get("status") or {}
            if spec.get("suspend") or any(c.get("type") in ("Complete", "Failed")
                                          for c in status.get("conditions") or []):
                continue
            ts = now_ts()
            new_status = {
                "startTime": status.get("startTime", ts), "completionTime": ts,
                "succeeded": spec.get("completions") or 1, "ready": 0, "terminating": 0,
                "uncountedTerminatedPods": {},
                "conditions": [
                    {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods", "lastProbeTime": ts,
                     "lastTransitionTime": ts},
                    {"type": "Complete", "status": "True", "reason": "CompletionsReached",
                     "message": "Reached expected number of succeeded pods (no container ran: kubeapi test server)",
                     "lastProbeTime": ts, "lastTransitionTime": ts}],
            }
            self._set_status(("batch", "jobs"), job, new_status)
            changed = True
        return changed

    def _ctl_pods(self):
        changed = False
        for pod in self._all(("", "pods")):
            status = pod.get("status") or {}
            if status.get("phase") != "Pending" or pod["metadata"].get("deletionTimestamp"):
                continue
            self.ip_counter += 1
            n = self.ip_counter
            ip = f"10.244.{(n // 250) % 256}.{n % 250 + 2}"
            ts = now_ts()
            spec = pod.get("spec") or {}
            new_status = {
                "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}], "hostIP": "10.0.0.10",
                "hostIPs": [{"ip": "10.0.0.10"}], "startTime": ts, "qosClass": status.get("qosClass", "BestEffort"),
                "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}
                               for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                         "PodScheduled")],
                "containerStatuses": [
                    {"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": True, "started": True,
                     "restartCount": 0, "containerID": f"fake://{stable_hash([pod['metadata']['uid'], c.get('name')], 20)}",
                     "state": {"running": {"startedAt": ts}}}
                    for c in spec.get("containers") or []],
            }
            self._set_status(("", "pods"), pod, new_status)
            changed = True
        return changed

    def _default_storage_class(self):
        defaults = [sc for sc in self._all(("storage.k8s.io", "storageclasses"))
                    if (sc["metadata"].get("annotations") or {}).get(
                        "storageclass.kubernetes.io/is-default-class") == "true"]
        # As upstream's GetDefaultClass: the newest creationTimestamp, ties broken by the smallest name.
        defaults.sort(key=lambda sc: sc["metadata"]["name"], reverse=True)
        defaults.sort(key=lambda sc: sc["metadata"].get("creationTimestamp", ""))
        return defaults[-1]["metadata"]["name"] if defaults else None

    def ensure_csi_drivers(self, names):
        """Create the CSIDriver objects an installed CSI driver registers (e.g. EKS's aws-ebs-csi-driver
        add-on creates ``ebs.csi.aws.com``); existing ones are left alone."""
        rt = self.storage_type(("storage.k8s.io", "csidrivers"))
        with self.lock:
            for name in names:
                if self._get(rt.gk, "", name) is None:
                    self._internal_create(rt, {
                        "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
                        "metadata": {"name": name},
                        "spec": {"attachRequired": True, "podInfoOnMount": False, "requiresRepublish": False,
                                 "seLinuxMount": False, "storageCapacity": False,
                                 "fsGroupPolicy": "ReadWriteOnceWithFSType",
                                 "volumeLifecycleModes": ["Persistent"]}})
            self.reconcile()

    def _claim_event(self, pvc, etype, reason, message):
        """Record an Event on a claim once per reason and message, as the PV controller's recorder does
        (repeats are aggregated into one object; here the first one is kept)."""
        m = pvc["metadata"]
        name = f"{m['name']}.{stable_hash([m['uid'], reason, message], 16)}"
        gk = ("", "events")
        if self._get(gk, m["namespace"], name) is not None:
            return False
        ts = now_ts()
        self._internal_create(self.storage_type(gk), {
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": m["namespace"]},
            "involvedObject": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": m["namespace"],
                               "name": m["name"], "uid": m["uid"], "resourceVersion": m.get("resourceVersion")},
            "reason": reason, "message": message, "type": etype,
            "source": {"component": "persistentvolume-controller"},
            "reportingComponent": "persistentvolume-controller", "reportingInstance": "",
            "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "eventTime": None})
        return True

    def _claim_unprovisionable(self, pvc):
        """Why a claim cannot be provisioned, as (event type, reason, message), or None when it can.

        Follows pkg/controller/volume/persistentvolume/pv_controller.go: a class that does not exist is
        ``ProvisioningFailed`` 'storageclass.storage.k8s.io "X" not found'; a class whose provisioner is
        external and not running leaves the claim Pending with ``ExternalProvisioning`` "Waiting for a
        volume to be created either by the external provisioner ...". A CSI provisioner counts as
        installed when its CSIDriver object exists (the driver's registration); the server's own
        ``kubeapi-test/fake`` provisioner (class ``standard``) is always installed."""
        cls = (pvc.get("spec") or {}).get("storageClassName")
        if not cls:
            return ("Normal", "FailedBinding",
                    "no persistent volumes available for this claim and no storage class is set")
        sc = self._get(("storage.k8s.io", "storageclasses"), "", cls)
        if sc is None:
            return ("Warning", "ProvisioningFailed", f'storageclass.storage.k8s.io "{cls}" not found')
        provisioner = sc.get("provisioner") or ""
        if provisioner == FAKE_PROVISIONER:
            return None
        if self._get(("storage.k8s.io", "csidrivers"), "", provisioner) is None:
            return ("Normal", "ExternalProvisioning",
                    f"Waiting for a volume to be created either by the external provisioner '{provisioner}' "
                    "or manually by the system administrator. If volume creation is delayed, please verify "
                    "that the provisioner is running and correctly registered.")
        return None

    def _ctl_pvcs(self):
        changed = False
        gk = ("", "persistentvolumeclaims")
        for pvc in self._all(gk):
            if (pvc.get("status") or {}).get("phase") == "Bound" or pvc["metadata"].get("deletionTimestamp"):
                continue
            spec = pvc.get("spec") or {}
            blocked = self._claim_unprovisionable(pvc)
            if blocked:
                changed = self._claim_event(pvc, *blocked) or changed
                continue
            new = copy.deepcopy(pvc)
            new["spec"].setdefault("volumeName", f"pvc-{pvc['metadata']['uid']}")
            new["status"] = {"phase": "Bound", "accessModes": spec.get("accessModes") or ["ReadWriteOnce"],
                             "capacity": {"storage": dig(spec, ["resources", "requests", "storage"], "1Gi")}}
            new.setdefault("metadata", {}).setdefault("annotations", {})["pv.kubernetes.io/bind-completed"] = "yes"
            self._store(gk, new, "MODIFIED")
            changed = True
        return changed

    def _ctl_endpoints(self):
        changed = False
        ep_gk = ("", "endpoints")
        es_gk = ("discovery.k8s.io", "endpointslices")
        services = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in self._all(("", "services"))}
        pods_by_ns = {}
        for pod in self._all(("", "pods")):
            pods_by_ns.setdefault(pod["metadata"]["namespace"], []).append(pod)
        for (ns, name), svc in services.items():
            spec = svc.get("spec") or {}
            selector = spec.get("selector")
            if not selector:
                continue
            pods = sorted((p for p in pods_by_ns.get(ns, [])
                           if labels_match([(k, "=", v) for k, v in selector.items()], p["metadata"].get("labels"))
                           and (p.get("status") or {}).get("podIP")
                           and not p["metadata"].get("deletionTimestamp")),
                          key=lambda p: p["status"]["podIP"])
            ready = [p for p in pods if self._pod_ready(p) or spec.get("publishNotReadyAddresses")]
            not_ready = [p for p in pods if p not in ready]

            def address(p, ns=ns):
                return {"ip": p["status"]["podIP"], "nodeName": p["spec"].get("nodeName", NODE_NAME),
                        "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                      "uid": p["metadata"]["uid"]}}
            ports = []
            for port in spec.get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                if isinstance(target, str) and not target.isdigit():
                    resolved = None
                    for p in pods:
                        for c in p["spec"].get("containers") or []:
                            for cp in c.get("ports") or []:
                                if cp.get("name") == target:
                                    resolved = cp.get("containerPort")
                    target = resolved if resolved is not None else port.get("port")
                entry = {"port": int(target), "protocol": port.get("protocol", "TCP")}
                if port.get("name"):
                    entry["name"] = port["name"]
                ports.append(entry)
            subset = {}
            if ready:
                subset["addresses"] = [address(p) for p in ready]
            if not_ready:
                subset["notReadyAddresses"] = [address(p) for p in not_ready]
            ep = {"apiVersion": "v1", "kind": "Endpoints",
                  "metadata": {"name": name, "namespace": ns,
                               "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "managed"}}}
            if svc["metadata"].get("labels"):
                ep["metadata"]["labels"] = dict(svc["metadata"]["labels"])
            if subset:
                subset["ports"] = ports
                ep["subsets"] = [subset]
            existing = self._get(ep_gk, ns, name)
            if existing is None:
                self._internal_create(self._rt(ep_gk), ep)
                changed = True
            else:
                new = copy.deepcopy(existing)
                new["metadata"].pop("labels", None)
                if "labels" in ep["metadata"]:
                    new["metadata"]["labels"] = ep["metadata"]["labels"]
                new["metadata"]["annotations"] = ep["metadata"]["annotations"]
                new.pop("subsets", None)
                if "subsets" in ep:
                    new["subsets"] = ep["subsets"]
                if not self._same(existing, new):
                    self._store(ep_gk, new, "MODIFIED")
                    changed = True
            slice_name = f"{name}-{stable_hash([ns, name], 5)}"
            es = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": slice_name, "namespace": ns,
                               "labels": {"kubernetes.io/service-name": name,
                                          "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                               "ownerReferences": [self._owner_ref(svc, "Service", "v1")]},
                  "addressType": "IPv4",
                  "endpoints": [{"addresses": [p["status"]["podIP"]],
                                 "conditions": {"ready": p in ready, "serving": p in ready, "terminating": False},
                                 "nodeName": p["spec"].get("nodeName", NODE_NAME),
                                 "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                               "uid": p["metadata"]["uid"]}} for p in pods],
                  "ports": ports}
            existing = self._get(es_gk, ns, slice_name)
            if existing is None:
                self._internal_create(self._rt(es_gk), es)
                changed = True
            else:
                new = copy.deepcopy(existing)
                for key in ("endpoints", "ports"):
                    new[key] = es[key]
                if not self._same(existing, new):
                    self._store(es_gk, new, "MODIFIED")
                    changed = True
        for ep in self._all(ep_gk):
            key = (ep["metadata"]["namespace"], ep["metadata"]["name"])
            managed = (ep["metadata"].get("annotations") or {}).get("endpoints.kubernetes.io/last-change-trigger-time")
            if managed == "managed" and (key not in services or not (services[key].get("spec") or {}).get("selector")):
                self._remove(ep_gk, ep)
                changed = True
        return changed


# --------------------------------------------------------------------------- tables (kubectl get)


def _ready_count(pod):
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    total = len((pod.get("spec") or {}).get("containers") or [])
    return f"{sum(1 for s in statuses if s.get('ready'))}/{total}"


def _ports_text(svc):
    out = []
    for p in (svc.get("spec") or {}).get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def table_columns(rt):
    """[(name, type, priority, function(obj))] for kubectl's server-side printing."""
    def s(path, default=""):
        return lambda o: dig(o, path, default)
    if rt.kind == "Pod":
        return [("Ready", "string", 0, _ready_count),
                ("Status", "string", 0, lambda o: ("Terminating" if o["metadata"].get("deletionTimestamp")
                                                   else dig(o, ["status", "phase"], "Pending"))),
                ("Restarts", "string", 0, lambda o: "0"),
                ("IP", "string", 1, s(["status", "podIP"], "<none>")),
                ("Node", "string", 1, s(["spec", "nodeName"], "<none>"))]
    if rt.kind == "Deployment":
        return [("Ready", "string", 0, lambda o: f"{dig(o, ['status', 'readyReplicas'], 0)}/{dig(o, ['spec', 'replicas'], 1)}"),
                ("Up-to-date", "integer", 0, s(["status", "updatedReplicas"], 0)),
                ("Available", "integer", 0, s(["status", "availableReplicas"], 0))]
    if rt.kind == "ReplicaSet":
        return [("Desired", "integer", 0, s(["spec", "replicas"], 0)),
                ("Current", "integer", 0, s(["status", "replicas"], 0)),
                ("Ready", "integer", 0, s(["status", "readyReplicas"], 0))]
    if rt.kind == "StatefulSet":
        return [("Ready", "string", 0, lambda o: f"{dig(o, ['status', 'readyReplicas'], 0)}/{dig(o, ['spec', 'replicas'], 1)}")]
    if rt.kind == "Service":
        return [("Type", "string", 0, s(["spec", "type"], "ClusterIP")),
                ("Cluster-IP", "string", 0, s(["spec", "clusterIP"], "<none>")),
                ("External-IP", "string", 0, lambda o: ",".join(i.get("ip") or i.get("hostname", "")
                                                                for i in dig(o, ["status", "loadBalancer", "ingress"], [])
                                                                ) or "<none>"),
                ("Port(s)", "string", 0, _ports_text),
                ("Selector", "string", 1, lambda o: ",".join(f"{k}={v}" for k, v in
                                                             (dig(o, ["spec", "selector"]) or {}).items()) or "<none>")]
    if rt.kind == "Node":
        return [("Status", "string", 0, lambda o: "Ready"),
                ("Roles", "string", 0, lambda o: "control-plane"),
                ("Version", "string", 0, s(["status", "nodeInfo", "kubeletVersion"]))]
    if rt.kind == "Namespace":
        return [("Status", "string", 0, s(["status", "phase"], "Active"))]
    if rt.kind == "Job":
        return [("Status", "string", 0, lambda o: "Complete" if any(c.get("type") == "Complete" for c in
                                                                     dig(o, ["status", "conditions"], [])) else "Running"),
                ("Completions", "string", 0, lambda o: f"{dig(o, ['status', 'succeeded'], 0)}/{dig(o, ['spec', 'completions'], 1)}")]
    if rt.kind == "Endpoints":
        return [("Endpoints", "string", 0, lambda o: ",".join(
            f"{a['ip']}:{p['port']}" for sub in o.get("subsets") or [] for a in sub.get("addresses") or []
            for p in sub.get("ports") or []) or "<none>")]
    if rt.kind == "PersistentVolumeClaim":
        return [("Status", "string", 0, s(["status", "phase"], "Pending")),
                ("Volume", "string", 0, s(["spec", "volumeName"])),
                ("Capacity", "string", 0, s(["status", "capacity", "storage"])),
                ("StorageClass", "string", 0, s(["spec", "storageClassName"]))]
    if rt.kind == "ConfigMap":
        return [("Data", "integer", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {}))]
    if rt.kind == "Secret":
        return [("Type", "string", 0, s(["type"], "Opaque")), ("Data", "integer", 0, lambda o: len(o.get("data") or {}))]
    if rt.kind == "CustomResourceDefinition":
        return [("Created At", "date", 0, s(["metadata", "creationTimestamp"]))]
    cols = []
    for col in rt.printer_columns:
        path = [p for p in col.get("jsonPath", "").strip(".").split(".") if p]
        if path == ["metadata", "creationTimestamp"]:
            continue
        cols.append((col.get("name", ""), col.get("type", "string"), col.get("priority", 0),
                     _column_getter(path)))
    return cols


def _column_getter(path):
    return lambda o: dig(o, path, "")


def to_table(rt, items, list_meta, include="Metadata"):
    cols = table_columns(rt)
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [{"name": n, "type": t, "format": "", "description": n, "priority": p} for n, t, p, _ in cols]
    definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for obj in items:
        cells = [obj["metadata"]["name"]] + [f(obj) for _, _, _, f in cols] + [human_age(obj["metadata"].get("creationTimestamp"))]
        if include == "Object":
            ref = obj
        elif include == "None":
            ref = None
        else:
            ref = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        row = {"cells": cells}
        if ref is not None:
            row["object"] = ref
        rows.append(row)
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": list_meta,
            "columnDefinitions": definitions, "rows": rows}


def wants_table(accept):
    return "as=Table" in (accept or "")


# --------------------------------------------------------------------------- HTTP


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kubeapi-test-server"
    sys_version = ""

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("kubeapi: " + (fmt % args) + "\n")

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # ------------------------------------------------------------- plumbing

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, code, body, content_type="application/json", warnings=()):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        for w in warnings:
            self.send_header("Warning", '299 - "' + w.replace('"', '\\"') + '"')
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _decode(self, body):
        if not body:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/vnd.kubernetes.protobuf":
            return decode_protobuf(body)
        yaml = _yaml() if ctype in ("application/yaml", "application/apply-patch+yaml") else None
        if yaml is not None:
            try:
                return yaml.safe_load(body.decode())
            except yaml.YAMLError as exc:
                raise bad_request(f"error decoding YAML: {exc}") from None
        try:
            return json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"error decoding request body as JSON: {exc}") from None

    def _dispatch(self):
        api = self.server.api
        try:
            body = self._read_body()
            if body and self.server.verbose:
                sys.stderr.write(f"kubeapi: {self.command} {self.path} body {self.headers.get('Content-Type')} "
                                 f"({len(body)} bytes)\n")
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            self._route(api, url.path.rstrip("/") or "/", params, body)
        except APIError as err:
            self._send(err.code, err.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # noqa: BLE001 - a server bug must still answer with a Status
            import traceback
            traceback.print_exc()
            self._send(500, APIError(500, "InternalError", f"kubeapi test server error: {exc!r}").status())

    def _route(self, api, path, params, body):
        method = self.command
        if path in ("/readyz", "/livez", "/healthz"):
            return self._send(200, b"ok", "text/plain; charset=utf-8")
        if path == "/version":
            return self._send(200, SERVER_VERSION)
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": api.server_address}]})
        if path == "/apis":
            return self._send(200, api.api_group_list())
        if path == "/openapi/v3":
            return self._send(200, api.openapi_root())
        if path.startswith("/openapi/v3/"):
            rest = path[len("/openapi/v3/"):].split("/")
            if rest[0] == "api" and len(rest) == 2:
                return self._send(200, api.openapi_gv("", rest[1]))
            if rest[0] == "apis" and len(rest) == 3:
                return self._send(200, api.openapi_gv(rest[1], rest[2]))
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        parts = [p for p in path.split("/") if p]
        if not parts or parts[0] not in ("api", "apis"):
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if parts[0] == "api":
            group, rest = "", parts[1:]
        else:
            if len(parts) == 2:
                name = parts[1]
                for g, versions, preferred in api.groups():
                    if g == name:
                        return self._send(200, {"kind": "APIGroup", "apiVersion": "v1", "name": g, "versions": [
                            {"groupVersion": f"{g}/{v}", "version": v} for v in versions],
                            "preferredVersion": {"groupVersion": f"{g}/{preferred}", "version": preferred}})
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            group, rest = parts[1], parts[2:]
        if not rest:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        version, rest = rest[0], rest[1:]
        if not rest:
            with api.lock:
                listing = api.discovery_resources(group, version)
            if listing is None:
                raise APIError(404, "NotFound", "the server could not find the requested resource")
            return self._send(200, listing)
        watch_prefix = False
        if rest[0] == "watch":
            watch_prefix, rest = True, rest[1:]
        ns = ""
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        with api.lock:
            rt = api.type_for(group, version, plural)
        if rt.namespaced is False and ns:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if watch_prefix or (params.get("watch") in ("true", "1") and method == "GET"):
            if name:
                params["fieldSelector"] = ",".join(filter(None, [params.get("fieldSelector"),
                                                                 f"metadata.name={name}"]))
            return self._watch(api, rt, ns, params)
        warnings = []
        dry = params.get("dryRun") == "All"
        params = dict(params)
        if not dry:
            params.pop("dryRun", None)
        accept = self.headers.get("Accept", "")
        if name is None:
            if method in ("GET", "HEAD"):
                return self._list(api, rt, ns, params, accept)
            if method == "POST":
                obj = self._decode(body)
                if rt.namespaced and not ns:
                    raise APIError(404, "NotFound", "the server could not find the requested resource")
                result = api.create(rt, ns, obj or {}, params, warnings)
                return self._send(200 if rt.create_only else 201, result, warnings=warnings)
            if method == "DELETE":
                options = self._delete_options(body, params)
                return self._send(200, api.delete_collection(rt, ns, params, options))
            raise APIError(405, "MethodNotAllowed", f"method {method} not allowed on a collection")
        if rt.namespaced and not ns:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if sub is not None and sub not in rt.subresources:
            raise APIError(404, "NotFound", "the server could not find the requested resource")
        if sub == "log":
            api.get_object(rt, ns, name)
            return self._send(200, b"", "text/plain")
        if sub == "eviction" and method == "POST":
            api.delete(rt, ns, name, {})
            return self._send(201, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                    "code": 201})
        if sub == "token" and method == "POST":
            api.get_object(rt, ns, name)
            req = self._decode(body) or {}
            req["status"] = {"token": "kubeapi-test-token." + base64.urlsafe_b64encode(os.urandom(12)).decode(),
                             "expirationTimestamp": now_ts()}
            return self._send(201, req)
        if sub == "scale":
            if method == "GET":
                obj = api.get_object(rt, ns, name)
                return self._send(200, api.scale_of(rt, obj))
            if method == "PUT":
                return self._send(200, api.update_scale(rt, ns, name, self._decode(body) or {}, params))
            if method == "PATCH":
                return self._send(200, api.patch(rt, ns, name, body, self.headers.get("Content-Type"),
                                                 params, warnings, "scale"), warnings=warnings)
        if method in ("GET", "HEAD"):
            obj = self._versioned(rt, api.get_object(rt, ns, name))
            if wants_table(accept):
                return self._send(200, to_table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                                params.get("includeObject", "Metadata")))
            return self._send(200, obj)
        if method == "PUT":
            if sub == "finalize" and rt.kind == "Namespace":
                sub = None
            result = api.update(rt, ns, name, self._decode(body) or {}, params, warnings, sub)
            return self._send(200, self._versioned(rt, result), warnings=warnings)
        if method == "PATCH":
            existed = api._get(rt.gk, ns if rt.namespaced else "", name) is not None
            result = api.patch(rt, ns, name, body, self.headers.get("Content-Type"), params, warnings, sub)
            return self._send(200 if existed else 201, self._versioned(rt, result), warnings=warnings)
        if method == "DELETE":
            options = self._delete_options(body, params)
            result = api.delete(rt, ns, name, options)
            return self._send(200, self._versioned(rt, result))
        raise APIError(405, "MethodNotAllowed", f"method {method} not allowed")

    @staticmethod
    def _versioned(rt, obj):
        if obj.get("apiVersion") == rt.gv:
            return obj
        obj = dict(obj)
        obj["apiVersion"] = rt.gv
        return obj

    def _delete_options(self, body, params):
        options = {}
        decoded = self._decode(body) if body else None
        if isinstance(decoded, dict):
            options.update(decoded)
        for key in ("propagationPolicy", "gracePeriodSeconds"):
            if params.get(key):
                options[key] = params[key]
        if params.get("orphanDependents") in ("true", "1"):
            options["orphanDependents"] = True
        if params.get("dryRun") == "All" or options.get("dryRun"):
            options["dryRun"] = True
        return options

    def _list(self, api, rt, ns, params, accept):
        items, rv = api.list_objects(rt, ns, params.get("labelSelector"), params.get("fieldSelector"))
        items = [self._versioned(rt, o) for o in items]
        list_meta = {"resourceVersion": str(rv)}
        limit = int(params.get("limit") or 0)
        start = 0
        if params.get("continue"):
            try:
                token = json.loads(base64.urlsafe_b64decode(params["continue"].encode()).decode())
                start, list_meta["resourceVersion"] = int(token["start"]), token["rv"]
            except (ValueError, KeyError, TypeError):
                raise bad_request("invalid continue token") from None
        if start or limit:
            page = items[start:start + limit] if limit else items[start:]
            if limit and start + limit < len(items):
                token = {"start": start + limit, "rv": list_meta["resourceVersion"]}
                list_meta["continue"] = base64.urlsafe_b64encode(json.dumps(token).encode()).decode()
                list_meta["remainingItemCount"] = len(items) - start - limit
            items = page
        if wants_table(accept):
            return self._send(200, to_table(rt, items, list_meta, params.get("includeObject", "Metadata")))
        return self._send(200, {"kind": rt.list_kind, "apiVersion": rt.gv, "metadata": list_meta, "items": items})

    # ------------------------------------------------------------- watch

    def _watch(self, api, rt, ns, params):
        lreqs = parse_label_selector(params.get("labelSelector")) if params.get("labelSelector") else []
        freqs = parse_field_selector(params.get("fieldSelector")) if params.get("fieldSelector") else []
        table = wants_table(self.headers.get("Accept", ""))
        include = params.get("includeObject", "Metadata")
        send_initial = params.get("sendInitialEvents") == "true"
        bookmarks = params.get("allowWatchBookmarks") == "true"
        rv_param = params.get("resourceVersion", "")
        try:
            timeout = float(params.get("timeoutSeconds") or 1800)
        except ValueError:
            raise bad_request("invalid timeoutSeconds") from None
        deadline = time.monotonic() + timeout

        def matches(obj):
            if obj is None:
                return False
            if ns and obj["metadata"].get("namespace", "") != ns:
                return False
            return labels_match(lreqs, obj["metadata"].get("labels")) and fields_match(freqs, obj)

        with api.lock:
            current_rv = api.rv
            initial = []
            if send_initial or rv_param in ("", "0"):
                initial = [o for o in api.objects.get(rt.gk, {}).values() if matches(o)]
                start = current_rv
            else:
                try:
                    start = int(rv_param)
                except ValueError:
                    raise bad_request(f"invalid resourceVersion {rv_param!r}") from None
                if start < api.history_floor:
                    start = None
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def write(event):
            data = json.dumps(event, separators=(",", ":")).encode() + b"\n"
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def wrap(obj):
            obj = self._versioned(rt, obj)
            if table:
                return to_table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]}, include)
            return obj

        try:
            if start is None:
                write({"type": "ERROR", "object": APIError(410, "Expired",
                                                           f"too old resource version: {rv_param} "
                                                           f"({api.history_floor})").status()})
                return self._end_chunks()
            for obj in sorted(initial, key=lambda o: int(o["metadata"]["resourceVersion"])):
                write({"type": "ADDED", "object": wrap(obj)})
            if send_initial and bookmarks:
                write({"type": "BOOKMARK", "object": {
                    "kind": rt.kind, "apiVersion": rt.gv,
                    "metadata": {"resourceVersion": str(start), "annotations": {INITIAL_EVENTS_END: "true"}}}})
            last = start
            last_bookmark = time.monotonic()
            while not api.stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with api.cond:
                    idx = bisect.bisect_right(api.history_rvs, last)
                    events = api.history[idx:]
                    if not events:
                        api.cond.wait(min(remaining, 1.0))
                        idx = bisect.bisect_right(api.history_rvs, last)
                        events = api.history[idx:]
                    top = api.rv
                for rv, gk, etype, obj, prev in events:
                    last = rv
                    if gk != rt.gk:
                        continue
                    now_match = matches(obj)
                    if etype == "MODIFIED":
                        was = matches(prev)
                        if now_match and not was:
                            etype = "ADDED"
                        elif was and not now_match:
                            etype = "DELETED"
                        elif not now_match:
                            continue
                    elif not now_match:
                        continue
                    write({"type": etype, "object": wrap(obj)})
                if not events:
                    last = max(last, top) if top >= last else last
                if bookmarks and time.monotonic() - last_bookmark > 30:
                    write({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.gv,
                                                          "metadata": {"resourceVersion": str(last)}}})
                    last_bookmark = time.monotonic()
            self._end_chunks()
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def _end_chunks(self):
        try:
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class KubeAPIHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address, api, verbose=False):
        self.api = api
        self.verbose = verbose
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        api.server_address = f"{host}:{port}"


class RunningServer:
    """A server started by serve(): url, kubeconfig writer, stop()."""

    def __init__(self, httpd, thread, saver):
        self.httpd = httpd
        self.thread = thread
        self._saver = saver
        self.api = httpd.api
        host, port = httpd.server_address[:2]
        self.host, self.port = host, port
        self.url = f"http://{host}:{port}"

    def kubeconfig(self, namespace="default"):
        return {
            "apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [{"name": "kubeapi-test", "cluster": {"server": self.url}}],
            "users": [{"name": "kubeapi-test", "user": {"token": "kubeapi-test-token"}}],
            "contexts": [{"name": "kubeapi-test", "context": {"cluster": "kubeapi-test", "user": "kubeapi-test",
                                                              "namespace": namespace}}],
            "current-context": "kubeapi-test",
        }

    def write_kubeconfig(self, path, namespace="default"):
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.kubeconfig(namespace), fh, indent=2)
        return path

    def stop(self):
        self.api.stopping.set()
        with self.api.cond:
            self.api.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        if self.api.state_file:
            self.api.save()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def serve(host="127.0.0.1", port=0, state_file=None, verbose=False, csi_drivers=()):
    """Start the server in background threads and return a RunningServer.

    csi_drivers: names of CSIDriver objects to create (the CSI drivers installed in the cluster)."""
    api = KubeAPI(state_file)
    if csi_drivers:
        api.ensure_csi_drivers(csi_drivers)
    httpd = KubeAPIHTTPServer((host, port), api, verbose)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                              name="kubeapi-http")
    thread.start()
    saver = None
    if state_file:
        def save_loop():
            while not api.stopping.wait(1.0):
                if api.dirty:
                    try:
                        api.save()
                    except OSError as exc:  # pragma: no cover
                        sys.stderr.write(f"kubeapi: cannot save state: {exc}\n")
        saver = threading.Thread(target=save_loop, daemon=True, name="kubeapi-saver")
        saver.start()
    return RunningServer(httpd, thread, saver)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Kubernetes API test server (a test double, not Kubernetes)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-file", help="load state from and persist state to this JSON file")
    parser.add_argument("--kubeconfig", help="also write a kubeconfig for this server to this path")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    parser.add_argument("--csi-driver", action="append", default=[], metavar="NAME",
                        help="create this CSIDriver object (an installed CSI driver, e.g. ebs.csi.aws.com); "
                             "repeatable")
    args = parser.parse_args(argv)
    server = serve(args.host, args.port, args.state_file, args.verbose, args.csi_driver)
    if args.kubeconfig:
        server.write_kubeconfig(args.kubeconfig)
    done = threading.Event()

    def on_signal(signum, _frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sys.stderr.write(f"kubeapi test server listening on {server.url}\n")
    sys.stderr.flush()
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
