"""`kubectl port-forward` reaches a pod from the host."""

from __future__ import annotations

import re
import subprocess
import urllib.request

from tests.cluster.kube import Kube, http_server, pod


def test_port_forward_reaches_a_pod_from_the_host(kube: Kube) -> None:
    kube.apply(pod("web", http_server("forwarded to $(hostname)")))
    kube.wait("condition=Ready", "pod/web")

    forward = subprocess.Popen(
        kube.argv("port-forward", "pod/web", "--address", "127.0.0.1", ":8080"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+) ->", first)
        assert match, f"unexpected port-forward output: {first!r}"
        url = f"http://127.0.0.1:{match.group(1)}/"
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
    finally:
        forward.terminate()
        forward.communicate(timeout=10)

    assert body.strip() == "forwarded to web"
