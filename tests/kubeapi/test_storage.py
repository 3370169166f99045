"""Storage provisioning in the Kubernetes API test server: a claim binds only when it can on EKS.

Follows the PersistentVolume controller (kubernetes/kubernetes
pkg/controller/volume/persistentvolume/pv_controller.go, ``provisionClaim``/``findProvisionablePlugin``)
and the "Dynamic Volume Provisioning" and "Storage Classes" documents: a claim whose class does not
exist stays Pending with a ``ProvisioningFailed`` event; a claim whose class names an external (CSI)
provisioner that is not running stays Pending with ``ExternalProvisioning``; a claim without a class
gets the default class (DefaultStorageClass admission). A CSI driver counts as installed when its
CSIDriver object exists. These tests use a server of their own.
"""
from __future__ import annotations

import kubeapi_server as ks
import pytest
from test_server import Client

EBS = "ebs.csi.aws.com"


@pytest.fixture
def api():
    srv = ks.serve("127.0.0.1", 0)
    yield Client(srv.url)
    srv.stop()


def claim(name, cls=None):
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    if cls is not None:
        spec["storageClassName"] = cls
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name}, "spec": spec}


def gp3(name="gp3", default=False):
    meta = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": meta,
            "provisioner": EBS, "parameters": {"type": "gp3", "encrypted": "true"}}


def phase(api, name):
    code, pvc = api.call("GET", f"/api/v1/namespaces/default/persistentvolumeclaims/{name}")
    assert code == 200
    return pvc["status"]["phase"]


def events(api, name):
    code, lst = api.call("GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3D" + name)
    assert code == 200
    return [(e["type"], e["reason"], e["message"]) for e in lst["items"]
            if e["involvedObject"]["name"] == name]


def test_claim_for_missing_class_stays_pending_with_provisioning_failed(api):
    assert api.call("POST", "/api/v1/namespaces/default/persistentvolumeclaims", claim("data", "gp3"))[0] == 201
    assert phase(api, "data") == "Pending"
    assert ("Warning", "ProvisioningFailed", 'storageclass.storage.k8s.io "gp3" not found') in events(api, "data")


def test_claim_waits_for_an_uninstalled_csi_driver_then_binds_when_it_registers(api):
    assert api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", gp3())[0] == 201
    assert api.call("POST", "/api/v1/namespaces/default/persistentvolumeclaims", claim("data", "gp3"))[0] == 201
    assert phase(api, "data") == "Pending"
    [(etype, reason, message)] = events(api, "data")
    assert (etype, reason) == ("Normal", "ExternalProvisioning")
    assert message.startswith(f"Waiting for a volume to be created either by the external provisioner '{EBS}'")
    code, _ = api.call("POST", "/apis/storage.k8s.io/v1/csidrivers",
                       {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": EBS},
                        "spec": {"attachRequired": True}})
    assert code == 201
    # The next reconcile (any write) binds it.
    api.call("POST", "/api/v1/namespaces/default/configmaps",
             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nudge"}})
    assert phase(api, "data") == "Bound"


def test_claim_binds_at_once_when_class_and_driver_exist_and_default_class_is_filled_in():
    srv = ks.serve("127.0.0.1", 0, csi_drivers=[EBS])
    try:
        api = Client(srv.url)
        code, drv = api.call("GET", f"/apis/storage.k8s.io/v1/csidrivers/{EBS}")
        assert code == 200 and drv["kind"] == "CSIDriver"
        assert api.call("POST", "/apis/storage.k8s.io/v1/storageclasses", gp3("gp3-encrypted", default=True))[0] == 201
        code, pvc = api.call("POST", "/api/v1/namespaces/default/persistentvolumeclaims", claim("data"))
        assert code == 201
        # Two default classes (bootstrap "standard" and the new one): the newest wins, as upstream.
        assert pvc["spec"]["storageClassName"] == "gp3-encrypted"
        assert phase(api, "data") == "Bound"
        assert events(api, "data") == []
    finally:
        srv.stop()
