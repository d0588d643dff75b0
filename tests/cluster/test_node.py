"""The node registered and is Ready."""

from __future__ import annotations

from tests.cluster.kube import Kube


def test_every_node_is_ready(cluster: Kube) -> None:
    nodes = cluster.get("nodes")["items"]
    assert nodes, "no node registered"
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}.get("Ready")
        assert ready == "True", f"node {node['metadata']['name']} Ready={ready}"
