"""Who can open a TCP connection to whom: probe pods and the connection attempt itself.

A probe is a pod of the API image (it has Python) carrying none of the platform's labels, so
no policy of the chart admits it and none restricts it. The attempt runs inside a pod with
`kubectl exec` and reports how it ended: `open`, `timeout`, `refused` (kube-router rejects
with an ICMP port-unreachable, so a blocked connection is refused at once rather than left to
time out, as Calico's default drop would) or another error's name.
"""

from __future__ import annotations

import json
import time

from tests.cluster.kube import Kube
from tests.e2e.chart import IMAGES, Obj
from tests.e2e.pods import wait_for
from tests.e2e.workloads import restricted_pod

CONNECT = """
import socket, sys
host, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
try:
    socket.create_connection((host, port), timeout=timeout).close()
    print("open")
except TimeoutError:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as error:
    print(type(error).__name__)
"""
RESOLVE = """
import json, socket, sys
print(json.dumps(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], None, socket.AF_INET)})))
"""


def probe_pod(
    name: str, command: list[str] | None = None, node: str | None = None, **labels: str
) -> Obj:
    """A restricted pod of the API image that idles (or runs `command`), optionally pinned."""
    container = {
        "name": "probe",
        "image": IMAGES.old,
        "imagePullPolicy": IMAGES.pull_policy,
        "command": command or ["sleep", "3600"],
        "resources": {
            "requests": {"cpu": "10m", "memory": "32Mi"},
            "limits": {"cpu": "200m", "memory": "128Mi"},
        },
    }
    labelled = {"e2e-probe": name, **labels}
    return restricted_pod(name, labelled, container, node, terminationGracePeriodSeconds=1)


def listener(name: str, port: int, node: str | None = None) -> Obj:
    """A probe pod serving HTTP on `port` (something in the cluster no platform pod needs)."""
    # Every interface of the pod, on purpose: the point is to be reachable from other pods.
    serve = ["python", "-m", "http.server", str(port), "--bind", "0.0.0.0", "--directory", "/"]  # noqa: S104
    return probe_pod(name, serve, node)


def connect(
    kube: Kube, pod: str, host: str, port: int, *, container: str = "", timeout: float = 3
) -> str:
    """How a TCP connection from `pod` to host:port ends: open, refused, timeout, …"""
    which = ["-c", container] if container else []
    argv = ["exec", pod, *which, "--", "python", "-c", CONNECT, host, str(port), str(timeout)]
    return kube.run(*argv).strip().splitlines()[-1]


def resolve(kube: Kube, pod: str, name: str, container: str = "") -> list[str]:
    """The IPv4 addresses `name` resolves to inside `pod` (through the pod's resolver)."""
    which = ["-c", container] if container else []
    out = kube.run("exec", pod, *which, "--", "python", "-c", RESOLVE, name)
    addresses: list[str] = json.loads(out.strip().splitlines()[-1])
    return addresses


def until(kube: Kube, pod: str, host: str, port: int, *, outcome: str, what: str) -> float:
    """Seconds until a connection from `pod` to host:port ends as `outcome` (e.g. after a
    policy changed), polling every half second for at most 60 s."""
    started = time.monotonic()
    wait_for(
        lambda: connect(kube, pod, host, port, timeout=1) == outcome, what, timeout=60, interval=0.5
    )
    return time.monotonic() - started
