"""The host's side of the cluster network: the pod bridge, the node network, routes, rules.

Node 1 (the host) keeps its pods on the bridge `plk8s0`, whose gateway address is the node's
own. Workers are containers on the Docker network `platform-cluster` (bridge `plk8s1`), where
the host is the gateway: every node reaches every other node's pod subnet through that node's
address there (static routes, as kind's kindnetd keeps them), so pod-to-pod and pod-to-Service
traffic between nodes is plain routing, no overlay and no NAT.
"""

from __future__ import annotations

from cluster import config
from cluster.config import Node
from cluster.machines import docker_available, docker_run
from cluster.system import add_rule, link_exists, run


def host_bridge() -> None:
    """The pod bridge, made before any pod so the node address exists from the start."""
    if not link_exists(config.BRIDGE):
        run("ip", "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "addr", "replace", f"{config.NODE_IP}/24", "dev", config.BRIDGE)
    run("ip", "link", "set", config.BRIDGE, "up")
    # dockerd sets FORWARD's policy to DROP, and br_netfilter sends bridged pod traffic
    # through FORWARD: accept what enters or leaves our bridge.
    _accept(["-i", config.BRIDGE])
    _accept(["-o", config.BRIDGE])


def remove_host_bridge() -> None:
    if link_exists(config.BRIDGE):
        run("ip", "link", "delete", config.BRIDGE)


def node_network() -> None:
    """The Docker network of the worker containers."""
    docker_run(
        "network",
        "create",
        "--driver=bridge",
        f"--subnet={config.NODE_NETWORK_PREFIX}.0/24",
        f"--gateway={Node(1).network_ip}",
        f"--opt=com.docker.network.bridge.name={config.NODE_BRIDGE}",
        # Nodes talk to each other and to the host only; nothing needs their traffic NATed.
        "--opt=com.docker.network.bridge.enable_ip_masquerade=false",
        f"--label={config.NODE_LABEL}=network",
        config.NODE_NETWORK,
    )
    # Between nodes (bridged, so through FORWARD): not left to dockerd's own rules, whose
    # shape changes between its versions.
    _accept(["-i", config.NODE_BRIDGE, "-o", config.NODE_BRIDGE])


def routes_to(workers: list[Node]) -> None:
    """The host's routes to the workers' pods (once their containers are on the network)."""
    for worker in workers:
        run("ip", "route", "replace", worker.pod_subnet, "via", worker.network_ip)


def node_network_exists() -> bool:
    if not docker_available():
        return False
    listed = docker_run("network", "ls", "--quiet", "--filter", f"name=^{config.NODE_NETWORK}$")
    return bool(listed.strip())


def remove_node_network() -> None:
    """The Docker network; its bridge, and the routes through it, go with it."""
    if node_network_exists():
        docker_run("network", "rm", config.NODE_NETWORK)


def _accept(match: list[str]) -> None:
    add_rule(4, "filter", "FORWARD", [*match, "-j", "ACCEPT"], config.IPTABLES_COMMENT)
