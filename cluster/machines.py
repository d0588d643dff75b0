"""Where a node's daemons run: the host itself, or a worker node's container.

Both offer the same three operations to `cluster/steps.py`: start a daemon (logging to the
node's log directory, its PID remembered), tell which daemons still run, and run a command.
A worker is a (nearly privileged) Docker container of the node image (cluster/nodeimage.py)
whose init is the harness's `pause` binary (it only reaps orphans): the container is the
machine, so stopping it is losing the node, and every process, mount and network namespace of
the node goes with it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cluster import config
from cluster.config import Node, NodePaths, Paths
from cluster.system import daemon_pid, run, start_daemon


def docker() -> str:
    """Debian's docker CLI (the Makefile's DOCKER), else whichever is on PATH."""
    return os.environ.get("DOCKER") or (
        "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
    )


def docker_run(*args: str | Path, check: bool = True, input_text: str | None = None) -> str:
    return run(docker(), *args, check=check, input_text=input_text)


class Machine(Protocol):
    """A node's operating system, as the steps see it."""

    @property
    def node(self) -> Node:
        """The node this machine is."""

    def start(self, name: str, argv: list[str]) -> None:
        """Start `argv` in the background as the daemon `name`."""

    def running(self, names: list[str]) -> set[str]:
        """Which of the daemons `names` still run."""

    def command(self, argv: list[str]) -> list[str]:
        """The command line that runs `argv` on this machine, from the host."""


@dataclass(frozen=True)
class Host:
    """The machine the harness runs on: node 1 and the control plane."""

    paths: Paths

    @property
    def node(self) -> Node:
        return Node(1)

    def start(self, name: str, argv: list[str]) -> None:
        start_daemon(name, argv, self.paths.pids, self.paths.logs)

    def running(self, names: list[str]) -> set[str]:
        return {name for name in names if daemon_pid(name, self.paths.pids)}

    def command(self, argv: list[str]) -> list[str]:
        return argv


@dataclass(frozen=True)
class Worker:
    """Worker node N: the container `platform-node-N` on the node network."""

    paths: Paths
    node: Node

    @property
    def local(self) -> NodePaths:
        return self.paths.node(self.node)

    @property
    def container(self) -> str:
        return self.node.name

    @property
    def pid_dir(self) -> Path:
        # In the container's /run (a tmpfs): a restarted node starts without stale PIDs.
        return config.RUN_DIR / "pids"

    def start(self, name: str, argv: list[str]) -> None:
        pid_file, log_file = self.pid_dir / f"{name}.pid", self.local.logs / f"{name}.log"
        # The shell records its PID and becomes the daemon, detached from `docker exec`.
        script = f'echo $$ > {pid_file} && exec "$@" >>{log_file} 2>&1 </dev/null'
        docker_run("exec", "--detach", self.container, "sh", "-c", script, "sh", *argv)

    def running(self, names: list[str]) -> set[str]:
        if not self.up():
            return set()
        checks = " ".join(
            f'kill -0 "$(cat {self.pid_dir}/{name}.pid 2>/dev/null)" 2>/dev/null && echo {name};'
            for name in names
        )
        output = docker_run("exec", self.container, "sh", "-c", checks, check=False)
        return set(output.split()) & set(names)

    def command(self, argv: list[str]) -> list[str]:
        return [docker(), "exec", "-i", self.container, *argv]

    # --- the container ------------------------------------------------------------------

    def up(self) -> bool:
        """The node's container exists and runs."""
        state = docker_run("inspect", "--format", "{{.State.Running}}", self.container, check=False)
        return state.strip() == "true"

    def create(self, image: str, peers: list[Node]) -> None:
        """Create and boot the node's container (its daemons are the steps' business)."""
        volumes = self.paths.volumes(self.node)
        self.local.logs.mkdir(parents=True, exist_ok=True)
        mounts = [
            # Binaries and image archives from the host, read-only.
            f"{self.paths.bin}:{self.paths.bin}:ro",
            f"{self.paths.images}:{self.paths.images}:ro",
            # The node's state and volumes: readable from the host (logs, the provisioner),
            # and off the container's overlay filesystem (containerd's overlayfs snapshots
            # cannot live on one).
            f"{self.local.root}:{self.local.root}",
            f"{volumes}:{volumes}",
            "/lib/modules:/lib/modules:ro",
        ]
        docker_run(
            "run",
            "--detach",
            f"--name={self.container}",
            f"--hostname={self.container}",
            f"--label={config.NODE_LABEL}={self.node.name}",
            f"--label={config.NODE_LABEL}.repo={self.paths.repo}",
            # A node manages mounts, cgroups, iptables and network namespaces of its own:
            # `--privileged` but for CAP_SYS_RESOURCE, which runc cannot grant here (these
            # machines withhold it: "unable to apply caps"). What else --privileged gives,
            # one by one: no seccomp or AppArmor profile, /proc and /sys unmasked, every
            # device (kmsg for the kubelet's OOM watcher), and /sys writable (at boot).
            "--cap-add=ALL",
            "--cap-drop=SYS_RESOURCE",
            "--security-opt=seccomp=unconfined",
            "--security-opt=apparmor=unconfined",
            "--security-opt=systempaths=unconfined",
            "--device-cgroup-rule=a *:* rwm",
            "--device=/dev/kmsg",
            # Its own cgroup namespace: the node's kubelet sees its container's cgroup as the
            # root and nests the pods below it, away from the host node's `kubepods`.
            "--cgroupns=private",
            f"--network={config.NODE_NETWORK}",
            f"--ip={self.node.network_ip}",
            "--tmpfs=/run:rw,nosuid,nodev,exec,mode=755",
            "--tmpfs=/tmp:rw,nosuid,nodev,exec,mode=1777",
            *(f"--volume={mount}" for mount in mounts),
            image,
            str(self.paths.bin / "pause"),
        )
        self.boot(peers)

    def boot(self, peers: list[Node]) -> None:
        """What a node's init system would do at boot, before its daemons start."""
        docker_run("exec", self.container, "sh", "-c", self.boot_script(peers))

    def boot_script(self, peers: list[Node]) -> str:
        lines = [
            "set -eu",
            # Docker mounts /sys and the cgroup hierarchies read-only unless --privileged.
            "mount -o remount,bind,rw /sys",
            "for h in /sys/fs/cgroup/*; do mount -o remount,bind,rw $h; done",
            # Volume mounts the kubelet makes must reach the containers (mount propagation).
            "mount --make-rshared /",
            # The kubelet's cgroup root (KubeletConfiguration cgroupRoot), in every hierarchy;
            # a cpuset group takes no task until it has CPUs and memory nodes.
            'for h in /sys/fs/cgroup/*/; do mkdir -p "$h/kubelet"; done',
            "c=/sys/fs/cgroup/cpuset; cat $c/cpuset.cpus > $c/kubelet/cpuset.cpus",
            "cat $c/cpuset.mems > $c/kubelet/cpuset.mems",
            # The kubelet reports it as the node's machine ID; each node has its own.
            "tr -d - < /proc/sys/kernel/random/uuid > /etc/machine-id",
            f"mkdir -p {self.pid_dir}",
        ]
        lines += [
            f"echo {value} > /proc/sys/{key}" for key, value in config.REQUIRED_SYSCTLS.items()
        ]
        # Every other node's pods are behind that node's address on the node network.
        lines += [
            f"ip route replace {peer.pod_subnet} via {peer.network_ip}"
            for peer in peers
            if peer != self.node
        ]
        return "\n".join(lines)

    def kill(self) -> None:
        """Lose the node at once: SIGKILL to its init takes every process of the node."""
        docker_run("kill", self.container)

    def restart(self, peers: list[Node]) -> None:
        """Power the node back on (daemons not started: that is the steps' business)."""
        docker_run("start", self.container)
        self.boot(peers)

    def remove(self) -> None:
        docker_run("rm", "--force", "--volumes", self.container, check=False)


def node_containers() -> list[str]:
    """Every node container on this engine, ours or left by another worktree's cluster."""
    if not docker_available():
        return []
    output = docker_run("ps", "--all", "--quiet", "--filter", f"label={config.NODE_LABEL}")
    return output.split()


def docker_available() -> bool:
    """A Docker engine answers (a one-node cluster needs none, nor a docker CLI)."""
    if not shutil.which(docker()):
        return False
    return subprocess.run([docker(), "info"], capture_output=True, check=False).returncode == 0
