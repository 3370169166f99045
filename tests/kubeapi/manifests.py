"""Manifests shared by the Kubernetes API test server suite (images that also run on a real cluster)."""
from __future__ import annotations

import yaml

PAUSE = "registry.k8s.io/pause:3.10"
PAUSE_NEXT = "registry.k8s.io/pause:3.9"
BUSYBOX = "busybox:1.36"


def deployment(name: str, namespace: str, replicas: int = 2, color: str = "blue", image: str = PAUSE,
               extra_labels: dict | None = None) -> dict:
    labels = {"app": name, "color": color, **(extra_labels or {})}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": f"{name}-{color}", "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name, "color": color}},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "main", "image": image,
                                                  "ports": [{"name": "http", "containerPort": 8080}]}]}},
        },
    }


def service(name: str, namespace: str, color: str = "blue") -> dict:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"selector": {"app": name, "color": color},
                 "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }


def crd(plural: str = "gates", group: str = "kubeapi.cxr.io", kind: str = "Gate", scope: str = "Namespaced") -> dict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group, "scope": scope,
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind, "listKind": f"{kind}List"},
            "versions": [{
                "name": "v1", "served": True, "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Threshold", "type": "number", "jsonPath": ".spec.threshold"}],
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {
                        "spec": {"type": "object", "properties": {
                            "threshold": {"type": "number"},
                            "metric": {"type": "string"},
                            "checks": {"type": "array", "items": {"type": "object", "properties": {
                                "name": {"type": "string"}, "query": {"type": "string"}}}},
                        }},
                        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                    },
                }},
            }],
        },
    }


def to_yaml_stream(*docs: dict) -> str:
    """A multi-document YAML stream (what kubectl reads from stdin)."""
    return yaml.safe_dump_all(docs, sort_keys=False)
