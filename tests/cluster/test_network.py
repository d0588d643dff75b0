"""Pods on every node reach each other, each other's Services and the cluster DNS.

One web server pinned to each node, each behind a Service of its own: every pod then talks to
every other (its own node's included), so each pair of nodes is crossed in both directions,
through pod IPs (routing between nodes) and through Service names (the client node's
kube-proxy and CoreDNS, wherever it runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import pytest

from tests.cluster.kube import Kube, eventually, http_server, on_node, pod, scratch_namespace


@dataclass(frozen=True)
class Web:
    """The web server pinned to `node`, its pod IP and its Service's name."""

    node: str
    pod: str
    ip: str

    @property
    def service(self) -> str:
        # Not the pod's name: a pod resolves its own hostname to itself (/etc/hosts).
        return f"to-{self.pod}"


@pytest.fixture(scope="module")
def webs(cluster: Kube, nodes: list[str]) -> Iterator[tuple[Kube, list[Web]]]:
    with scratch_namespace(cluster) as kube:
        names = [f"web-{index}" for index in range(1, len(nodes) + 1)]
        for name, node in zip(names, nodes, strict=True):
            server = pod(name, http_server(f"{name} on {node}"), **on_node(node))
            service = {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"to-{name}"},
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
                },
            }
            kube.apply(server, service)
        for name in names:
            kube.wait("condition=Ready", f"pod/{name}")
        found = []
        for name in names:
            status = kube.get("pod", name)
            found.append(Web(status["spec"]["nodeName"], name, status["status"]["podIP"]))
        yield kube, found


def test_each_node_runs_one_of_the_pods(webs: tuple[Kube, list[Web]], nodes: list[str]) -> None:
    _, servers = webs

    assert sorted(web.node for web in servers) == nodes


def test_pod_to_pod_between_every_pair_of_nodes(webs: tuple[Kube, list[Web]]) -> None:
    kube, servers = webs

    answers = {
        (client.node, server.node): eventually(partial(kube.http_get, client.pod, server.ip, 8080))
        for client in servers
        for server in servers
    }

    for (_, server_node), body in answers.items():
        assert body.strip().endswith(f"on {server_node}"), answers


def test_pod_to_service_between_every_pair_of_nodes(webs: tuple[Kube, list[Web]]) -> None:
    kube, servers = webs

    answers = {
        (client.node, server.node): eventually(
            partial(kube.http_get, client.pod, server.service, 80)
        )
        for client in servers
        for server in servers
    }

    for (_, server_node), body in answers.items():
        assert body.strip().endswith(f"on {server_node}"), answers


def test_dns_from_a_pod_on_every_node(webs: tuple[Kube, list[Web]]) -> None:
    kube, servers = webs
    # nslookup (busybox) ignores search domains: the full names.
    names = {
        "kubernetes.default.svc.cluster.local": kube.in_namespace("default").get(
            "service", "kubernetes"
        ),
        f"{servers[-1].service}.{kube.namespace}.svc.cluster.local": kube.get(
            "service", servers[-1].service
        ),
    }

    for client in servers:
        for name, service in names.items():
            resolved = eventually(partial(kube.exec, client.pod, "nslookup", name))
            # The answer follows the server's own address, which comes first.
            answer = resolved.split("Name:", 1)[-1]
            assert service["spec"]["clusterIP"] in answer, (client.node, name, resolved)
