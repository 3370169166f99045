"""The real kubectl against the Kubernetes API test server (or a real cluster via KUBECONFIG)."""
from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid

import pytest
from manifests import PAUSE, PAUSE_NEXT, crd, deployment, service, to_yaml_stream

pytestmark = pytest.mark.cluster


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def ready_pods(cluster, namespace, selector):
    pods = cluster.get_json("pods", "-l", selector, namespace=namespace)["items"]
    return [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True"
                                   for c in p.get("status", {}).get("conditions", []))
            and not p["metadata"].get("deletionTimestamp")]


def test_apply_get_and_selectors(cluster, namespace):
    docs = to_yaml_stream(deployment("web", namespace, replicas=3), deployment("web", namespace, 1, "green"),
                          service("web", namespace))
    out = cluster.kubectl("apply", "-f", "-", input=docs).stdout
    assert "deployment.apps/web-blue created" in out and "service/web created" in out
    cluster.kubectl("rollout", "status", "deployment/web-blue", "--timeout=60s", namespace=namespace)
    cluster.kubectl("rollout", "status", "deployment/web-green", "--timeout=60s", namespace=namespace)

    blue = cluster.get_json("pods", "-l", "app=web,color=blue", namespace=namespace)["items"]
    assert len(blue) == 3
    both = cluster.get_json("pods", "-l", "color in (blue,green)", namespace=namespace)["items"]
    assert len(both) == 4
    not_blue = cluster.get_json("pods", "-l", "app=web,color!=blue", namespace=namespace)["items"]
    assert [p["metadata"]["labels"]["color"] for p in not_blue] == ["green"]
    running = cluster.get_json("pods", "--field-selector", "status.phase=Running", namespace=namespace)
    assert running["kind"] == "List" and len(running["items"]) == 4
    assert cluster.get_json("pods", "--field-selector", "status.phase=Failed", namespace=namespace)["items"] == []
    ips = {p["status"]["podIP"] for p in both}
    assert len(ips) == 4, "every pod gets its own IP"

    # the typed object carries the bookkeeping fields clients rely on
    dep = cluster.get_json("deployment", "web-blue", namespace=namespace)
    m = dep["metadata"]
    assert m["uid"] and m["resourceVersion"] and m["creationTimestamp"] and m["generation"] == 1
    assert dep["status"]["observedGeneration"] == 1 and dep["status"]["readyReplicas"] == 3

    # Endpoints list the Service's ready pods only (the selector says blue)
    ep = cluster.get_json("endpoints", "web", namespace=namespace)
    addresses = {a["ip"] for s in ep.get("subsets", []) for a in s.get("addresses", [])}
    assert addresses == {p["status"]["podIP"] for p in blue}
    assert {p["port"] for s in ep["subsets"] for p in s["ports"]} == {8080}, "named targetPort resolved"

    table = cluster.kubectl("get", "deployments", namespace=namespace).stdout
    assert "web-blue" in table and "3/3" in table


def test_strict_validation_rejects_unknown_field(cluster, namespace):
    bad = deployment("bad", namespace)
    bad["spec"]["replicaz"] = 2
    proc = cluster.kubectl("apply", "--validate=strict", "-f", "-", input=to_yaml_stream(bad), check=False)
    assert proc.returncode != 0
    assert 'unknown field "spec.replicaz"' in proc.stderr
    assert cluster.kubectl("get", "deployment", "bad-blue", namespace=namespace, check=False).returncode != 0
    # the same manifest without the bad field goes in
    del bad["spec"]["replicaz"]
    cluster.kubectl("apply", "--validate=strict", "-f", "-", input=to_yaml_stream(bad))


def test_apply_is_idempotent_and_diff_shows_changes(cluster, namespace):
    docs = to_yaml_stream(deployment("api", namespace), service("api", namespace))
    cluster.kubectl("apply", "-f", "-", input=docs)
    rv = cluster.get_json("deployment", "api-blue", namespace=namespace)["metadata"]["resourceVersion"]
    out = cluster.kubectl("apply", "-f", "-", input=docs).stdout
    assert "deployment.apps/api-blue unchanged" in out and "service/api unchanged" in out
    assert cluster.kubectl("diff", "-f", "-", input=docs, check=False).returncode == 0
    assert cluster.get_json("deployment", "api-blue", namespace=namespace)["metadata"]["resourceVersion"] == rv

    changed = deployment("api", namespace, image=PAUSE_NEXT)
    proc = cluster.kubectl("diff", "-f", "-", input=to_yaml_stream(changed), check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"-      - image: {PAUSE}" in proc.stdout and f"+      - image: {PAUSE_NEXT}" in proc.stdout
    # diff is a server-side dry run: nothing changed
    live = cluster.get_json("deployment", "api-blue", namespace=namespace)
    assert live["spec"]["template"]["spec"]["containers"][0]["image"] == PAUSE


def test_rollout_wait_scale_set_image_replace(cluster, namespace):
    cluster.kubectl("apply", "-f", "-", input=to_yaml_stream(deployment("svc", namespace, replicas=2)))
    cluster.kubectl("wait", "--for=condition=Available", "deployment/svc-blue", "--timeout=60s", namespace=namespace)

    cluster.kubectl("scale", "deployment/svc-blue", "--replicas=4", namespace=namespace)
    cluster.kubectl("rollout", "status", "deployment/svc-blue", "--timeout=60s", namespace=namespace)
    wait_for(lambda: len(ready_pods(cluster, namespace, "app=svc")) == 4)

    first_rs = {r["metadata"]["name"] for r in cluster.get_json("rs", namespace=namespace)["items"]}
    cluster.kubectl("set", "image", "deployment/svc-blue", f"main={PAUSE_NEXT}", namespace=namespace)
    cluster.kubectl("rollout", "status", "deployment/svc-blue", "--timeout=120s", namespace=namespace)
    sets = cluster.get_json("rs", namespace=namespace)["items"]
    new = [r for r in sets if r["metadata"]["name"] not in first_rs]
    assert len(new) == 1, "a template change rolls a new ReplicaSet"
    assert new[0]["spec"]["template"]["spec"]["containers"][0]["image"] == PAUSE_NEXT
    assert new[0]["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert "pod-template-hash" in new[0]["metadata"]["labels"]
    old = [r for r in sets if r["metadata"]["name"] in first_rs]
    assert all(r["spec"]["replicas"] == 0 for r in old)
    wait_for(lambda: all(p["spec"]["containers"][0]["image"] == PAUSE_NEXT
                         for p in cluster.get_json("pods", "-l", "app=svc", namespace=namespace)["items"]))
    dep = cluster.get_json("deployment", "svc-blue", namespace=namespace)
    assert dep["metadata"]["generation"] == 3  # scale + set image

    dep = {k: v for k, v in dep.items() if k != "status"}
    dep["spec"]["replicas"] = 1
    assert "replaced" in cluster.kubectl("replace", "-f", "-", input=json.dumps(dep)).stdout
    wait_for(lambda: len(ready_pods(cluster, namespace, "app=svc")) == 1)

    stale = dict(dep)  # resourceVersion of before the replace: a conflict, not a silent overwrite
    proc = cluster.kubectl("replace", "-f", "-", input=json.dumps(stale), check=False)
    assert proc.returncode != 0 and "the object has been modified" in proc.stderr


def test_server_side_apply(cluster, namespace):
    dep = deployment("ssa", namespace, extra_labels={"tier": "web"})
    dep["metadata"]["labels"]["owner"] = "team-a"
    out = cluster.kubectl("apply", "--server-side", "-f", "-", input=to_yaml_stream(dep)).stdout
    assert "serverside-applied" in out
    live = cluster.get_json("deployment", "ssa-blue", "--show-managed-fields", namespace=namespace)
    assert any(e["manager"] == "kubectl" and e["operation"] == "Apply" for e in live["metadata"]["managedFields"])
    rv = live["metadata"]["resourceVersion"]
    cluster.kubectl("apply", "--server-side", "-f", "-", input=to_yaml_stream(dep))
    assert cluster.get_json("deployment", "ssa-blue", namespace=namespace)["metadata"]["resourceVersion"] == rv

    # a field the manager stops applying is removed; fields set by others stay
    cluster.kubectl("label", "deployment/ssa-blue", "extra=kept", namespace=namespace)
    del dep["metadata"]["labels"]["owner"]
    dep["spec"]["replicas"] = 3
    cluster.kubectl("apply", "--server-side", "-f", "-", input=to_yaml_stream(dep))
    live = cluster.get_json("deployment", "ssa-blue", namespace=namespace)
    assert "owner" not in live["metadata"]["labels"]
    assert live["metadata"]["labels"]["extra"] == "kept"
    assert live["spec"]["replicas"] == 3


def test_watch_sees_changes(cluster, namespace):
    cluster.kubectl("create", "configmap", "watched", "--from-literal=v=1", namespace=namespace)
    proc = subprocess.Popen(["kubectl", "get", "configmap", "watched", "-w", "-o",
                             "jsonpath={.data.v}{\"\\n\"}", "-n", namespace, "--request-timeout=20s"],
                            env=cluster.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for(lambda: "1\n" in lines, timeout=15)
        cluster.kubectl("patch", "configmap", "watched", "-p", '{"data":{"v":"2"}}', namespace=namespace)
        wait_for(lambda: "2\n" in lines, timeout=15)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert lines[:2] == ["1\n", "2\n"]


def test_crd_and_custom_resources(cluster, namespace):
    plural = f"gates{uuid.uuid4().hex[:6]}"
    definition = crd(plural=plural)
    name = definition["metadata"]["name"]
    try:
        cluster.kubectl("apply", "-f", "-", input=to_yaml_stream(definition))
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
        gate = {"apiVersion": "kubeapi.cxr.io/v1", "kind": "Gate",
                "metadata": {"name": "accuracy", "namespace": namespace},
                "spec": {"threshold": 0.9, "metric": "model_accuracy", "checks": [{"name": "a", "query": "up"}]}}
        wait_for(lambda: cluster.kubectl("apply", "-f", "-", input=to_yaml_stream(gate), check=False).returncode == 0,
                 timeout=30)
        table = cluster.kubectl("get", plural, namespace=namespace).stdout
        assert "accuracy" in table and "0.9" in table, table
        bad = json.loads(json.dumps(gate))
        bad["spec"]["thresold"] = 1
        proc = cluster.kubectl("apply", "--validate=strict", "-f", "-", input=to_yaml_stream(bad), check=False)
        assert proc.returncode != 0 and 'unknown field "spec.thresold"' in proc.stderr
        cluster.kubectl("patch", f"{plural}.kubeapi.cxr.io", "accuracy", "--type=merge",
                        "-p", '{"spec":{"threshold":0.95}}', namespace=namespace)
        assert cluster.get_json(f"{plural}.kubeapi.cxr.io", "accuracy", namespace=namespace)["spec"]["threshold"] == 0.95
        cluster.kubectl("delete", f"{plural}.kubeapi.cxr.io", "accuracy", namespace=namespace)
    finally:
        cluster.kubectl("delete", "crd", name, "--ignore-not-found")
    gone = wait_for(lambda: plural not in cluster.kubectl("api-resources", "--api-group=kubeapi.cxr.io").stdout, 60)
    assert gone


def test_delete_cascades_and_orphans(cluster, namespace):
    cluster.kubectl("apply", "-f", "-", input=to_yaml_stream(deployment("gc", namespace, 2),
                                                             deployment("keep", namespace, 1)))
    cluster.kubectl("rollout", "status", "deployment/gc-blue", "--timeout=60s", namespace=namespace)
    cluster.kubectl("rollout", "status", "deployment/keep-blue", "--timeout=60s", namespace=namespace)
    cluster.kubectl("delete", "deployment", "gc-blue", "--wait=true", "--timeout=60s", namespace=namespace)
    wait_for(lambda: cluster.get_json("pods", "-l", "app=gc", namespace=namespace)["items"] == [])
    assert cluster.get_json("rs", "-l", "app=gc", namespace=namespace)["items"] == []

    cluster.kubectl("delete", "deployment", "keep-blue", "--cascade=orphan", namespace=namespace)
    sets = cluster.get_json("rs", "-l", "app=keep", namespace=namespace)["items"]
    assert len(sets) == 1 and not sets[0]["metadata"].get("ownerReferences")
    assert len(cluster.get_json("pods", "-l", "app=keep", namespace=namespace)["items"]) == 1


def test_errors_are_status_objects(cluster, namespace):
    proc = cluster.kubectl("get", "configmap", "missing", namespace=namespace, check=False)
    assert proc.returncode == 1 and 'configmaps "missing" not found' in proc.stderr
    cluster.kubectl("create", "configmap", "once", namespace=namespace)
    proc = cluster.kubectl("create", "configmap", "once", namespace=namespace, check=False)
    assert proc.returncode == 1 and 'configmaps "once" already exists' in proc.stderr
    bad = deployment("mismatch", namespace)
    bad["spec"]["selector"]["matchLabels"]["color"] = "green"
    proc = cluster.kubectl("create", "-f", "-", input=to_yaml_stream(bad), check=False)
    assert proc.returncode != 0 and "is invalid" in proc.stderr and "spec.template.metadata.labels" in proc.stderr
    proc = cluster.kubectl("create", "configmap", "x", namespace="no-such-namespace-kubeapi", check=False)
    assert 'namespaces "no-such-namespace-kubeapi" not found' in proc.stderr


def test_finalizers_and_namespace_cascade(cluster, namespace):
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "held", "namespace": namespace, "finalizers": ["kubeapi.cxr.io/hold"]},
          "data": {"a": "b"}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(cm))
    cluster.kubectl("delete", "configmap", "held", "--wait=false", namespace=namespace)
    held = cluster.get_json("configmap", "held", namespace=namespace)
    assert held["metadata"]["deletionTimestamp"], "a finalizer keeps the object, marked for deletion"
    cluster.kubectl("patch", "configmap", "held", "--type=json", "-p",
                    '[{"op":"remove","path":"/metadata/finalizers"}]', namespace=namespace)
    wait_for(lambda: cluster.kubectl("get", "configmap", "held", namespace=namespace, check=False).returncode != 0)

    doomed = f"kt-doomed-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", doomed)
    cluster.kubectl("apply", "-f", "-", input=to_yaml_stream(deployment("d", doomed, 1), service("d", doomed)))
    cluster.kubectl("delete", "namespace", doomed, "--timeout=120s")
    assert cluster.kubectl("get", "namespace", doomed, check=False).returncode != 0
    assert cluster.get_json("deployments", namespace=doomed)["items"] == []


def test_nodes_show_ready(cluster):
    nodes = cluster.get_json("nodes")["items"]
    assert nodes
    assert all(any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"]["conditions"]) for n in nodes)
    assert " Ready " in cluster.kubectl("get", "nodes").stdout
    assert cluster.kubectl("auth", "can-i", "create", "deployments").stdout.strip() == "yes"
