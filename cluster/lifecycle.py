"""`up` and `down`: start the cluster from nothing, and put the machine back as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from cluster import components, config, images, manifests, pki
from cluster.config import Paths
from cluster.system import (
    add_rule,
    daemon_pid,
    kill_cgroup_trees,
    link_exists,
    log,
    processes_matching,
    remove_empty_dirs,
    remove_rules,
    run,
    start_daemon,
    stop_daemon,
    stop_pids,
    unmount_under,
    wait_for,
)

# Start order (teardown has its own: node components, containers, runtime, control plane).
DAEMONS = (
    "etcd",
    "containerd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "hostpath-provisioner",
)
KUBECONFIG_CLIENTS = (
    "controller-manager",
    "scheduler",
    "kubelet",
    "kube-proxy",
    "hostpath-provisioner",
)


def ensure_packages() -> None:
    """apt-get install the Debian packages whose programs are missing."""
    missing = sorted(
        {
            package
            for program, package in config.APT_PACKAGES.items()
            if not (Path(program).exists() if program.startswith("/") else shutil.which(program))
        }
    )
    if not missing:
        return
    log(f"installing {' '.join(missing)} from Debian")
    policy = Path("/usr/sbin/policy-rc.d")
    # Package scripts would start etcd/containerd as system services: the harness runs its own.
    ours = not policy.exists()
    if ours:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], env=env, check=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
            env=env,
            check=True,
        )
    finally:
        if ours:
            policy.unlink()


def build(paths: Paths) -> None:
    images.build_binaries(paths)
    images.build_images(paths)


def _admin_tls(paths: Paths) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(paths.pki / "ca.crt"))
    context.load_cert_chain(paths.pki / "admin.crt", paths.pki / "admin.key")
    return context


def _get(url: str, context: ssl.SSLContext | None = None) -> bytes:
    with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310 (our own URL)
        body: bytes = response.read()
        return body


def healthy(paths: Paths) -> bool:
    """`up` finished, every daemon is the process it started and the apiserver is ready."""
    if not (paths.state / "ready").exists():
        return False
    if not all(daemon_pid(name, paths.pids) for name in DAEMONS):
        return False
    try:
        return _get(f"{components.APISERVER_URL}/readyz", _admin_tls(paths)) == b"ok"
    except OSError:
        return False


def leftovers(paths: Paths) -> bool:
    """Anything an earlier (possibly interrupted) run left behind."""
    return paths.state.exists() or paths.run.exists() or link_exists(config.BRIDGE)


def kubectl(paths: Paths, *args: str, input_text: str | None = None) -> str:
    return run("kubectl", "--kubeconfig", paths.kubeconfig, *args, input_text=input_text)


def _snapshot_host(paths: Paths) -> None:
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


def _network() -> None:
    """The pod bridge, made before any pod so the node address exists from the start."""
    if not link_exists(config.BRIDGE):
        run("ip", "link", "add", config.BRIDGE, "type", "bridge")
    run("ip", "addr", "replace", f"{config.NODE_IP}/24", "dev", config.BRIDGE)
    run("ip", "link", "set", config.BRIDGE, "up")
    # dockerd sets FORWARD's policy to DROP, and br_netfilter sends bridged pod traffic
    # through FORWARD: accept what enters or leaves our bridge.
    for direction in ("-i", "-o"):
        add_rule(
            4,
            "filter",
            "FORWARD",
            [direction, config.BRIDGE, "-j", "ACCEPT"],
            config.IPTABLES_COMMENT,
        )


def up(paths: Paths) -> None:
    """Start the whole cluster (building what is missing); a no-op when it already runs."""
    started = time.monotonic()
    ensure_packages()
    if healthy(paths):
        log("already running")
        _usage(paths)
        return
    if leftovers(paths):
        log("cleaning up after an earlier run")
        down(paths)
    build(paths)
    _snapshot_host(paths)
    for directory in (paths.etc, paths.pids, paths.logs, paths.run):
        directory.mkdir(parents=True, exist_ok=True)
    pki.make_pki(paths.pki)
    pki.write_kubeconfig(paths.kubeconfig, paths.pki, "admin", components.APISERVER_URL)
    for client in KUBECONFIG_CLIENTS:
        pki.write_kubeconfig(
            paths.etc / f"{client}.kubeconfig", paths.pki, client, components.APISERVER_URL
        )
    _network()

    start = {
        "etcd": components.etcd,
        "containerd": components.containerd,
        "kube-apiserver": components.apiserver,
        "kube-controller-manager": components.controller_manager,
        "kube-scheduler": components.scheduler,
        "kubelet": components.kubelet,
        "kube-proxy": components.kube_proxy,
        "hostpath-provisioner": components.hostpath_provisioner,
    }

    def launch(name: str) -> None:
        start_daemon(name, start[name](paths), paths.pids, paths.logs)
        log(f"started {name}")

    launch("etcd")
    launch("containerd")
    wait_for("etcd", lambda: b"true" in _get(f"{components.ETCD_URL}/health"), 30)
    launch("kube-apiserver")
    wait_for("containerd", lambda: run("ctr", "--address", paths.containerd_socket, "version"), 30)
    for archive in images.image_archives(paths).values():
        images.import_archive(paths, archive)
    tls = _admin_tls(paths)
    wait_for("kube-apiserver", lambda: _get(f"{components.APISERVER_URL}/readyz", tls) == b"ok", 90)
    for name in DAEMONS[3:]:
        launch(name)
    kubectl(paths, "apply", "--server-side", "-f", "-", input_text=manifests.addons())
    wait_for("node registration", lambda: kubectl(paths, "get", "node", config.NODE_NAME), 60)
    kubectl(paths, "wait", "--for=condition=Ready", f"node/{config.NODE_NAME}", "--timeout=90s")
    kubectl(paths, "-n", "kube-system", "rollout", "status", "deployment/coredns", "--timeout=120s")
    wait_for(
        "default service account", lambda: kubectl(paths, "get", "serviceaccount", "default"), 30
    )
    # Only a complete `up` counts as running: an interrupted one is cleaned up next time.
    (paths.state / "ready").touch()
    log(f"cluster ready in {time.monotonic() - started:.0f} s")
    _usage(paths)


def _usage(paths: Paths) -> None:
    print(
        f"""
The test cluster is up ({config.KUBERNETES_VERSION}, node {config.NODE_NAME}).
  export KUBECONFIG={paths.kubeconfig}
  kubectl get nodes
  make cluster-load IMAGES="platform-api:dev"   # images for pods (imagePullPolicy: IfNotPresent)
  make cluster-test                              # the smoke suite
  make cluster-down                              # stop it and clean the machine
Logs: {paths.logs}/"""
    )


def down(paths: Paths) -> None:
    """Stop everything `up` started and remove every trace it left on the machine."""
    started = time.monotonic()
    _stop_processes(paths)
    proxy = paths.bin / "kube-proxy"
    if proxy.exists():
        subprocess.run(components.proxy_cleanup(paths), capture_output=True, check=False)
    rules = sum(
        remove_rules(family, config.IPTABLES_COMMENT, config.IPTABLES_CHAIN_PREFIXES)
        for family in (4, 6)
    )
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
    if link_exists(config.BRIDGE):
        run("ip", "link", "delete", config.BRIDGE)
    _restore_sysctls(snapshot.get("sysctls", {}))
    _remove_host_entries(paths, snapshot.get("dirs_existed", {}))
    for directory in (paths.state, paths.run):
        shutil.rmtree(directory, ignore_errors=True)
    paths.kubeconfig.unlink(missing_ok=True)
    paths.snapshot.unlink(missing_ok=True)
    log(
        f"down in {time.monotonic() - started:.1f} s: {rules} iptables rules/chains, "
        f"{mounts} mounts, {len(namespaces)} network namespaces removed"
    )


def _stop_strays(paths: Paths, *signatures: str) -> None:
    """Our daemons whose PID files were lost (state removed by hand), by command line."""
    known = {daemon_pid(name, paths.pids) for name in DAEMONS} | {os.getpid()}
    for signature in signatures:
        strays = [pid for pid in processes_matching(signature) if pid not in known]
        if strays:
            log(f"stopping strays {signature} (pids {strays})")
            stop_pids(strays)


def _stop_processes(paths: Paths) -> None:
    """Node components first, then every container, then the runtime and the control plane."""
    for name in (
        "hostpath-provisioner",
        "kube-proxy",
        "kube-scheduler",
        "kube-controller-manager",
        "kubelet",
    ):
        stop_daemon(name, paths.pids)
    _stop_strays(paths, str(paths.bin / "kube"))
    killed = kill_cgroup_trees("kubepods")
    if killed:
        log(f"killed {killed} container processes")
    # The shims outlive containerd; they are ours when they talk to our socket.
    # Their containers are dead: nothing left to shut down cleanly.
    stop_pids(processes_matching("containerd-shim", str(paths.containerd_socket)), timeout=1)
    for name in ("containerd", "kube-apiserver", "etcd"):
        stop_daemon(name, paths.pids)
    _stop_strays(paths, str(paths.etc / "containerd.toml"), f"--data-dir={paths.etcd_data}")


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
            if link.is_symlink() and str(link.readlink()).startswith(str(paths.pod_logs)):
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


def status(paths: Paths) -> int:
    for name in DAEMONS:
        pid = daemon_pid(name, paths.pids)
        print(f"{name:25} {'pid ' + str(pid) if pid else 'not running'}")
    return 0 if healthy(paths) else 1


def load(paths: Paths, names: list[str]) -> None:
    """`docker save` the images and import them into the node's containerd."""
    save = subprocess.Popen(["docker", "save", *names], stdout=subprocess.PIPE)
    imported = subprocess.run(
        ["ctr", "--address", str(paths.containerd_socket), "-n", "k8s.io", "images", "import", "-"],
        stdin=save.stdout,
        check=False,
    )
    if save.stdout:
        save.stdout.close()
    if save.wait() != 0 or imported.returncode != 0:
        raise RuntimeError(f"loading {' '.join(names)} failed")
    log(f"loaded {' '.join(names)}")
