"""The cluster's daemons and start-up tasks: one ordered list, for the host and every worker.

`STEPS` is the start order. A control-plane step runs once, on the host; a node step runs on
every node (the host included). A step waits until the steps it `needs` are ready: the same
node's for a node step, the host's for a control-plane step. Teardown stops the daemons in the
reverse order (cluster/lifecycle.py).
"""

from __future__ import annotations

import ssl
import subprocess
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum

from cluster import components, config, images, manifests, operator_crds
from cluster.components import Context
from cluster.config import Paths
from cluster.machines import Machine
from cluster.system import log, run, wait_for


class Role(Enum):
    CONTROL_PLANE = "control plane"
    NODE = "node"


Probe = Callable[[Context, Machine], bool]


@dataclass(frozen=True)
class Daemon:
    """A long-running process: its configuration files, its command line, its readiness."""

    name: str
    role: Role
    command: Callable[[Context], list[str]]
    configure: Callable[[Context], None] | None = None
    needs: tuple[str, ...] = ()
    # Waited for by the steps that need it, and by `start` before it returns; None: only the
    # final checks of `up` (the cluster as a whole) say it works.
    ready: Probe | None = None
    ready_timeout: float = 60


@dataclass(frozen=True)
class Task:
    """A one-off action on a node; ready once it has run."""

    name: str
    role: Role
    run: Callable[[Context, Machine], None]
    needs: tuple[str, ...] = ()


Step = Daemon | Task


def admin_tls(paths: Paths) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(paths.pki / "ca.crt"))
    context.load_cert_chain(paths.pki / "admin.crt", paths.pki / "admin.key")
    return context


def http_get(url: str, context: ssl.SSLContext | None = None) -> bytes:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (our own URL)
        body: bytes = response.read()
        return body


def _etcd_ready(ctx: Context, machine: Machine) -> bool:
    return b"true" in http_get(f"{components.ETCD_URL}/health")


def _apiserver_ready(ctx: Context, machine: Machine) -> bool:
    return http_get(f"{components.APISERVER_URL}/readyz", admin_tls(ctx.paths)) == b"ok"


def _containerd_ready(ctx: Context, machine: Machine) -> bool:
    argv = machine.command(components.ctr(ctx, "version"))
    return subprocess.run(argv, capture_output=True, check=False).returncode == 0


def _registered(ctx: Context, machine: Machine) -> bool:
    """The kubelet has registered its Node (kube-router reads it at start, or exits)."""
    url = f"{components.APISERVER_URL}/api/v1/nodes/{machine.node.name}"
    try:
        return bool(http_get(url, admin_tls(ctx.paths)))
    except OSError:  # urllib's HTTPError (404 until then) is an OSError
        return False


def _firewall_ready(ctx: Context, machine: Machine) -> bool:
    """kube-router has hooked its chain into the node's FORWARD chain: policies now apply."""
    argv = machine.command(["iptables", "-w", "-t", "filter", "-S", "FORWARD"])
    listed = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
    return "-j KUBE-ROUTER-FORWARD" in listed


def _apply_addons(ctx: Context, machine: Machine) -> None:
    """DNS, storage and the RBAC of the harness's own clients (kube-router's among them)."""
    kubeconfig = ctx.paths.kubeconfig
    apply = ["apply", "--server-side", "-f", "-"]
    run("kubectl", "--kubeconfig", kubeconfig, *apply, input_text=manifests.addons())


def _apply_monitoring_crds(ctx: Context, machine: Machine) -> None:
    """The Prometheus Operator's monitor and rule CRDs (server-side: they exceed the
    last-applied annotation's size limit), then wait until they are served."""
    kubeconfig = ctx.paths.kubeconfig
    crds = [arg for path in operator_crds.files() for arg in ("-f", str(path))]
    run("kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side", *crds)
    run(
        "kubectl", "--kubeconfig", kubeconfig, "wait", "--for=condition=Established",
        "--timeout=60s", *crds,
    )  # fmt: skip


def _kube_state_metrics_ready(ctx: Context, machine: Machine) -> bool:
    """Its stores have gathered series (/readyz, on the telemetry port) and the metrics port
    answers (/livez: it reaches the apiserver). Nothing in the cluster needs it; a Prometheus
    pointed at it should find series at once."""
    telemetry, metrics = config.KUBE_STATE_METRICS_TELEMETRY_PORT, config.KUBE_STATE_METRICS_PORT
    return (
        http_get(f"http://127.0.0.1:{telemetry}/readyz") == b"OK"
        and http_get(f"http://127.0.0.1:{metrics}/livez") == b"OK"
    )


def _import_images(ctx: Context, machine: Machine) -> None:
    """The harness's own images (pause, CoreDNS, busybox) into the node's containerd."""
    for archive in images.image_archives(ctx.paths).values():
        argv = machine.command(components.ctr(ctx, "images", "import", str(archive)))
        subprocess.run(argv, capture_output=True, check=True)


STEPS: tuple[Step, ...] = (
    Daemon("etcd", Role.CONTROL_PLANE, components.etcd, ready=_etcd_ready, ready_timeout=30),
    Daemon(
        "containerd",
        Role.NODE,
        components.containerd,
        configure=components.configure_containerd,
        ready=_containerd_ready,
        ready_timeout=30,
    ),
    Daemon(
        "kube-apiserver",
        Role.CONTROL_PLANE,
        components.apiserver,
        needs=("etcd",),
        ready=_apiserver_ready,
        ready_timeout=90,
    ),
    Task("images", Role.NODE, _import_images, needs=("containerd",)),
    Task("addons", Role.CONTROL_PLANE, _apply_addons, needs=("kube-apiserver",)),
    Task("monitoring-crds", Role.CONTROL_PLANE, _apply_monitoring_crds, needs=("kube-apiserver",)),
    Daemon(
        "kube-controller-manager",
        Role.CONTROL_PLANE,
        components.controller_manager,
        needs=("kube-apiserver",),
    ),
    Daemon("kube-scheduler", Role.CONTROL_PLANE, components.scheduler, needs=("kube-apiserver",)),
    Daemon(
        "kubelet",
        Role.NODE,
        components.kubelet,
        configure=components.configure_kubelet,
        needs=("kube-apiserver", "images"),
        ready=_registered,
    ),
    Daemon(
        "kube-proxy",
        Role.NODE,
        components.kube_proxy,
        configure=components.configure_kube_proxy,
        needs=("kube-apiserver",),
    ),
    Daemon(
        "kube-router",
        Role.NODE,
        components.kube_router,
        needs=("kubelet", "addons"),
        ready=_firewall_ready,
    ),
    Daemon(
        "kube-state-metrics",
        Role.CONTROL_PLANE,
        components.kube_state_metrics,
        needs=("kube-apiserver", "addons"),
        ready=_kube_state_metrics_ready,
    ),
    Daemon(
        "hostpath-provisioner",
        Role.CONTROL_PLANE,
        components.hostpath_provisioner,
        needs=("kube-apiserver",),
    ),
)
BY_NAME = {step.name: step for step in STEPS}
DAEMONS = tuple(step for step in STEPS if isinstance(step, Daemon))


def daemons(role: Role) -> list[str]:
    return [daemon.name for daemon in DAEMONS if daemon.role is role]


def host_daemons() -> list[str]:
    """Every daemon the host runs: the control plane's and its node's."""
    return [daemon.name for daemon in DAEMONS]


def start(paths: Paths, host: Machine, nodes: Sequence[Machine], control_plane: bool) -> None:
    """Run the steps in order: the control plane's on `host` (unless it already runs), the
    node steps on each of `nodes`; return once every daemon started is ready."""
    ready: set[tuple[str, int]] = set()
    started: list[tuple[str, Machine]] = []

    def wait_ready(name: str, machine: Machine) -> None:
        step = BY_NAME[name]
        if step.role is Role.CONTROL_PLANE:
            machine = host
        key = (name, machine.node.index)
        if key in ready:
            return
        ctx = Context(paths, machine.node)
        if isinstance(step, Daemon) and step.ready is not None:
            probe = step.ready
            what = f"{name} on {machine.node.name}"
            wait_for(what, lambda: probe(ctx, machine), step.ready_timeout)
        ready.add(key)

    for step in STEPS:
        if step.role is Role.CONTROL_PLANE and not control_plane:
            continue
        for machine in [host] if step.role is Role.CONTROL_PLANE else nodes:
            for need in step.needs:
                wait_ready(need, machine)
            ctx = Context(paths, machine.node)
            if isinstance(step, Task):
                step.run(ctx, machine)
                ready.add((step.name, machine.node.index))
                continue
            if step.configure is not None:
                step.configure(ctx)
            machine.start(step.name, step.command(ctx))
            log(f"started {step.name} on {machine.node.name}")
            started.append((step.name, machine))
    # Daemons no later step needs (kube-router's firewall, kube-state-metrics) are ready too.
    for name, machine in started:
        wait_ready(name, machine)
