"""Versions, addresses and paths: every constant the harness shares, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
COREDNS_VERSION = "1.15.0"
# The NetworkPolicy enforcer on every node (cluster/go/kube-router pins the same module).
KUBE_ROUTER_VERSION = "v2.10.0"
PAUSE_IMAGE = "localhost/pause:3.10"
COREDNS_IMAGE = f"localhost/coredns:{COREDNS_VERSION}"
# Debian bookworm's busybox-static; the smoke tests' only image.
TEST_IMAGE = "localhost/platform-busybox:1.35"
# Worker nodes are containers of this image (cluster/nodeimage.py); the tag is a digest of
# everything that goes into it.
NODE_IMAGE_REPOSITORY = "localhost/platform-node"
# The node image's Debian release: the multi-call binary is linked against the machine's glibc
# (Debian 12), and the node must have the same one.
NODE_IMAGE_SUITE = "bookworm"

# The host is node 1 (control plane and a node); NODES counts it. Memory bounds the rest.
DEFAULT_NODES = 3
MAX_NODES = 8
HOST_NODE = "platform-node"
# The harness's own provisioner (cluster/go/cmd/kube/provisioner.go) behind the default class.
PROVISIONER = "platform.local/hostpath"
# Our own bridge, away from docker0 (172.17/16), podman (10.88/16) and docker's pools (172.18+,
# 192.168/16). Its gateway address is also the host node's address: the apiserver and kubelet
# listen on it, so pods reach them and nothing outside the machine can.
BRIDGE = "plk8s0"
NODE_IP = "10.244.0.1"
CLUSTER_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
APISERVER_PORT = 6443
# Worker nodes: containers on a Docker network of their own, bridge plk8s1, one address each;
# the host is its gateway (.1, node 1), worker N is .N.
NODE_NETWORK = "platform-cluster"
NODE_BRIDGE = "plk8s1"
NODE_NETWORK_PREFIX = "10.245.0"
# Labels that mark a node container as ours, whatever worktree started it.
NODE_LABEL = "platform-cluster.node"
# Not etcd's default ports: another etcd on this machine must not clash with ours.
ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
# Marks the iptables rules the harness adds itself, so teardown finds exactly those.
IPTABLES_COMMENT = "platform-cluster"
# Chains created by kube-proxy, the kubelet, the CNI plugins and kube-router (KUBE-ROUTER-*,
# KUBE-POD-FW-*, KUBE-NWPLCY-*).
IPTABLES_CHAIN_PREFIXES = ("KUBE-", "CNI-")
# kube-router's ipsets (a policy's peers and ports; "inet6:" for IPv6 ones). A worker's die with
# its network namespace; the host's are removed by teardown once no rule refers to them.
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-", "kube-router-", "inet6:KUBE-", "inet6:kube-router-")
# kube-router's health endpoint, on each node's loopback only.
KUBE_ROUTER_HEALTH_PORT = 20244
# Job, CronJob and pod series for the chart's alerts and dashboard (cluster/go/kube-state-metrics
# pins the same module), on the host's loopback: the e2e's Prometheus runs on the host.
KUBE_STATE_METRICS_VERSION = "v2.18.0"
KUBE_STATE_METRICS_PORT = 20245
KUBE_STATE_METRICS_TELEMETRY_PORT = 20246
# Only what the alerts and the dashboard read: fewer informers, a narrower ClusterRole.
KUBE_STATE_METRICS_RESOURCES = ("cronjobs", "deployments", "jobs", "nodes", "pods", "statefulsets")
# The e2e's Prometheus (cluster/go/prometheus; module v0.316.0 is release 3.16.0): Debian's 2.42
# is built without Kubernetes service discovery.
PROMETHEUS_VERSION = "3.16.0"
PROMETHEUS_MODULE_VERSION = "v0.316.0"
# The Prometheus Operator's CRDs for the chart's monitors and rules (served like a cluster with
# the operator; no operator runs): the module, its go.sum hash, and the files applied.
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "v0.89.0"
PROMETHEUS_OPERATOR_SUM = "h1:2HA351OwWBa10H6TDhjeSdHOA7wiY71sEivg+z2cykk="
PROMETHEUS_OPERATOR_CRDS = tuple(
    f"example/prometheus-operator-crd/monitoring.coreos.com_{kind}.yaml"
    for kind in ("podmonitors", "prometheusrules", "servicemonitors")
)

# What the host needs, by the program that proves it is installed. The node image has its own
# list (cluster/nodeimage.py).
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
    "ipset": "ipset",
}
# Only for worker nodes: the node image is a debootstrapped Debian.
WORKER_APT_PACKAGES = {"debootstrap": "debootstrap"}
CNI_BIN_DIR = "/usr/lib/cni"
BUSYBOX = "/bin/busybox"

# Host sysctls the kubelet sets (protectKernelDefaults=false); teardown puts them back. They are
# global, not per network namespace: the workers' kubelets set the same ones.
KUBELET_SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
# Sysctls every node needs (set by `up` on the host and restored by `down`; per network
# namespace, so each worker sets its own): routing for pod traffic, and bridged pod traffic
# through iptables so Service DNAT is undone on replies.
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
# Inside every node (the host and each container): sockets and runtime state.
RUN_DIR = Path("/run/platform-cluster")


@dataclass(frozen=True)
class Node:
    """One node: its name, its address and its pod subnet (10.244.N-1.0/24 for node N)."""

    index: int

    @property
    def is_host(self) -> bool:
        return self.index == 1

    @property
    def name(self) -> str:
        return HOST_NODE if self.is_host else f"{HOST_NODE}-{self.index}"

    @property
    def ip(self) -> str:
        """The kubelet's address: the pod bridge's on the host, the node network's on workers."""
        return NODE_IP if self.is_host else f"{NODE_NETWORK_PREFIX}.{self.index}"

    @property
    def network_ip(self) -> str:
        """Where the other nodes route this node's pod subnet to (the host is the gateway)."""
        return f"{NODE_NETWORK_PREFIX}.{self.index}"

    @property
    def pod_subnet(self) -> str:
        return f"10.244.{self.index - 1}.0/24"

    @property
    def pod_gateway(self) -> str:
        return f"10.244.{self.index - 1}.1"


def nodes(count: int) -> list[Node]:
    """Node 1 (the host) to node `count`."""
    return [Node(index) for index in range(1, count + 1)]


def parse_node_count(text: str) -> int:
    """NODES as given on the command line, or a one-line error naming the variable."""
    if not text.strip().isdigit() or not 1 <= int(text) <= MAX_NODES:
        raise ValueError(f"NODES must be a whole number from 1 to {MAX_NODES}, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class NodePaths:
    """Where one node keeps its configuration and state.

    The host node lives in `.cluster/state`; worker N in `.cluster/state/nodes/NAME`, which its
    container mounts at the same path, so every path means the same thing inside and outside.
    """

    root: Path

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "log"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.root / "cni" / "ipam"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    # Sockets stay under /run: the repo path may be too long for a unix socket address.
    @property
    def run(self) -> Path:
        return RUN_DIR

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def containerd_state(self) -> Path:
        return self.run / "containerd"


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
    def kube(self) -> Path:
        """The multi-call binary: `kube COMPONENT [flags]` (cluster/go/cmd/kube)."""
        return self.bin / "kube"

    @property
    def images(self) -> Path:
        return self.top / "images"

    @property
    def state(self) -> Path:
        return self.top / "state"

    @property
    def host(self) -> NodePaths:
        """The host node's paths, shared with the control plane (its etc, pki, logs, pids)."""
        return NodePaths(self.state)

    def node(self, node: Node) -> NodePaths:
        return self.host if node.is_host else NodePaths(self.state / "nodes" / node.name)

    @property
    def pki(self) -> Path:
        return self.host.pki

    @property
    def etc(self) -> Path:
        return self.host.etc

    @property
    def logs(self) -> Path:
        return self.host.logs

    @property
    def pids(self) -> Path:
        return self.host.pids

    @property
    def run(self) -> Path:
        return RUN_DIR

    def volumes(self, node: Node) -> Path:
        """The node's volume directories; a worker's container mounts it at the same path."""
        return self.volume_root / node.name

    @property
    def volume_root(self) -> Path:
        return self.state / "volumes"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def node_count(self) -> Path:
        """How many nodes `up` started (a number; `make cluster-test` reads it too)."""
        return self.state / "node-count"

    @property
    def snapshot(self) -> Path:
        return self.top / "host-snapshot.json"

    @property
    def kubeconfig(self) -> Path:
        return self.top / "kubeconfig"

    @property
    def go_module(self) -> Path:
        return self.repo / "cluster" / "go"


def repo_root() -> Path:
    """The repository this package lives in."""
    return Path(__file__).resolve().parent.parent
