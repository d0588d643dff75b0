"""The harness's lifecycle on this machine: `up`, images loaded into every node, a worker lost
and brought back, `down`, and nothing left behind.

Runs `python -m cluster` itself, as root, with 1 node and with NODES (default 3); a Docker
engine must answer for the workers. It starts and removes its own clusters: none may be running
(`make cluster-down` first). What the cluster leaves is read from the machine (footprint.py),
not from the harness's own records, and compared with what was there before `up`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.kube import Kube, container, eventually, on_node, pod
from tests.cluster_lifecycle import footprint

REPO = Path(__file__).resolve().parents[2]
NODE_LABEL = "platform-cluster.node"
BUSYBOX = "localhost/platform-busybox:1.35"
PROBE_IMAGE = "localhost/platform-load-probe:1"
# The categories a running cluster must show: proof the footprint can see one at all.
VISIBLE_WHILE_UP = ("interfaces", "routes", "iptables", "mounts", "cgroups", "processes", "state")


def harness(*args: str, timeout: float = 900) -> None:
    env = dict(os.environ, PATH=f"{os.environ['PATH']}:/usr/local/go/bin")
    result = subprocess.run(
        [sys.executable, "-m", "cluster", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"cluster {' '.join(args)}:\n{result.stderr[-4000:]}"


def worker_count() -> int:
    return int(os.environ.get("NODES") or 3)


@pytest.fixture
def machine() -> Iterator[footprint.Owner]:
    """The machine without a cluster; whatever a test leaves running is taken down after it."""
    if os.geteuid() != 0:
        pytest.fail("the lifecycle test runs the cluster: it needs root")
    owner = footprint.Owner(REPO)
    running = footprint.docker_ids(NODE_LABEL) or (REPO / ".cluster" / "state").exists()
    assert not running, "a cluster is running: make cluster-down first (this test brings its own)"
    yield owner
    if (REPO / ".cluster" / "state").exists() or footprint.docker_ids(NODE_LABEL):
        harness("down")


def _kube() -> Kube:
    return Kube(str(REPO / ".cluster" / "kubeconfig"))


def _node_names(kube: Kube) -> list[str]:
    return sorted(node["metadata"]["name"] for node in kube.get("nodes")["items"])


def _restarted_and_ready(kube: Kube, name: str) -> dict[str, Any]:
    status: dict[str, Any] = kube.get("pod", name)
    containers = status["status"].get("containerStatuses", [])
    assert containers, "no container status yet"
    assert containers[0]["restartCount"] >= 1, "not restarted yet"
    assert containers[0]["ready"], "restarted, not ready yet"
    return status


def _reachable(address: str, port: int) -> bool:
    try:
        socket.create_connection((address, port), timeout=2).close()
    except OSError:
        return False
    return True


@contextmanager
def probe_image() -> Iterator[str]:
    """A docker image no node has yet: the harness's busybox under a name of its own."""
    docker = footprint.DOCKER
    archive = REPO / ".cluster" / "images" / "busybox.tar"
    inspect = [docker, "image", "inspect", BUSYBOX]
    had_busybox = subprocess.run(inspect, capture_output=True, check=False).returncode == 0
    subprocess.run([docker, "load", "--input", str(archive)], capture_output=True, check=True)
    subprocess.run([docker, "tag", BUSYBOX, PROBE_IMAGE], check=True)
    try:
        yield PROBE_IMAGE
    finally:
        leftover = [PROBE_IMAGE] if had_busybox else [PROBE_IMAGE, BUSYBOX]
        subprocess.run([docker, "rmi", *leftover], capture_output=True, check=False)


def _assert_up_then_gone(
    before: dict[str, set[str]], during: dict[str, set[str]], after: dict[str, set[str]]
) -> None:
    seen = footprint.differences(before, during)
    assert set(VISIBLE_WHILE_UP) <= set(seen), f"the footprint missed the running cluster: {seen}"
    left = footprint.differences(before, after)
    assert left == {}, f"down left or removed: {left}"


def _namespace(kube: Kube, name: str) -> Kube:
    """A new namespace, once its default service account exists (pods need it)."""
    kube.run("create", "namespace", name)
    apps = kube.in_namespace(name)
    apps.run("wait", "--for=create", "serviceaccount/default", "--timeout=60s")
    return apps


def _policed_pod(kube: Kube) -> None:
    """A pod behind a NetworkPolicy: the enforcer then holds ipsets for its peers."""
    apps = _namespace(kube, "lifecycle")
    apps.apply(pod("policed", container("main", "exec sleep 3600")))
    policy = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "policed"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "policed"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}],
        },
    }
    apps.apply(policy)
    apps.wait("condition=Ready", "pod/policed")


def test_one_node_comes_up_without_docker_and_leaves_nothing(machine: footprint.Owner) -> None:
    before = footprint.take(machine)

    harness("up", "--nodes", "1")
    _policed_pod(_kube())
    during = eventually(lambda: _with_ipsets(footprint.take(machine), before), timeout=60)
    names = _node_names(_kube())
    containers = footprint.docker_ids(NODE_LABEL)
    harness("down")
    after = footprint.take(machine)

    assert names == ["platform-node"]
    assert containers == set()
    _assert_up_then_gone(before, during, after)


def _with_ipsets(now: dict[str, set[str]], before: dict[str, set[str]]) -> dict[str, set[str]]:
    assert now["ipsets"] - before["ipsets"], "the enforcer has made no ipset yet"
    return now


def test_a_lost_worker_comes_back_and_down_leaves_nothing(machine: footprint.Owner) -> None:
    count = worker_count()
    assert count >= 2, f"NODES={count}: this test needs a worker"
    lost = f"platform-node-{count}"
    lost_ip = f"10.245.0.{count}"
    before = footprint.take(machine)

    harness("up", "--nodes", str(count))
    kube = _kube()
    names = _node_names(kube)
    ids = frozenset(footprint.docker_ids(NODE_LABEL))
    owner = footprint.Owner(machine.repo, ids)
    with_cluster = footprint.take(owner)
    apps = _namespace(kube, "lifecycle")
    apps.apply(pod("survivor", container("main", "exec sleep 3600"), **on_node(lost)))
    apps.wait("condition=Ready", "pod/survivor")
    # `load` puts an image on every node: a pod that may not pull it runs anywhere.
    with probe_image() as image:
        harness("load", image)
    for node in names:
        probe = container("main", "exec sleep 3600", image=image, imagePullPolicy="Never")
        apps.apply(pod(f"loaded-on-{node}", probe, **on_node(node)))
    for node in names:
        apps.wait("condition=Ready", f"pod/loaded-on-{node}")
    kubelet_before = _reachable(lost_ip, 10250)

    harness("stop-node", str(count))
    kubelet_while_stopped = _reachable(lost_ip, 10250)
    harness("start-node", str(count))
    # The pod's status may still be the one from before the loss: wait for the kubelet's.
    survivor = eventually(lambda: _restarted_and_ready(apps, "survivor"), timeout=180)
    ready = kube.get("node", lost)
    harness("down")
    after = footprint.take(owner)

    assert names == sorted(["platform-node", *(f"platform-node-{n}" for n in range(2, count + 1))])
    assert len(ids) == count - 1
    assert kubelet_before
    assert not kubelet_while_stopped
    conditions = {c["type"]: c["status"] for c in ready["status"]["conditions"]}
    assert conditions["Ready"] == "True"
    # The node lost its processes: the kubelet ran the pod's container again, on that node.
    assert survivor["spec"]["nodeName"] == lost
    _assert_up_then_gone(before, with_cluster, after)
