"""The official Kubernetes Python client against the test server (or a real cluster via KUBECONFIG)."""
from __future__ import annotations

import base64
import threading
import time
import uuid

import pytest
from kubernetes import client, config, dynamic, watch
from kubernetes.client.rest import ApiException
from manifests import BUSYBOX, PAUSE, PAUSE_NEXT, crd, deployment

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def api_client(cluster):
    return config.new_client_from_config(config_file=cluster.kubeconfig)


def until(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.2)


def test_core_crud_and_errors(api_client, namespace):
    core = client.CoreV1Api(api_client)
    cm = core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings", "labels": {"tier": "a"}},
                                                       "data": {"threshold": "0.9"}})
    assert cm.metadata.uid and cm.metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}})
    assert exc.value.status == 409 and '"reason":"AlreadyExists"' in exc.value.body.replace(" ", "")

    secret = core.create_namespaced_secret(namespace, {"metadata": {"name": "creds"},
                                                       "stringData": {"password": "s3cret"}})
    assert secret.type == "Opaque"
    assert base64.b64decode(core.read_namespaced_secret("creds", namespace).data["password"]) == b"s3cret"

    cm.data["threshold"] = "0.95"
    updated = core.replace_namespaced_config_map("settings", namespace, cm)
    assert int(updated.metadata.resource_version) > int(cm.metadata.resource_version)
    cm.data["threshold"] = "0.99"  # stale resourceVersion
    with pytest.raises(ApiException) as exc:
        core.replace_namespaced_config_map("settings", namespace, cm)
    assert exc.value.status == 409

    listed = core.list_namespaced_config_map(namespace, label_selector="tier=a")
    assert [i.metadata.name for i in listed.items] == ["settings"]
    assert core.list_namespaced_config_map(namespace, label_selector="tier=b").items == []
    by_name = core.list_namespaced_config_map(namespace, field_selector="metadata.name=settings")
    assert len(by_name.items) == 1

    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(ApiException) as exc:
        core.read_namespaced_config_map("settings", namespace)
    assert exc.value.status == 404 and '"reason":"NotFound"' in exc.value.body.replace(" ", "")

    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(namespace, {"metadata": {"name": "Not_A_Name"}})
    assert exc.value.status == 422 and "Invalid" in exc.value.body


def test_patches(api_client, namespace):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("patchy", namespace, replicas=1))
    name = "patchy-blue"
    # strategic merge: the container list is merged by name, the image changes, the port stays
    apps.patch_namespaced_deployment(name, namespace, {"spec": {"template": {"spec": {"containers": [
        {"name": "main", "image": PAUSE_NEXT, "env": [{"name": "MODE", "value": "a"}]}]}}}})
    dep = apps.read_namespaced_deployment(name, namespace)
    container = dep.spec.template.spec.containers[0]
    assert container.image == PAUSE_NEXT and container.ports[0].container_port == 8080
    assert [(e.name, e.value) for e in container.env] == [("MODE", "a")]
    # JSON patch
    apps.patch_namespaced_deployment(name, namespace, [{"op": "replace", "path": "/spec/replicas", "value": 3}])
    assert apps.read_namespaced_deployment(name, namespace).spec.replicas == 3
    # merge patch through the generic API: a null removes a label
    deployments = dynamic.DynamicClient(api_client).resources.get(api_version="apps/v1", kind="Deployment")
    deployments.patch(name=name, namespace=namespace, content_type="application/merge-patch+json",
                      body={"metadata": {"labels": {"color": None, "patched": "yes"}}})
    labels = apps.read_namespaced_deployment(name, namespace).metadata.labels
    assert labels.get("patched") == "yes" and "color" not in labels
    # the scale subresource
    scale = apps.read_namespaced_deployment_scale(name, namespace)
    assert scale.spec.replicas == 3 and "app=patchy" in scale.status.selector
    apps.patch_namespaced_deployment_scale(name, namespace, {"spec": {"replicas": 1}})
    until(lambda: (apps.read_namespaced_deployment(name, namespace).status.ready_replicas or 0) == 1)
    # dryRun changes nothing
    apps.patch_namespaced_deployment(name, namespace, {"spec": {"replicas": 5}}, dry_run="All")
    assert apps.read_namespaced_deployment(name, namespace).spec.replicas == 1


def test_apps_and_batch(api_client, namespace):
    apps = client.AppsV1Api(api_client)
    batch = client.BatchV1Api(api_client)
    apps.create_namespaced_deployment(namespace, deployment("work", namespace, replicas=2, image=PAUSE))
    until(lambda: (apps.read_namespaced_deployment("work-blue", namespace).status.available_replicas or 0) == 2)
    dep = apps.read_namespaced_deployment("work-blue", namespace)
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "True"
    sets = apps.list_namespaced_replica_set(namespace, label_selector="app=work").items
    assert len(sets) == 1 and sets[0].metadata.owner_references[0].uid == dep.metadata.uid

    job = batch.create_namespaced_job(namespace, {
        "metadata": {"name": "once"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": BUSYBOX, "command": ["true"]}]}}}})
    assert job.metadata.name == "once"
    until(lambda: any(c.type == "Complete" and c.status == "True"
                      for c in (batch.read_namespaced_job_status("once", namespace).status.conditions or [])), 120)
    assert batch.read_namespaced_job("once", namespace).status.succeeded == 1

    apps.delete_namespaced_deployment("work-blue", namespace, propagation_policy="Foreground")
    until(lambda: not client.CoreV1Api(api_client).list_namespaced_pod(namespace, label_selector="app=work").items)


def test_custom_resources(api_client, namespace):
    ext = client.ApiextensionsV1Api(api_client)
    custom = client.CustomObjectsApi(api_client)
    plural = f"gates{uuid.uuid4().hex[:6]}"
    definition = crd(plural=plural)
    ext.create_custom_resource_definition(definition)
    try:
        until(lambda: any(c.type == "Established" and c.status == "True"
                          for c in ext.read_custom_resource_definition(definition["metadata"]["name"]).status.conditions
                          or []))
        body = {"apiVersion": "kubeapi.cxr.io/v1", "kind": "Gate", "metadata": {"name": "latency"},
                "spec": {"threshold": 0.5, "metric": "p95"}}
        created = None
        deadline = time.monotonic() + 30
        while created is None:
            try:
                created = custom.create_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural, body)
            except ApiException as exc:  # a real cluster needs a moment before serving a new CRD
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        assert created["metadata"]["generation"] == 1
        custom.patch_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural, "latency",
                                              {"spec": {"threshold": 0.4}})
        got = custom.get_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural, "latency")
        assert got["spec"]["threshold"] == 0.4 and got["metadata"]["generation"] == 2
        # status subresource: status writes do not bump the generation; spec writes ignore status
        got["status"] = {"phase": "Passing"}
        custom.replace_namespaced_custom_object_status("kubeapi.cxr.io", "v1", namespace, plural, "latency", got)
        got = custom.get_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural, "latency")
        assert got["status"] == {"phase": "Passing"} and got["metadata"]["generation"] == 2
        listed = custom.list_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural)
        assert listed["kind"] == "GateList" and [i["metadata"]["name"] for i in listed["items"]] == ["latency"]
        custom.delete_namespaced_custom_object("kubeapi.cxr.io", "v1", namespace, plural, "latency")
    finally:
        ext.delete_custom_resource_definition(definition["metadata"]["name"])


def test_watch_streams_events(api_client, namespace):
    core = client.CoreV1Api(api_client)
    seen = []
    ready = threading.Event()

    def run():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, namespace, timeout_seconds=20):
            seen.append((event["type"], event["object"].metadata.name,
                         (event["object"].data or {}).get("v")))
            ready.set()
            if event["type"] == "DELETED":
                w.stop()

    core.create_namespaced_config_map(namespace, {"metadata": {"name": "first"}, "data": {"v": "0"}})
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(15), "the watch lists existing objects first"
    core.patch_namespaced_config_map("first", namespace, {"data": {"v": "1"}})
    core.delete_namespaced_config_map("first", namespace)
    thread.join(20)
    assert [s for s in seen if s[1] == "first"] == [("ADDED", "first", "0"), ("MODIFIED", "first", "1"),
                                                    ("DELETED", "first", "1")]
