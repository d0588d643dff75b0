"""Each daemon's configuration files and command line.

`configure_*` functions write files; every other function only returns a command line. Both
take a `Context`: the cluster's paths and the node the daemon runs on (control-plane daemons
run on the host, node 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cluster import config
from cluster.config import Node, NodePaths, Paths

APISERVER_URL = f"https://{config.NODE_IP}:{config.APISERVER_PORT}"
ETCD_URL = f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}"
HOST_RESOLV_CONF = Path("/etc/resolv.conf")


@dataclass(frozen=True)
class Context:
    """What a daemon's configuration depends on: the cluster's paths and its node."""

    paths: Paths
    node: Node

    @property
    def local(self) -> NodePaths:
        """The node's own paths (the same inside its container as on the host)."""
        return self.paths.node(self.node)

    def kube(self, component: str) -> list[str]:
        """The multi-call binary invoked as `component`."""
        return [str(self.paths.kube), component]


def etcd(ctx: Context) -> list[str]:
    """etcd on loopback only, plain HTTP: the apiserver is its only client."""
    return [
        "etcd",
        "--name=platform",
        f"--data-dir={ctx.paths.etcd_data}",
        f"--listen-client-urls={ETCD_URL}",
        f"--advertise-client-urls={ETCD_URL}",
        f"--listen-peer-urls=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        f"--initial-cluster=platform=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        "--listen-metrics-urls=",
        "--log-level=warn",
        "--logger=zap",
    ]


def containerd_config_file(ctx: Context) -> Path:
    return ctx.local.etc / "containerd.toml"


def configure_containerd(ctx: Context) -> None:
    """containerd's config (its own root, state and socket) and the node's CNI network."""
    local = ctx.local
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    local.etc.mkdir(parents=True, exist_ok=True)
    containerd_config_file(ctx).write_text(
        f"""\
version = 2
root = "{local.containerd_root}"
state = "{local.containerd_state}"
# The default (-999) needs CAP_SYS_RESOURCE, which these machines withhold.
oom_score = 0

[grpc]
  address = "{local.containerd_socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{local.containerd_root}/opt"

{cri}]
  sandbox_image = "{config.PAUSE_IMAGE}"
  # Without it every sandbox fails ("can't get final child's PID from pipe: EOF"): runc may
  # not lower oom_score_adj below the shim's own without CAP_SYS_RESOURCE.
  restrict_oom_score_adj = true
  enable_selinux = false

{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

{cri}.cni]
  bin_dir = "{config.CNI_BIN_DIR}"
  conf_dir = "{local.cni_conf_dir}"
"""
    )
    local.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "platform-cluster",
        "plugins": [
            {
                "type": "bridge",
                "bridge": config.BRIDGE,
                "isGateway": True,
                # No masquerade: pods need no egress, and it would add a chain per pod.
                "ipMasq": False,
                # A pod reaching itself through its Service hairpins through the bridge.
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": ctx.node.pod_subnet, "gateway": ctx.node.pod_gateway}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(local.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (local.cni_conf_dir / "10-platform.conflist").write_text(json.dumps(conflist, indent=2))


def containerd(ctx: Context) -> list[str]:
    """containerd with its own root, state and socket, apart from dockerd's containerd."""
    return ["containerd", "--config", str(containerd_config_file(ctx))]


def ctr(ctx: Context, *args: str) -> list[str]:
    """containerd's CLI against the node's containerd, in the namespace the kubelet uses."""
    return ["ctr", "--address", str(ctx.local.containerd_socket), "-n", "k8s.io", *args]


def apiserver(ctx: Context) -> list[str]:
    pki = ctx.paths.pki
    return [
        *ctx.kube("kube-apiserver"),
        f"--advertise-address={config.NODE_IP}",
        f"--bind-address={config.NODE_IP}",
        f"--secure-port={config.APISERVER_PORT}",
        f"--etcd-servers={ETCD_URL}",
        f"--service-cluster-ip-range={config.SERVICE_CIDR}",
        f"--client-ca-file={pki / 'ca.crt'}",
        f"--tls-cert-file={pki / 'apiserver.crt'}",
        f"--tls-private-key-file={pki / 'apiserver.key'}",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={pki / 'ca.crt'}",
        "--kubelet-preferred-address-types=InternalIP",
        f"--service-account-issuer=https://kubernetes.default.svc.{config.CLUSTER_DOMAIN}",
        f"--service-account-key-file={pki / 'sa.pub'}",
        f"--service-account-signing-key-file={pki / 'sa.key'}",
        "--authorization-mode=Node,RBAC",
        # The aggregation layer (metrics-server and other extension apiservers); without it
        # every component logs a missing requestheader CA bundle.
        f"--requestheader-client-ca-file={pki / 'ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
        # PodSecurity is on by default; listed so the harness's promise is visible here.
        "--enable-admission-plugins=NodeRestriction,PodSecurity",
        "--allow-privileged=true",
        "--profiling=false",
        "--v=1",
    ]


def _control_plane_common(ctx: Context, name: str) -> list[str]:
    kubeconfig = ctx.paths.etc / f"{name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        # One instance of each: skip the lease round-trips of leader election.
        "--leader-elect=false",
        "--v=1",
    ]


def controller_manager(ctx: Context) -> list[str]:
    pki = ctx.paths.pki
    return [
        *ctx.kube("kube-controller-manager"),
        *_control_plane_common(ctx, "controller-manager"),
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={config.SERVICE_CIDR}",
        f"--cluster-cidr={config.CLUSTER_CIDR}",
        # The harness gives each node its pod subnet (Node.pod_subnet) in its CNI config.
        "--allocate-node-cidrs=false",
    ]


def scheduler(ctx: Context) -> list[str]:
    return [*ctx.kube("kube-scheduler"), *_control_plane_common(ctx, "scheduler")]


def kubelet_config_file(ctx: Context) -> Path:
    return ctx.local.etc / "kubelet.json"


def resolv_conf(ctx: Context) -> Path:
    """The host's resolver file; a worker gets a copy (its own is Docker's 127.0.0.11)."""
    return HOST_RESOLV_CONF if ctx.node.is_host else ctx.local.etc / "resolv.conf"


def configure_kubelet(ctx: Context) -> None:
    local = ctx.local
    if not ctx.node.is_host:
        resolv_conf(ctx).write_text(HOST_RESOLV_CONF.read_text())
    document: dict[str, object] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": ctx.node.ip,
        "port": 10250,
        "readOnlyPort": 0,
        # Loopback of the node's own network namespace (a worker's container has its own).
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(local.pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(local.pki / "kubelet-server.crt"),
        "tlsPrivateKeyFile": str(local.pki / "kubelet-server.key"),
        "containerRuntimeEndpoint": f"unix://{local.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # These machines are cgroup v1; recent kubelets refuse it unless told otherwise.
        "failCgroupV1": False,
        # The default (-999) needs CAP_SYS_RESOURCE.
        "oomScoreAdj": 0,
        "clusterDNS": [config.DNS_SERVICE_IP],
        "clusterDomain": config.CLUSTER_DOMAIN,
        "resolvConf": str(resolv_conf(ctx)),
        "podLogsDir": str(local.pod_logs),
        "failSwapOn": False,
        "serializeImagePulls": False,
        # A shared build machine's disk fills with others' images: evict only when truly full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "nodeStatusReportFrequency": "10s",
    }
    if not ctx.node.is_host:
        # As kind does: pods under /kubelet of the container's own cgroup namespace, apart from
        # the node's daemons in its root (cluster/nodes.py creates it).
        document["cgroupRoot"] = "/kubelet"
    kubelet_config_file(ctx).write_text(json.dumps(document, indent=2))


def kubelet(ctx: Context) -> list[str]:
    local = ctx.local
    return [
        *ctx.kube("kubelet"),
        f"--config={kubelet_config_file(ctx)}",
        f"--kubeconfig={local.etc / 'kubelet.kubeconfig'}",
        f"--root-dir={local.kubelet_root}",
        f"--hostname-override={ctx.node.name}",
        f"--node-ip={ctx.node.ip}",
        "--v=1",
    ]


def kube_proxy_config_file(ctx: Context) -> Path:
    return ctx.local.etc / "kube-proxy.json"


def configure_kube_proxy(ctx: Context) -> None:
    document = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(ctx.local.etc / "kube-proxy.kubeconfig")},
        "hostnameOverride": ctx.node.name,
        "clusterCIDR": config.CLUSTER_CIDR,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,
        # NodePorts only on the node's own address, never on the machine's interfaces.
        "nodePortAddresses": [f"{ctx.node.ip}/32"],
        # Zeros leave the host's conntrack sysctls as they are.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # true would set net.ipv4.conf.all.route_localnet on the host.
        "iptables": {"localhostNodePorts": False, "masqueradeAll": False},
    }
    kube_proxy_config_file(ctx).write_text(json.dumps(document, indent=2))


def kube_proxy(ctx: Context) -> list[str]:
    return [*ctx.kube("kube-proxy"), f"--config={kube_proxy_config_file(ctx)}", "--v=1"]


def kube_router(ctx: Context) -> list[str]:
    """kube-router as a NetworkPolicy enforcer only: it programs the node's iptables and ipsets
    from the cluster's policies; routing stays static (cluster/network.py) and Services stay
    kube-proxy's."""
    return [
        str(ctx.paths.bin / "kube-router"),
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        f"--kubeconfig={ctx.local.etc / 'kube-router.kubeconfig'}",
        f"--hostname-override={ctx.node.name}",
        f"--service-cluster-ip-range={config.SERVICE_CIDR}",
        "--enable-ipv6=false",
        # Loopback only: on the host, the machine's own interfaces must not serve it.
        "--health-addr=127.0.0.1",
        f"--health-port={config.KUBE_ROUTER_HEALTH_PORT}",
        "--metrics-port=0",
        "--v=1",
    ]


def kube_state_metrics(ctx: Context) -> list[str]:
    """kube-state-metrics: the Job, CronJob and pod series the chart's alerts and dashboard read
    (a cluster add-on users run themselves), on the host's loopback."""
    return [
        str(ctx.paths.bin / "kube-state-metrics"),
        f"--kubeconfig={ctx.paths.etc / 'kube-state-metrics.kubeconfig'}",
        "--host=127.0.0.1",
        f"--port={config.KUBE_STATE_METRICS_PORT}",
        "--telemetry-host=127.0.0.1",
        f"--telemetry-port={config.KUBE_STATE_METRICS_TELEMETRY_PORT}",
        f"--resources={','.join(config.KUBE_STATE_METRICS_RESOURCES)}",
        "--v=1",
    ]


def hostpath_provisioner(ctx: Context) -> list[str]:
    """The default StorageClass's provisioner: a world-writable directory per claim, on the
    node the scheduler picked (every node's directory is under one host directory, made by
    `up`)."""
    return [
        *ctx.kube("hostpath-provisioner"),
        f"--kubeconfig={ctx.paths.etc / 'hostpath-provisioner.kubeconfig'}",
        f"--name={config.PROVISIONER}",
        f"--dir={ctx.paths.volume_root}",
    ]


def proxy_cleanup(paths: Paths) -> list[str]:
    """kube-proxy's own removal of the rules it made."""
    return [str(paths.kube), "kube-proxy", "--cleanup", "--v=0"]
