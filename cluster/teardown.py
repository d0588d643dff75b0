"""`down`: stop everything `up` started and put the machine back as it was before `up`."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from cluster import components, config, network
from cluster.config import Paths
from cluster.machines import docker_run, node_containers
from cluster.steps import DAEMONS, host_daemons
from cluster.system import (
    daemon_pid,
    destroy_ipsets,
    kill_cgroup_trees,
    log,
    processes_matching,
    remove_empty_dirs,
    remove_rules,
    stop_daemon,
    stop_pids,
    unmount_under,
)


def snapshot_host(paths: Paths) -> None:
    """Record what teardown must restore (sysctls, netns, dirs), then set what we need."""
    keys = (*config.KUBELET_SYSCTLS, *config.REQUIRED_SYSCTLS)
    sysctls = {key: Path("/proc/sys", key).read_text().strip() for key in keys}
    netns = sorted(p.name for p in config.NETNS_DIR.iterdir()) if config.NETNS_DIR.exists() else []
    snapshot = {
        "sysctls": sysctls,
        "netns": netns,
        "dirs_existed": {str(d): d.exists() for d in config.HOST_DIRS},
    }
    paths.top.mkdir(parents=True, exist_ok=True)
    paths.snapshot.write_text(json.dumps(snapshot, indent=2))
    for key, value in config.REQUIRED_SYSCTLS.items():
        Path("/proc/sys", key).write_text(value)


def down(paths: Paths) -> None:
    """Stop everything `up` started and remove every trace it left on the machine."""
    started = time.monotonic()
    containers = node_containers()
    if containers:
        # Each container is a whole node: its processes, mounts and namespaces go with it.
        docker_run("rm", "--force", "--volumes", *containers)
    network.remove_node_network()
    _stop_host_processes(paths)
    proxy = paths.kube
    if proxy.exists():
        subprocess.run(components.proxy_cleanup(paths), capture_output=True, check=False)
    rules = sum(
        remove_rules(family, config.IPTABLES_COMMENT, config.IPTABLES_CHAIN_PREFIXES)
        for family in (4, 6)
    )
    ipsets = destroy_ipsets(config.IPSET_PREFIXES)
    snapshot = json.loads(paths.snapshot.read_text()) if paths.snapshot.exists() else {}
    netns_before = set(snapshot.get("netns", []))
    namespaces = []
    if config.NETNS_DIR.exists():
        namespaces = [
            p
            for p in config.NETNS_DIR.iterdir()
            if p.name.startswith("cni-") and p.name not in netns_before
        ]
    mounts = unmount_under(paths.state, paths.run, *namespaces)
    for namespace in namespaces:
        namespace.unlink(missing_ok=True)
    network.remove_host_bridge()
    _restore_sysctls(snapshot.get("sysctls", {}))
    _remove_host_entries(paths, snapshot.get("dirs_existed", {}))
    for directory in (paths.state, paths.run):
        shutil.rmtree(directory, ignore_errors=True)
    paths.kubeconfig.unlink(missing_ok=True)
    paths.snapshot.unlink(missing_ok=True)
    log(
        f"down in {time.monotonic() - started:.1f} s: {len(containers)} node containers, "
        f"{rules} iptables rules/chains, {ipsets} ipsets, {mounts} mounts, "
        f"{len(namespaces)} network namespaces removed"
    )


def _stop_strays(paths: Paths, *signatures: str) -> None:
    """Our daemons whose PID files were lost (state removed by hand), by command line."""
    known = {daemon_pid(name, paths.pids) for name in host_daemons()} | {os.getpid()}
    for signature in signatures:
        strays = [pid for pid in processes_matching(signature) if pid not in known]
        if strays:
            log(f"stopping strays {signature} (pids {strays})")
            stop_pids(strays)


def _stop_host_processes(paths: Paths) -> None:
    """The host's daemons in the reverse of their start order; the pods with their kubelet
    (a pod still watching the apiserver holds up the apiserver's graceful stop)."""
    for daemon in reversed(DAEMONS):
        stop_daemon(daemon.name, paths.pids)
        if daemon.name == "kubelet":
            _stop_containers(paths)
    _stop_strays(paths, str(paths.etc / "containerd.toml"), f"--data-dir={paths.etcd_data}")


def _stop_containers(paths: Paths) -> None:
    """Every pod's processes, even when containerd or the kubelet died first."""
    # A kubelet whose PID file was lost would start the pods again.
    _stop_strays(paths, str(paths.kube))
    killed = kill_cgroup_trees("kubepods")
    if killed:
        log(f"killed {killed} container processes")
    # The shims outlive containerd; they are ours when they talk to our socket.
    # Their containers are dead: nothing left to shut down cleanly.
    stop_pids(processes_matching("containerd-shim", str(paths.host.containerd_socket)), timeout=1)


def _restore_sysctls(recorded: dict[str, str]) -> None:
    # A dockerd started meanwhile relies on forwarding too: never turn it off under it.
    keep = set(config.REQUIRED_SYSCTLS) if processes_matching("dockerd") else set()
    for key, value in recorded.items():
        if key not in keep:
            Path("/proc/sys", key).write_text(value)


def _remove_host_entries(paths: Paths, existed: dict[str, bool]) -> None:
    """Our files in the fixed host directories; the directories too if we created them."""
    if config.CONTAINER_LOG_LINKS.is_dir():
        for link in config.CONTAINER_LOG_LINKS.iterdir():
            if link.is_symlink() and str(link.readlink()).startswith(str(paths.host.pod_logs)):
                link.unlink()
    for result in config.CNI_CACHE.glob("results/*"):
        # containerd's cache of CNI results: ours name our network or its loopback, and are
        # stale once their network namespace is gone.
        sandboxes = re.findall(r'"sandbox":"([^"]+)"', result.read_text(errors="replace"))
        ours = result.name.startswith(("platform-cluster-", "cni-loopback-"))
        if ours and not any(Path(s).exists() for s in sandboxes):
            result.unlink(missing_ok=True)
    for directory in config.HOST_DIRS:
        if not existed.get(str(directory), True):
            remove_empty_dirs(directory)
