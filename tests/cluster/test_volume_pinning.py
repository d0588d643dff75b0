"""A StatefulSet pod with a claim stays on the node that holds its volume.

The default StorageClass's volumes are directories on one node: a pod that came back on
another node would silently start on an empty one. The claim's volume must pin its pod: back
on the same node after a delete, and Pending (not moved) while that node takes no pods.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.cluster.kube import Kube, container, eventually

NAME = "pinned"
POD = f"{NAME}-0"


def _statefulset() -> dict[str, Any]:
    labels = {"app": NAME}
    main = container(
        "main", "exec sleep 3600", volumeMounts=[{"name": "data", "mountPath": "/data"}]
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": NAME},
        "spec": {
            "serviceName": NAME,
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [main], "terminationGracePeriodSeconds": 1},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "16Mi"}},
                    },
                }
            ],
        },
    }


def _replaced(kube: Kube, old_uid: str) -> dict[str, Any]:
    """Delete the pod and return its replacement once the StatefulSet has created it."""
    kube.run("delete", "pod", POD, "--wait=true", "--timeout=60s")

    def created() -> dict[str, Any]:
        status: dict[str, Any] = kube.get("pod", POD)
        assert status["metadata"]["uid"] != old_uid, "not replaced yet"
        return status

    return eventually(created)


def _verdict(kube: Kube) -> str:
    """Where the scheduler put the pod, or why it did not (fails until it has decided)."""
    status = kube.get("pod", POD)
    if node := status["spec"].get("nodeName"):
        return f"scheduled on {node}"
    conditions = {c["type"]: c for c in status["status"].get("conditions", [])}
    scheduled = conditions.get("PodScheduled", {})
    assert scheduled.get("status") == "False", f"not decided yet: {scheduled}"
    return f"refused: {scheduled['message']}"


def test_a_claimed_pod_comes_back_on_its_node_and_never_moves(
    cluster: Kube, kube: Kube, nodes: list[str]
) -> None:
    if len(nodes) < 2:
        pytest.skip("needs two schedulable nodes: with one, staying put proves nothing")
    kube.apply(_statefulset())
    kube.wait("condition=Ready", f"pod/{POD}", timeout=150)
    first = kube.get("pod", POD)
    home = first["spec"]["nodeName"]
    kube.exec(POD, "sh", "-c", "echo kept > /data/proof")
    claim = kube.get("pvc", f"data-{POD}")
    volume = cluster.get("pv", claim["spec"]["volumeName"])

    second = _replaced(kube, first["metadata"]["uid"])
    kube.wait("condition=Ready", f"pod/{POD}", timeout=150)
    back_on = kube.get("pod", POD)["spec"]["nodeName"]
    kept = kube.exec(POD, "cat", "/data/proof").strip()

    cluster.run("cordon", home)
    try:
        _replaced(kube, second["metadata"]["uid"])
        verdict = eventually(lambda: _verdict(kube), timeout=90)
    finally:
        cluster.run("uncordon", home)
    kube.wait("condition=Ready", f"pod/{POD}", timeout=150)
    finally_on = kube.get("pod", POD)["spec"]["nodeName"]

    assert back_on == home
    assert kept == "kept"
    # Every other node was free to take it, and was refused because of the volume.
    others = len(nodes) - 1
    assert f"{others} node(s) didn't match PersistentVolume's node affinity" in verdict, verdict
    assert finally_on == home
    assert volume["spec"].get("nodeAffinity", {}).get("required") == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": [home]}
                ]
            }
        ]
    }
