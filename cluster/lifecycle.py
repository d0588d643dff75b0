"""`up`, a worker's stop and start, `status`, `load`: the cluster's life (teardown.py ends it)."""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from cluster import (
    components,
    config,
    images,
    manifests,
    network,
    nodeimage,
    packages,
    pki,
    teardown,
)
from cluster.config import Node, Paths
from cluster.machines import Host, Machine, Worker, docker, docker_available, node_containers
from cluster.steps import Role, admin_tls, daemons, host_daemons, http_get, start
from cluster.system import daemon_pid, link_exists, log, run, wait_for

KUBECONFIG_CLIENTS = (
    "controller-manager",
    "scheduler",
    "hostpath-provisioner",
    "kube-state-metrics",
)
# One identity each for every node's copy (kubeadm's service accounts are shared the same way).
NODE_KUBECONFIG_CLIENTS = ("kube-proxy", "kube-router")


def build(paths: Paths, workers: bool) -> str | None:
    """Binaries and images; the node image too when there are workers (its name)."""
    images.build_binaries(paths)
    images.build_images(paths)
    return nodeimage.ensure_image(paths) if workers else None


def node_count(paths: Paths) -> int:
    """How many nodes `up` started (0 when no cluster was started)."""
    try:
        return int(paths.node_count.read_text())
    except (OSError, ValueError):
        return 0


def workers(paths: Paths) -> list[Worker]:
    return [Worker(paths, node) for node in config.nodes(node_count(paths))[1:]]


def healthy(paths: Paths, count: int | None = None) -> bool:
    """`up` finished (with `count` nodes, if given), every daemon is the process it started,
    every worker runs its daemons, and the apiserver is ready."""
    if not (paths.state / "ready").exists():
        return False
    if count is not None and node_count(paths) != count:
        return False
    if Host(paths).running(host_daemons()) != set(host_daemons()):
        return False
    node_daemons = daemons(Role.NODE)
    if any(worker.running(node_daemons) != set(node_daemons) for worker in workers(paths)):
        return False
    try:
        return http_get(f"{components.APISERVER_URL}/readyz", admin_tls(paths)) == b"ok"
    except OSError:
        return False


def leftovers(paths: Paths) -> bool:
    """Anything an earlier (possibly interrupted) run left behind."""
    return (
        paths.state.exists()
        or paths.run.exists()
        or link_exists(config.BRIDGE)
        or bool(node_containers())
        or network.node_network_exists()
    )


def kubectl(paths: Paths, *args: str, input_text: str | None = None) -> str:
    return run("kubectl", "--kubeconfig", paths.kubeconfig, *args, input_text=input_text)


def _credentials(paths: Paths, nodes: list[Node]) -> None:
    """A fresh CA; the control plane's certificates and kubeconfigs; each node's own."""
    pki.make_pki(paths.pki)
    server = components.APISERVER_URL
    pki.write_kubeconfig(paths.kubeconfig, paths.pki, "admin", server)
    for client in KUBECONFIG_CLIENTS:
        pki.write_kubeconfig(paths.etc / f"{client}.kubeconfig", paths.pki, client, server)
    for node in nodes:
        local = paths.node(node)
        pki.make_node_pki(paths.pki, node, local.pki)
        pki.write_kubeconfig(local.etc / "kubelet.kubeconfig", local.pki, "kubelet", server)
        for client in NODE_KUBECONFIG_CLIENTS:
            pki.write_kubeconfig(local.etc / f"{client}.kubeconfig", paths.pki, client, server)


def up(paths: Paths, count: int) -> None:
    """Start the whole cluster with `count` nodes (building what is missing); a no-op when it
    already runs with that many."""
    started = time.monotonic()
    packages.ensure(workers=count > 1)
    if healthy(paths, count):
        log("already running")
        _usage(paths)
        return
    if leftovers(paths):
        log("cleaning up after an earlier run (or one with another node count)")
        teardown.down(paths)
    if count > 1 and not docker_available():
        raise RuntimeError("NODES>1 needs a Docker engine for the worker nodes: make docker-engine")
    node_image = build(paths, workers=count > 1)
    nodes = config.nodes(count)
    teardown.snapshot_host(paths)
    volumes = [paths.volumes(node) for node in nodes]
    for directory in (paths.etc, paths.pids, paths.logs, paths.run, *volumes):
        directory.mkdir(parents=True, exist_ok=True)
    paths.node_count.write_text(f"{count}\n")
    _credentials(paths, nodes)
    network.host_bridge()
    host = Host(paths)
    machines: list[Machine] = [host]
    if node_image is not None:
        network.node_network()
        for node in nodes[1:]:
            worker = Worker(paths, node)
            worker.create(node_image, nodes)
            machines.append(worker)
        network.routes_to(nodes[1:])
    start(paths, host, machines, control_plane=True)
    _wait_for_nodes(paths, nodes)
    # Only the host runs the control plane; node-loss drills stop workers only.
    kubectl(paths, "label", "--overwrite", "node", config.HOST_NODE, manifests.CONTROL_PLANE_LABEL)
    kubectl(paths, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
    wait_for(
        "default service account", lambda: kubectl(paths, "get", "serviceaccount", "default"), 30
    )
    # Only a complete `up` counts as running: an interrupted one is cleaned up next time.
    (paths.state / "ready").touch()
    plural = "s" if count > 1 else ""
    log(f"cluster ready in {time.monotonic() - started:.0f} s ({count} node{plural})")
    _usage(paths)


def _wait_for_nodes(paths: Paths, nodes: list[Node]) -> None:
    names = [f"node/{node.name}" for node in nodes]
    # `kubectl wait` fails at once on a node that has not registered yet.
    wait_for("node registration", lambda: kubectl(paths, "get", *names), 60)
    kubectl(paths, "wait", "--for=condition=Ready", *names, "--timeout=120s")


def _usage(paths: Paths) -> None:
    count = node_count(paths)
    print(
        f"""
The test cluster is up ({config.KUBERNETES_VERSION}, {count} node{"s" if count > 1 else ""}).
  export KUBECONFIG={paths.kubeconfig}
  kubectl get nodes
  make cluster-load IMAGES="platform-api:dev"   # images for pods (imagePullPolicy: IfNotPresent)
  make cluster-test                              # the smoke suite
  make cluster-down                              # stop it and clean the machine
Logs: {paths.logs}/ and {paths.state}/nodes/NODE/log/"""
    )


# --- worker nodes: lose one, bring it back -------------------------------------------------


def _worker(paths: Paths, index: int) -> Worker:
    count = node_count(paths)
    if index == 1:
        raise ValueError("node 1 is the host (control plane): only workers can be stopped")
    if not 2 <= index <= count:
        raise ValueError(f"NODE must be a worker of this cluster, 2 to {count}: got {index}")
    return Worker(paths, Node(index))


def stop_node(paths: Paths, index: int) -> None:
    """Lose worker `index` at once, as a machine that loses power: every process of it dies."""
    worker = _worker(paths, index)
    if not worker.up():
        log(f"{worker.node.name} is already stopped")
        return
    worker.kill()
    log(f"stopped {worker.node.name}")


def start_node(paths: Paths, index: int) -> None:
    """Boot worker `index` again and start its daemons; return once the node is Ready."""
    worker = _worker(paths, index)
    if worker.up():
        log(f"{worker.node.name} already runs")
        return
    started = time.monotonic()
    # Whole seconds, as the API's timestamps: the kubelet's first report after the restart.
    since = datetime.now(UTC).replace(microsecond=0)
    worker.restart(config.nodes(node_count(paths)))
    start(paths, Host(paths), [worker], control_plane=False)
    # The Node may still show Ready from before it was lost: wait for a fresh heartbeat.
    wait_for(f"{worker.node.name} Ready", lambda: _reports_ready(paths, worker.node, since), 120)
    log(f"{worker.node.name} Ready again in {time.monotonic() - started:.0f} s")


def _reports_ready(paths: Paths, node: Node, since: datetime) -> bool:
    status = json.loads(kubectl(paths, "get", "node", node.name, "-o", "json"))["status"]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    heartbeat = datetime.fromisoformat(ready["lastHeartbeatTime"].replace("Z", "+00:00"))
    return bool(ready["status"] == "True" and heartbeat >= since)


# --- status and images ---------------------------------------------------------------------


def status(paths: Paths) -> int:
    for name in host_daemons():
        pid = daemon_pid(name, paths.pids)
        print(f"{config.HOST_NODE:18} {name:25} {'pid ' + str(pid) if pid else 'not running'}")
    node_daemons = daemons(Role.NODE)
    for worker in workers(paths):
        alive = worker.running(node_daemons)
        for name in node_daemons:
            state = "running" if name in alive else "not running"
            print(f"{worker.node.name:18} {name:25} {state}")
    return 0 if healthy(paths) else 1


def load(paths: Paths, names: list[str]) -> None:
    """`docker save` the images once and import them into every node's containerd at once."""
    started = time.monotonic()
    machines: list[Machine] = [Host(paths), *workers(paths)]
    with tempfile.TemporaryDirectory(prefix="load-", dir=paths.top) as scratch:
        archive = Path(scratch) / "images.tar"
        run(docker(), "save", "--output", archive, *names)
        failures: list[str] = []

        def import_into(machine: Machine) -> None:
            ctx = components.Context(paths, machine.node)
            with archive.open("rb") as stream:
                result = subprocess.run(
                    machine.command(components.ctr(ctx, "images", "import", "-")),
                    stdin=stream,
                    capture_output=True,
                    text=True,
                    check=False,
                )
            if result.returncode != 0:
                failures.append(f"{machine.node.name}: {result.stderr.strip()}")

        threads = [threading.Thread(target=import_into, args=(m,)) for m in machines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise RuntimeError(f"loading {' '.join(names)} failed on " + "; ".join(failures))
    took = time.monotonic() - started
    log(f"loaded {' '.join(names)} into {len(machines)} nodes in {took:.0f} s")
