"""Versions, addresses and paths: every constant the harness shares, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
COREDNS_VERSION = "1.15.0"
PAUSE_IMAGE = "localhost/pause:3.10"
COREDNS_IMAGE = f"localhost/coredns:{COREDNS_VERSION}"
# Debian bookworm's busybox-static; the smoke tests' only image.
TEST_IMAGE = "localhost/platform-busybox:1.35"

NODE_NAME = "platform-node"
# The harness's own provisioner (cluster/go/cmd/kube/provisioner.go) behind the default class.
PROVISIONER = "platform.local/hostpath"
# Our own bridge, away from docker0 (172.17/16), podman (10.88/16) and docker's pools (172.18+,
# 192.168/16). Its gateway address is also the node's address: the apiserver and kubelet listen
# on it, so pods reach them and nothing outside the machine can.
BRIDGE = "plk8s0"
NODE_IP = "10.244.0.1"
POD_SUBNET = "10.244.0.0/24"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
# Not etcd's default ports: another etcd on this machine must not clash with ours.
ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
# Marks the iptables rules the harness adds itself, so teardown finds exactly those.
IPTABLES_COMMENT = "platform-cluster"
# Chains created by kube-proxy, the kubelet and the CNI plugins.
IPTABLES_CHAIN_PREFIXES = ("KUBE-", "CNI-")

APT_PACKAGES = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "ctr": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "runc": "runc",
    "/usr/lib/cni/bridge": "containernetworking-plugins",
    "/bin/busybox": "busybox-static",
    "openssl": "openssl",
    "iptables": "iptables",
}
CNI_BIN_DIR = "/usr/lib/cni"
BUSYBOX = "/bin/busybox"

# Host sysctls the kubelet sets (protectKernelDefaults=false); teardown puts them back.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Host sysctls the cluster needs (set by `up`, restored by `down`): routing for pod traffic,
# and bridged pod traffic through iptables so Service DNAT is undone on replies.
REQUIRED_SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}
NETNS_DIR = Path("/run/netns")
# Fixed paths outside .cluster/ that components write to. Teardown removes our entries and,
# when the directory was not there before, the directory once it is empty.
CONTAINER_LOG_LINKS = Path("/var/log/containers")  # kubelet's symlinks (not configurable)
CNI_CACHE = Path("/var/lib/cni")  # libcni's result cache inside containerd
SHIM_SOCKETS = Path("/run/containerd")  # containerd 1.6 keeps shim sockets here
HOST_DIRS = (CONTAINER_LOG_LINKS, CNI_CACHE, SHIM_SOCKETS, NETNS_DIR)


@dataclass(frozen=True)
class Paths:
    """Where everything lives. Build output and state under the repo's `.cluster/`."""

    repo: Path

    @property
    def top(self) -> Path:
        return self.repo / ".cluster"

    @property
    def bin(self) -> Path:
        return self.top / "bin"

    @property
    def images(self) -> Path:
        return self.top / "images"

    @property
    def state(self) -> Path:
        return self.top / "state"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def etc(self) -> Path:
        return self.state / "etc"

    @property
    def logs(self) -> Path:
        return self.state / "log"

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def containerd_root(self) -> Path:
        return self.state / "containerd"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def pod_logs(self) -> Path:
        return self.state / "pod-logs"

    @property
    def volumes(self) -> Path:
        return self.state / "volumes"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def snapshot(self) -> Path:
        return self.top / "host-snapshot.json"

    @property
    def kubeconfig(self) -> Path:
        return self.top / "kubeconfig"

    @property
    def go_module(self) -> Path:
        return self.repo / "cluster" / "go"

    # Sockets stay under /run: the repo path may be too long for a unix socket address.
    @property
    def run(self) -> Path:
        return Path("/run/platform-cluster")

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"


def repo_root() -> Path:
    """The repository this package lives in."""
    return Path(__file__).resolve().parent.parent
