"""The default StorageClass provisions a volume, on its pod's node, whose data outlives the pod."""

from __future__ import annotations

from typing import Any

from tests.cluster.kube import Kube, sleeper


def _with_claim(name: str) -> dict[str, Any]:
    manifest = sleeper(
        name, volumes=[{"name": "data", "persistentVolumeClaim": {"claimName": "data"}}]
    )
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    # Not root, as PostgreSQL's image (999) and the platform's (10001) run: the volume must be
    # writable for them too.
    manifest["spec"]["securityContext"] = {"runAsUser": 10001, "runAsNonRoot": True}
    return manifest


def test_a_claim_binds_and_its_data_survives_the_pod(kube: Kube) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "16Mi"}}},
    }
    kube.apply(claim, _with_claim("writer"))
    kube.wait("jsonpath={.status.phase}=Bound", "pvc/data")
    kube.wait("condition=Ready", "pod/writer")
    writer_node = kube.get("pod", "writer")["spec"]["nodeName"]
    kube.exec("writer", "sh", "-c", "echo survived > /data/proof")
    kube.run("delete", "pod", "writer", "--wait=true", "--timeout=60s")

    kube.apply(_with_claim("reader"))
    kube.wait("condition=Ready", "pod/reader")

    assert kube.exec("reader", "cat", "/data/proof").strip() == "survived"
    assert kube.get("pod", "reader")["spec"]["nodeName"] == writer_node
    storage_class = kube.get("pvc", "data")["spec"]["storageClassName"]
    assert storage_class, "the claim got no (default) StorageClass"
