"""Node addresses, subnets and per-node configuration."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from cluster import components, config
from cluster.config import Node, Paths


def test_node_1_is_the_host_with_the_single_node_clusters_addresses() -> None:
    host = config.nodes(1)[0]

    assert host.is_host
    assert (host.name, host.ip, host.pod_subnet) == ("platform-node", "10.244.0.1", "10.244.0.0/24")
    assert host.pod_gateway == host.ip


def test_every_node_has_its_own_name_address_and_pod_subnet() -> None:
    nodes = config.nodes(config.MAX_NODES)
    cluster_cidr = ipaddress.IPv4Network(config.CLUSTER_CIDR)
    services = ipaddress.IPv4Network(config.SERVICE_CIDR)
    network = ipaddress.IPv4Network(f"{config.NODE_NETWORK_PREFIX}.0/24")

    subnets = [ipaddress.IPv4Network(node.pod_subnet) for node in nodes]
    assert len({node.name for node in nodes}) == len(nodes)
    assert len({node.ip for node in nodes}) == len(nodes)
    assert len({node.network_ip for node in nodes}) == len(nodes)
    for node, subnet in zip(nodes, subnets, strict=True):
        assert subnet.subnet_of(cluster_cidr)
        assert ipaddress.ip_address(node.pod_gateway) in subnet
        assert ipaddress.ip_address(node.network_ip) in network
        assert not subnet.overlaps(services)
        assert not subnet.overlaps(network)
        assert all(not subnet.overlaps(other) for other in subnets if other != subnet)
    assert all(ipaddress.ip_address(node.ip) in network for node in nodes[1:])


@pytest.mark.parametrize("text", ["0", "9", "-1", "three", "", "2.5"])
def test_a_bad_node_count_is_refused_with_the_variables_name(text: str) -> None:
    with pytest.raises(ValueError, match=r"^NODES must be a whole number from 1 to 8, got "):
        config.parse_node_count(text)


@pytest.mark.parametrize(("text", "count"), [("1", 1), ("3", 3), ("8", 8)])
def test_a_good_node_count_is_taken(text: str, count: int) -> None:
    assert config.parse_node_count(text) == count


def _kubelet_config(tmp_path: Path, node: Node) -> dict[str, object]:
    ctx = components.Context(Paths(tmp_path), node)
    ctx.local.etc.mkdir(parents=True)
    components.configure_kubelet(ctx)
    document: dict[str, object] = json.loads(components.kubelet_config_file(ctx).read_text())
    return document


def test_a_workers_kubelet_serves_on_its_node_address_and_nests_its_pods(tmp_path: Path) -> None:
    document = _kubelet_config(tmp_path, Node(2))

    assert document["address"] == "10.245.0.2"
    assert document["cgroupRoot"] == "/kubelet"
    resolv = Path(str(document["resolvConf"]))
    assert resolv.read_text() == components.HOST_RESOLV_CONF.read_text()
    assert Path(tmp_path, ".cluster/state/nodes/platform-node-2") in resolv.parents


def test_the_host_kubelet_keeps_the_single_node_settings(tmp_path: Path) -> None:
    document = _kubelet_config(tmp_path, Node(1))

    assert document["address"] == config.NODE_IP
    assert "cgroupRoot" not in document
    assert document["resolvConf"] == "/etc/resolv.conf"


def test_each_nodes_pods_get_addresses_from_its_own_subnet(tmp_path: Path) -> None:
    for node in config.nodes(3):
        ctx = components.Context(Paths(tmp_path), node)
        components.configure_containerd(ctx)
        conflist = json.loads((ctx.local.cni_conf_dir / "10-platform.conflist").read_text())

        ranges = conflist["plugins"][0]["ipam"]["ranges"]
        assert ranges == [[{"subnet": node.pod_subnet, "gateway": node.pod_gateway}]]
