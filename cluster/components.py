"""Each daemon's configuration files and command line, in start order."""

from __future__ import annotations

import json
from pathlib import Path

from cluster import config
from cluster.config import Paths

APISERVER_URL = f"https://{config.NODE_IP}:{config.APISERVER_PORT}"
ETCD_URL = f"http://127.0.0.1:{config.ETCD_CLIENT_PORT}"


def etcd(paths: Paths) -> list[str]:
    """etcd on loopback only, plain HTTP: the apiserver is its only client."""
    return [
        "etcd",
        "--name=platform",
        f"--data-dir={paths.etcd_data}",
        f"--listen-client-urls={ETCD_URL}",
        f"--advertise-client-urls={ETCD_URL}",
        f"--listen-peer-urls=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        f"--initial-advertise-peer-urls=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        f"--initial-cluster=platform=http://127.0.0.1:{config.ETCD_PEER_PORT}",
        "--listen-metrics-urls=",
        "--log-level=warn",
        "--logger=zap",
    ]


def containerd(paths: Paths) -> list[str]:
    """containerd with its own root, state and socket, apart from dockerd's containerd."""
    conf = paths.etc / "containerd.toml"
    cri = '[plugins."io.containerd.grpc.v1.cri"'
    conf.write_text(
        f"""\
version = 2
root = "{paths.containerd_root}"
state = "{paths.containerd_state}"
# The default (-999) needs CAP_SYS_RESOURCE, which these machines withhold.
oom_score = 0

[grpc]
  address = "{paths.containerd_socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{paths.containerd_root}/opt"

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
  conf_dir = "{paths.cni_conf_dir}"
"""
    )
    paths.cni_conf_dir.mkdir(parents=True, exist_ok=True)
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
                    "ranges": [[{"subnet": config.POD_SUBNET, "gateway": config.NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(paths.cni_ipam_dir),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (paths.cni_conf_dir / "10-platform.conflist").write_text(json.dumps(conflist, indent=2))
    return ["containerd", "--config", str(conf)]


def apiserver(paths: Paths) -> list[str]:
    pki = paths.pki
    return [
        str(paths.bin / "kube-apiserver"),
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


def _control_plane_common(paths: Paths, name: str) -> list[str]:
    kubeconfig = paths.etc / f"{name}.kubeconfig"
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        # One instance of each: skip the lease round-trips of leader election.
        "--leader-elect=false",
        "--v=1",
    ]


def controller_manager(paths: Paths) -> list[str]:
    pki = paths.pki
    return [
        str(paths.bin / "kube-controller-manager"),
        *_control_plane_common(paths, "controller-manager"),
        f"--service-account-private-key-file={pki / 'sa.key'}",
        f"--root-ca-file={pki / 'ca.crt'}",
        "--use-service-account-credentials=true",
        f"--cluster-signing-cert-file={pki / 'ca.crt'}",
        f"--cluster-signing-key-file={pki / 'ca.key'}",
        f"--service-cluster-ip-range={config.SERVICE_CIDR}",
        f"--cluster-cidr={config.CLUSTER_CIDR}",
        "--allocate-node-cidrs=false",
    ]


def scheduler(paths: Paths) -> list[str]:
    return [str(paths.bin / "kube-scheduler"), *_control_plane_common(paths, "scheduler")]


def kubelet(paths: Paths) -> list[str]:
    pki = paths.pki
    conf = paths.etc / "kubelet.json"
    document = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": config.NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-server.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-server.key"),
        "containerRuntimeEndpoint": f"unix://{paths.containerd_socket}",
        "cgroupDriver": "cgroupfs",
        # These machines are cgroup v1; recent kubelets refuse it unless told otherwise.
        "failCgroupV1": False,
        # The default (-999) needs CAP_SYS_RESOURCE.
        "oomScoreAdj": 0,
        "clusterDNS": [config.DNS_SERVICE_IP],
        "clusterDomain": config.CLUSTER_DOMAIN,
        "resolvConf": "/etc/resolv.conf",
        "podLogsDir": str(paths.pod_logs),
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
    conf.write_text(json.dumps(document, indent=2))
    return [
        str(paths.bin / "kubelet"),
        f"--config={conf}",
        f"--kubeconfig={paths.etc / 'kubelet.kubeconfig'}",
        f"--root-dir={paths.kubelet_root}",
        f"--hostname-override={config.NODE_NAME}",
        f"--node-ip={config.NODE_IP}",
        "--v=1",
    ]


def kube_proxy(paths: Paths) -> list[str]:
    conf = paths.etc / "kube-proxy.json"
    document = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(paths.etc / "kube-proxy.kubeconfig")},
        "hostnameOverride": config.NODE_NAME,
        "clusterCIDR": config.CLUSTER_CIDR,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "oomScoreAdj": 0,
        # NodePorts only on the node's bridge address, never on the machine's interfaces.
        "nodePortAddresses": [f"{config.NODE_IP}/32"],
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
    conf.write_text(json.dumps(document, indent=2))
    return [str(paths.bin / "kube-proxy"), f"--config={conf}", "--v=1"]


def hostpath_provisioner(paths: Paths) -> list[str]:
    """The default StorageClass's provisioner: a world-writable directory per claim."""
    paths.volumes.mkdir(parents=True, exist_ok=True)
    return [
        str(paths.bin / "kube"),
        "hostpath-provisioner",
        f"--kubeconfig={paths.etc / 'hostpath-provisioner.kubeconfig'}",
        f"--name={config.PROVISIONER}",
        f"--dir={paths.volumes}",
    ]


def proxy_cleanup(paths: Paths) -> list[str]:
    """kube-proxy's own removal of the rules it made."""
    return [str(paths.bin / "kube-proxy"), "--cleanup", "--v=0"]


def written_configs(paths: Paths) -> list[Path]:
    return sorted(paths.etc.glob("*"))
