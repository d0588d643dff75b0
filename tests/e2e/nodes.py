"""Nodes for the node drills: which is which, cordon and drain, lose one, bring it back.

A node is lost the way the test cluster loses one (`python -m cluster stop-node N`: its container
is killed, every process of the node dies at once) and brought back with `start-node N`, which
returns once the node reports Ready again. Against another cluster, E2E_NODE_STOP and
E2E_NODE_START are shell commands with `{node}` for the node's name (kind: `docker kill {node}`
and `docker start {node}`); E2E_NODE_GRACE_SECONDS is that cluster's node-monitor grace period.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from tests.cluster.kube import Kube
from tests.e2e.chart import ROOT, Obj

HOSTNAME = "kubernetes.io/hostname"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
OUT_OF_SERVICE = "node.kubernetes.io/out-of-service"
# kube-controller-manager's --node-monitor-grace-period: the harness keeps the default (50 s in
# v1.37), as most clusters do; a lost node turns NotReady (Unknown) that long after its last
# heartbeat, and the node controller then taints it and marks its pods NotReady.
NODE_GRACE_SECONDS = float(os.environ.get("E2E_NODE_GRACE_SECONDS", "50"))
# The node controller looks at every node this often (--node-monitor-period, 5 s by default).
NODE_MONITOR_PERIOD_SECONDS = 5.0


@dataclass(frozen=True)
class Layout:
    """The control-plane node (never lost, never drained: CoreDNS and the control plane run there)
    and the workers, sorted by name."""

    control_plane: str
    workers: list[str]


def layout(cluster: Kube) -> Layout:
    nodes = cluster.get("nodes")["items"]
    names = {n["metadata"]["name"]: CONTROL_PLANE in n["metadata"]["labels"] for n in nodes}
    control = sorted(name for name, is_control in names.items() if is_control)
    workers = sorted(name for name, is_control in names.items() if not is_control)
    if len(control) != 1 or len(workers) < 2:
        raise AssertionError(
            f"the node drills need one control-plane node and two workers (make cluster-up "
            f"NODES=3); this cluster has control plane {control}, workers {workers}"
        )
    return Layout(control[0], workers)


def condition(node: Obj, kind: str = "Ready") -> str:
    """The status of one condition of a Node: True, False or Unknown (a lost node's)."""
    found = [c["status"] for c in node["status"].get("conditions", []) if c["type"] == kind]
    return str(found[0]) if found else "Unknown"


def ready(cluster: Kube, name: str) -> bool:
    return condition(cluster.get("node", name)) == "True"


def taint_keys(cluster: Kube, name: str) -> set[str]:
    return {t["key"] for t in cluster.get("node", name)["spec"].get("taints") or []}


def _harness(verb: str, name: str) -> list[str]:
    match = re.fullmatch(r"platform-node-(\d+)", name)
    if not match:
        raise AssertionError(f"{name} is not a worker of the test cluster: set E2E_NODE_{verb}")
    command = "stop-node" if verb == "STOP" else "start-node"
    return [sys.executable, "-m", "cluster", command, match.group(1)]


def _node_command(verb: str, name: str) -> None:
    template = os.environ.get(f"E2E_NODE_{verb}")
    argv = shlex.split(template.format(node=name)) if template else _harness(verb, name)
    env = dict(os.environ, PATH=f"{os.environ['PATH']}:/usr/local/go/bin")
    result = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stdout}\n{result.stderr}"


@dataclass
class Nodes:
    """Changes the drills make to nodes, each undone by `restore` (in the tests' `finally`)."""

    cluster: Kube
    stopped: set[str] = field(default_factory=set)
    cordoned: set[str] = field(default_factory=set)
    tainted: set[str] = field(default_factory=set)

    def cordon(self, name: str) -> None:
        self.cordoned.add(name)
        self.cluster.run("cordon", name)

    def uncordon(self, name: str) -> None:
        self.cluster.run("uncordon", name)
        self.cordoned.discard(name)

    def drain(self, name: str, timeout: int = 240) -> subprocess.CompletedProcess[str]:
        """`kubectl drain`: cordon, then evict every pod through the API (PDBs apply)."""
        self.cordoned.add(name)
        return self.cluster.try_run(
            "drain", name, "--ignore-daemonsets", "--delete-emptydir-data",
            f"--timeout={timeout}s", timeout=timeout + 30,
        )  # fmt: skip

    def stop(self, name: str) -> None:
        self.stopped.add(name)
        _node_command("STOP", name)

    def start(self, name: str) -> None:
        _node_command("START", name)
        self.stopped.discard(name)

    def taint_out_of_service(self, name: str) -> None:
        """The operator's word that the node is shut down: its pods are deleted, volumes freed."""
        self.tainted.add(name)
        self.cluster.run("taint", "node", name, f"{OUT_OF_SERVICE}=nodeshutdown:NoExecute")

    def untaint(self, name: str) -> None:
        self.cluster.run("taint", "node", name, f"{OUT_OF_SERVICE}-")
        self.tainted.discard(name)

    def restore(self) -> list[str]:
        """Every node back, Ready, schedulable and untainted; what had to be undone."""
        undone = []
        for name in sorted(self.stopped):
            self.start(name)
            undone.append(f"started {name}")
        for name in sorted(self.tainted):
            self.untaint(name)
            undone.append(f"untainted {name}")
        for name in sorted(self.cordoned):
            self.uncordon(name)
            undone.append(f"uncordoned {name}")
        return undone


def pods_on(cluster: Kube, node: str) -> list[Obj]:
    """Every pod bound to `node`, in any namespace."""
    items: list[Obj] = cluster.get(
        "pods", "--all-namespaces", "--field-selector", f"spec.nodeName={node}"
    )["items"]
    return items


def node_of(pod: dict[str, Any]) -> str | None:
    name = pod["spec"].get("nodeName")
    return str(name) if name else None
