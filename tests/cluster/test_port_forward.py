"""`kubectl port-forward` reaches a pod from the host."""

from __future__ import annotations

import urllib.request

from tests.cluster.kube import Kube, http_server, pod, port_forward


def test_port_forward_reaches_a_pod_from_the_host(kube: Kube) -> None:
    kube.apply(pod("web", http_server("forwarded to $(hostname)")))
    kube.wait("condition=Ready", "pod/web")

    # base is the http://127.0.0.1:PORT URL port_forward yields, never a file: URL.
    with (
        port_forward(kube, "pod/web", 8080) as base,
        urllib.request.urlopen(f"{base}/", timeout=10) as response,  # noqa: S310
    ):
        body = response.read().decode()

    assert body.strip() == "forwarded to web"
