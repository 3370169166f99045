"""The Kubernetes API test server itself: start-up, persistence, watch bookmarks, protobuf, patch logic.

These tests always use a server of their own (in process or through the launcher): they check the
test double, not a cluster.
"""
from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request

import kubeapi_server as ks
import pytest
from kubeapi_local import LocalServer


class Client:
    def __init__(self, url):
        self.url = url

    def call(self, method, path, body=None, content_type="application/json", raw=None):
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())


@pytest.fixture(scope="module")
def server():
    srv = ks.serve("127.0.0.1", 0)
    yield srv
    srv.stop()


@pytest.fixture
def api(server):
    return Client(server.url)


def deployment(name, color, replicas=2):
    labels = {"app": name, "color": color}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": f"{name}-{color}", "labels": labels},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "main", "image": "img:1"}]}}}}


def test_in_process_start_is_fast():
    start = time.monotonic()
    srv = ks.serve("127.0.0.1", 0)
    try:
        with urllib.request.urlopen(srv.url + "/readyz", timeout=5) as resp:
            assert resp.read() == b"ok"
        assert time.monotonic() - start < 2.0
    finally:
        srv.stop()


def test_launcher_persists_state_across_sigterm(tmp_path):
    state = tmp_path / "state.json"
    first = LocalServer(tmp_path, state_file=state).start()
    client = Client(first.url)
    status, cm = client.call("POST", "/api/v1/namespaces/default/configmaps",
                             {"metadata": {"name": "kept"}, "data": {"a": "1"}})
    assert status == 201
    assert first.stop() == 0, "SIGTERM is a clean shutdown"
    assert json.loads(state.read_text())["rv"] >= int(cm["metadata"]["resourceVersion"])

    second = LocalServer(tmp_path, state_file=state).start()
    try:
        client = Client(second.url)
        status, again = client.call("GET", "/api/v1/namespaces/default/configmaps/kept")
        assert status == 200 and again["metadata"]["uid"] == cm["metadata"]["uid"] and again["data"] == {"a": "1"}
        status, newer = client.call("POST", "/api/v1/namespaces/default/configmaps", {"metadata": {"name": "next"}})
        assert int(newer["metadata"]["resourceVersion"]) > int(cm["metadata"]["resourceVersion"])
    finally:
        second.stop()


def test_watch_list_ends_initial_events_with_bookmark(server, api):
    api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "wl"}})
    for name in ("a", "b"):
        api.call("POST", "/api/v1/namespaces/wl/secrets", {"metadata": {"name": name, "labels": {"owner": "helm"}}})
    url = (server.url + "/api/v1/namespaces/wl/secrets?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
           "&resourceVersionMatch=NotOlderThan&timeoutSeconds=2&labelSelector=owner%3Dhelm")
    with urllib.request.urlopen(url, timeout=10) as resp:
        events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    assert [(e["type"], e["object"]["metadata"].get("name")) for e in events] == [
        ("ADDED", "a"), ("ADDED", "b"), ("BOOKMARK", None)]
    assert events[-1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def _pb_len(number, data):
    def varint(v):
        out = bytearray()
        while True:
            byte = v & 0x7F
            v >>= 7
            out.append(byte | (0x80 if v else 0))
            if not v:
                return bytes(out)
    return varint(number << 3 | 2) + varint(len(data)) + data


def test_protobuf_secret_like_helm(api):
    meta = (_pb_len(1, b"sh.helm.release.v1.demo.v1")
            + _pb_len(11, _pb_len(1, b"owner") + _pb_len(2, b"helm"))
            + _pb_len(11, _pb_len(1, b"name") + _pb_len(2, b"demo")))
    secret = _pb_len(1, meta) + _pb_len(2, _pb_len(1, b"release") + _pb_len(2, b"\x00\x01binary")) + \
        _pb_len(3, b"helm.sh/release.v1")
    envelope = b"k8s\x00" + _pb_len(1, _pb_len(1, b"v1") + _pb_len(2, b"Secret")) + _pb_len(2, secret)
    status, created = api.call("POST", "/api/v1/namespaces/default/secrets", raw=envelope,
                               content_type="application/vnd.kubernetes.protobuf")
    assert status == 201, created
    assert created["type"] == "helm.sh/release.v1"
    assert base64.b64decode(created["data"]["release"]) == b"\x00\x01binary"
    status, listed = api.call("GET", "/api/v1/namespaces/default/secrets?labelSelector=owner%3Dhelm%2Cname%3Ddemo")
    assert [s["metadata"]["name"] for s in listed["items"]] == ["sh.helm.release.v1.demo.v1"]
    envelope = b"k8s\x00" + _pb_len(1, _pb_len(1, b"v1") + _pb_len(2, b"Binding")) + _pb_len(2, b"")
    status, err = api.call("POST", "/api/v1/namespaces/default/secrets", raw=envelope,
                           content_type="application/vnd.kubernetes.protobuf")
    assert status == 415 and err["reason"] == "UnsupportedMediaType"


def test_service_selector_switch_moves_endpoints(api):
    api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "bg"}})
    for color in ("blue", "green"):
        assert api.call("POST", "/apis/apps/v1/namespaces/bg/deployments", deployment("inf", color))[0] == 201
    api.call("POST", "/api/v1/namespaces/bg/services", {"metadata": {"name": "inf"}, "spec": {
        "selector": {"app": "inf", "color": "blue"}, "ports": [{"port": 80}]}})

    def endpoint_pods():
        _, ep = api.call("GET", "/api/v1/namespaces/bg/endpoints/inf")
        return sorted(a["targetRef"]["name"].rsplit("-", 2)[0] for s in ep.get("subsets", [])
                      for a in s.get("addresses", []))
    assert endpoint_pods() == ["inf-blue", "inf-blue"]
    status, _ = api.call("PATCH", "/api/v1/namespaces/bg/services/inf", {"spec": {"selector": {"color": "green"}}},
                         content_type="application/strategic-merge-patch+json")
    assert status == 200
    assert endpoint_pods() == ["inf-green", "inf-green"]
    _, slices = api.call("GET", "/apis/discovery.k8s.io/v1/namespaces/bg/endpointslices"
                                "?labelSelector=kubernetes.io%2Fservice-name%3Dinf")
    assert len(slices["items"]) == 1 and len(slices["items"][0]["endpoints"]) == 2


def test_dry_run_pagination_and_status_errors(api):
    api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "pg"}})
    status, obj = api.call("POST", "/api/v1/namespaces/pg/configmaps?dryRun=All", {"metadata": {"name": "dry"}})
    assert status == 201 and obj["metadata"]["name"] == "dry"
    assert api.call("GET", "/api/v1/namespaces/pg/configmaps/dry")[0] == 404
    for i in range(5):
        api.call("POST", "/api/v1/namespaces/pg/configmaps", {"metadata": {"name": f"cm{i}"}})
    _, page = api.call("GET", "/api/v1/namespaces/pg/configmaps?limit=2")
    names = [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        _, page = api.call("GET", f"/api/v1/namespaces/pg/configmaps?limit=2&continue={page['metadata']['continue']}")
        names += [i["metadata"]["name"] for i in page["items"]]
    assert names == [f"cm{i}" for i in range(5)] and page["kind"] == "ConfigMapList"
    status, err = api.call("POST", "/apis/apps/v1/namespaces/pg/deployments",
                           {**deployment("x", "blue"), "spec": {"selector": {"matchLabels": {"a": "b"}}}})
    assert status == 422 and err["kind"] == "Status" and err["reason"] == "Invalid"
    assert {c["field"] for c in err["details"]["causes"]} >= {"spec.template.metadata.labels"}
    status, err = api.call("PATCH", "/api/v1/namespaces/pg/configmaps/cm0", {"data": {"a": "b"}},
                           content_type="application/apply-patch+yaml")
    assert status == 400 and "fieldManager" in err["message"]


def test_crd_registration_and_cluster_scoped_resources(api):
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "quotas.kubeapi.cxr.io"},
           "spec": {"group": "kubeapi.cxr.io", "scope": "Cluster",
                    "names": {"plural": "quotas", "kind": "Quota"},
                    "versions": [{"name": "v1", "served": True, "storage": True,
                                  "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.size",
                                                                           "statusReplicasPath": ".status.size"}},
                                  "schema": {"openAPIV3Schema": {"type": "object",
                                                                 "x-kubernetes-preserve-unknown-fields": True}}}]}}
    assert api.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)[0] == 201
    _, listing = api.call("GET", "/apis/kubeapi.cxr.io/v1")
    assert {r["name"] for r in listing["resources"]} >= {"quotas", "quotas/status", "quotas/scale"}
    assert api.call("POST", "/apis/kubeapi.cxr.io/v1/quotas", {"metadata": {"name": "q"}, "spec": {"size": 1}})[0] == 201
    status, _ = api.call("PATCH", "/apis/kubeapi.cxr.io/v1/quotas/q/scale", {"spec": {"replicas": 4}},
                         content_type="application/merge-patch+json")
    assert status == 200
    assert api.call("GET", "/apis/kubeapi.cxr.io/v1/quotas/q")[1]["spec"]["size"] == 4
    status, _ = api.call("PATCH", "/apis/kubeapi.cxr.io/v1/quotas/q", {"spec": {"size": 2}},
                           content_type="application/strategic-merge-patch+json")
    assert status == 415, "custom resources do not take strategic merge patches"
    assert api.call("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/quotas.kubeapi.cxr.io")[0] == 200
    assert api.call("GET", "/apis/kubeapi.cxr.io/v1/quotas")[0] == 404
    assert "kubeapi.cxr.io" not in json.dumps(api.call("GET", "/apis")[1])


def test_openapi_v3_advertises_field_validation(api):
    _, root = api.call("GET", "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, doc = api.call("GET", url)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


# ----------------------------------------------------------------------------- pure functions


def test_strategic_merge_lists_by_key():
    orig = {"spec": {"containers": [
        {"name": "a", "image": "a:1", "ports": [{"containerPort": 80, "name": "http"}],
         "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
        {"name": "b", "image": "b:1"}]},
        "metadata": {"finalizers": ["f1"], "labels": {"keep": "1", "drop": "1"}}}
    patch = {"spec": {"containers": [
        {"name": "a", "image": "a:2", "ports": [{"containerPort": 9090}],
         "env": [{"name": "Y", "$patch": "delete"}, {"name": "Z", "value": "3"}]},
        {"name": "b", "$patch": "delete"}]},
        "metadata": {"finalizers": ["f2"], "labels": {"drop": None}}}
    out = ks.strategic_merge(orig, patch)
    a = out["spec"]["containers"]
    assert len(a) == 1 and a[0]["image"] == "a:2"
    assert [p["containerPort"] for p in a[0]["ports"]] == [80, 9090]
    assert [e["name"] for e in a[0]["env"]] == ["X", "Z"]
    assert out["metadata"] == {"finalizers": ["f1", "f2"], "labels": {"keep": "1"}}
    assert orig["spec"]["containers"][0]["image"] == "a:1", "the original is not mutated"


def test_strategic_merge_directives():
    orig = {"spec": {"ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "b"}], "tolerations": [{"key": "x"}],
                     "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}}
    out = ks.strategic_merge(orig, {"spec": {
        "$setElementOrder/ports": [{"port": 81}, {"port": 80}], "ports": [{"port": 80, "name": "c"}],
        "tolerations": [{"key": "y"}],
        "strategy": {"$retainKeys": ["type"], "type": "Recreate"}}})
    assert out["spec"]["ports"] == [{"port": 81, "name": "b"}, {"port": 80, "name": "c"}]
    assert out["spec"]["tolerations"] == [{"key": "y"}], "lists without a merge key are replaced"
    assert out["spec"]["strategy"] == {"type": "Recreate"}
    assert ks.strategic_merge({"a": {"b": 1}}, {"a": {"$patch": "replace", "c": 2}}) == {"a": {"c": 2}}


def test_json_merge_patch_and_json_patch():
    assert ks.json_merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None, "d": 3}, "l": [2]}) == {
        "a": {"c": 2, "d": 3}, "l": [2]}
    doc = {"metadata": {"labels": {"a/b": "1"}}, "spec": {"list": [1, 2]}}
    out = ks.json_patch(doc, [
        {"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"},
        {"op": "add", "path": "/spec/list/-", "value": 3},
        {"op": "remove", "path": "/spec/list/0"},
        {"op": "copy", "from": "/spec/list", "path": "/spec/copy"},
        {"op": "test", "path": "/spec/copy/0", "value": 2}])
    assert out == {"metadata": {"labels": {"a/b": "2"}}, "spec": {"list": [2, 3], "copy": [2, 3]}}
    with pytest.raises(ks.APIError) as exc:
        ks.json_patch(doc, [{"op": "test", "path": "/spec/list/0", "value": 9}])
    assert exc.value.code == 422
    with pytest.raises(ks.APIError):
        ks.json_patch(doc, [{"op": "remove", "path": "/nope"}])


def test_prune_unapplied_removes_only_dropped_fields():
    current = {"metadata": {"labels": {"a": "1", "b": "1", "other": "x"}},
               "spec": {"containers": [{"name": "c", "image": "i", "args": ["x"]}, {"name": "d", "image": "j"}]}}
    last = {"metadata": {"labels": {"a": "1", "b": "1"}},
            "spec": {"containers": [{"name": "c", "image": "i", "args": ["x"]}, {"name": "d", "image": "j"}]}}
    new = {"metadata": {"labels": {"a": "1"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    out = ks.prune_unapplied(current, last, new)
    assert out["metadata"]["labels"] == {"a": "1", "other": "x"}
    assert out["spec"]["containers"] == [{"name": "c", "image": "i"}]


@pytest.mark.parametrize("selector,labels,expected", [
    ("app=web", {"app": "web"}, True),
    ("app==web,tier!=db", {"app": "web", "tier": "db"}, False),
    ("color in (blue, green)", {"color": "green"}, True),
    ("color notin (blue)", {"color": "blue"}, False),
    ("canary", {"canary": ""}, True),
    ("!canary", {"canary": "1"}, False),
    ("", {}, True),
])
def test_label_selectors(selector, labels, expected):
    assert ks.labels_match(ks.parse_label_selector(selector), labels) is expected


def test_field_selectors():
    pod = {"metadata": {"name": "p", "namespace": "n"}, "status": {"phase": "Running"}}
    assert ks.fields_match(ks.parse_field_selector("metadata.name=p,status.phase==Running"), pod)
    assert not ks.fields_match(ks.parse_field_selector("status.phase!=Running"), pod)
    with pytest.raises(ks.APIError):
        ks.parse_field_selector("nonsense")


def test_strict_validation_knows_nested_fields():
    schema = ks.builtin_schema("Deployment")
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "b", "imagePullPolice": "x"}]}}}}
    assert ks.unknown_fields(obj, schema) == ["spec.template.spec.containers[0].imagePullPolice"]
    pruned = ks.prune_fields(obj, schema)
    assert "imagePullPolice" not in pruned["spec"]["template"]["spec"]["containers"][0]
