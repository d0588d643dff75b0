"""NetworkPolicies are enforced (kube-router on every node), in both directions, on one node and
across two.

A web server on one node; on its node and on another, a client the policy admits and one it
does not. Same-node traffic is bridged (the server's node filters it once), cross-node traffic
is routed (the client's node filters egress, the server's ingress): both paths must block.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

from tests.cluster.kube import (
    Kube,
    eventually,
    http_server,
    on_node,
    pod,
    scratch_namespace,
    sleeper,
)

PORT = 8080


@dataclass(frozen=True)
class Clients:
    """The client pods by name, each on a node; the server's pod IP."""

    kube: Kube
    server_ip: str
    # (pod name, node): admitted ones first, then the rest.
    admitted: list[tuple[str, str]]
    refused: list[tuple[str, str]]


def _labelled(manifest: dict[str, Any], **labels: str) -> dict[str, Any]:
    manifest["metadata"]["labels"].update(labels)
    return manifest


def reaches(kube: Kube, client: str, host: str, port: int = PORT) -> bool:
    """A 200 from host:port, asked from `client` (Kube.http_get, as the network tests do)."""
    try:
        kube.http_get(client, host, port)
    except AssertionError:
        return False
    return True


def _policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def clients(cluster: Kube, nodes: list[str]) -> Iterator[Clients]:
    # The server on the last node (a worker when there are several); clients there and on the
    # first node (the host).
    server_node = nodes[-1]
    client_nodes = sorted({server_node, nodes[0]})
    with scratch_namespace(cluster) as kube:
        kube.apply(_labelled(pod("server", http_server("policed"), **on_node(server_node))))
        admitted: list[tuple[str, str]] = []
        refused: list[tuple[str, str]] = []
        for node in client_nodes:
            for role, group in (("client", admitted), ("stranger", refused)):
                name = f"{role}-{node}"
                kube.apply(_labelled(sleeper(name, **on_node(node)), role=role))
                group.append((name, node))
        for name, _ in [*admitted, *refused]:
            kube.wait("condition=Ready", f"pod/{name}")
        kube.wait("condition=Ready", "pod/server")
        server_ip = kube.get("pod", "server")["status"]["podIP"]
        yield Clients(kube, server_ip, admitted, refused)


def test_without_a_policy_every_client_reaches_the_server(clients: Clients) -> None:
    kube = clients.kube

    answers = {
        name: eventually(partial(_assert_reaches, kube, name, clients.server_ip))
        for name, _ in [*clients.admitted, *clients.refused]
    }

    assert all(answers.values()), answers


def test_an_ingress_policy_admits_its_peers_only_and_its_removal_lifts_it(
    clients: Clients,
) -> None:
    kube, server = clients.kube, clients.server_ip
    policy = _policy(
        "server-ingress",
        {
            "podSelector": {"matchLabels": {"app": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                    "ports": [{"port": PORT, "protocol": "TCP"}],
                }
            ],
        },
    )

    kube.apply(policy)
    blocked = {
        name: eventually(partial(_assert_blocked, kube, name, server))
        for name, _ in clients.refused
    }
    admitted = {name: reaches(kube, name, server) for name, _ in clients.admitted}
    kube.run("delete", "networkpolicy", "server-ingress")
    lifted = {
        name: eventually(partial(_assert_reaches, kube, name, server), timeout=20)
        for name, _ in clients.refused
    }

    assert all(blocked.values()), blocked
    assert all(admitted.values()), admitted
    assert all(lifted.values()), lifted


def test_an_egress_policy_holds_its_pods_to_dns(clients: Clients) -> None:
    kube, server = clients.kube, clients.server_ip
    dns_only = _policy(
        "strangers-egress",
        {
            "podSelector": {"matchLabels": {"role": "stranger"}},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
                }
            ],
        },
    )

    kube.apply(dns_only)
    try:
        blocked = {
            name: eventually(partial(_assert_blocked, kube, name, server))
            for name, _ in clients.refused
        }
        resolved = {
            name: kube.exec(name, "nslookup", "kubernetes.default.svc.cluster.local")
            for name, _ in clients.refused
        }
        others = {name: reaches(kube, name, server) for name, _ in clients.admitted}
    finally:
        kube.run("delete", "networkpolicy", "strangers-egress")

    assert all(blocked.values()), blocked
    # The answer follows the server's own address (10.96.0.10), which comes first.
    answers = {name: text.split("Name:", 1)[-1] for name, text in resolved.items()}
    assert all("10.96.0.1" in answer for answer in answers.values()), resolved
    assert all(others.values()), others


def _assert_reaches(kube: Kube, client: str, host: str) -> bool:
    assert reaches(kube, client, host), f"{client} cannot reach {host}:{PORT}"
    return True


def _assert_blocked(kube: Kube, client: str, host: str) -> bool:
    assert not reaches(kube, client, host), f"{client} still reaches {host}:{PORT}"
    return True
