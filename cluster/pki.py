"""Certificates and kubeconfigs, made with the openssl CLI (no Python crypto dependency)."""

from __future__ import annotations

import base64
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cluster import config
from cluster.config import Node
from cluster.system import run

DAYS = "3650"


@dataclass(frozen=True)
class Cert:
    """One leaf certificate: subject, usage and subject alternative names."""

    name: str
    common_name: str
    organization: str | None = None
    server: bool = False
    sans: list[str] = field(default_factory=list)


def certificates() -> list[Cert]:
    """The control plane's certificates; names follow kubeadm's where it has one."""
    domain = config.CLUSTER_DOMAIN
    return [
        Cert(
            "apiserver",
            "kube-apiserver",
            server=True,
            sans=[
                f"IP:{config.NODE_IP}",
                f"IP:{config.KUBERNETES_SERVICE_IP}",
                "IP:127.0.0.1",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                f"DNS:kubernetes.default.svc.{domain}",
            ],
        ),
        # Authorised by the system:kubelet-api-admin binding in the harness's manifests.
        Cert("apiserver-kubelet-client", "kube-apiserver-kubelet-client"),
        Cert("admin", "platform-admin", organization="system:masters"),
        Cert("controller-manager", "system:kube-controller-manager"),
        Cert("scheduler", "system:kube-scheduler"),
        # One identity for every node's kube-proxy, as kubeadm's service account is.
        Cert("kube-proxy", "system:kube-proxy"),
        # The aggregation layer's client identity towards extension apiservers. Same CA as
        # the rest (kubeadm uses a second one); --requestheader-allowed-names pins the name.
        Cert("front-proxy-client", "front-proxy-client"),
        # Bound to the platform-cluster:hostpath-provisioner ClusterRole in the manifests.
        Cert("hostpath-provisioner", "platform-cluster:hostpath-provisioner"),
        # Every node's NetworkPolicy enforcer, bound to platform-cluster:kube-router (read-only).
        Cert("kube-router", "platform-cluster:kube-router"),
        # kube-state-metrics, bound to platform-cluster:kube-state-metrics (read-only).
        Cert("kube-state-metrics", "platform-cluster:kube-state-metrics"),
    ]


def node_certificates(node: Node) -> list[Cert]:
    """A node's own pair: its kubelet's client and serving certificates."""
    return [
        # The Node authorizer and NodeRestriction key on exactly this name and group.
        Cert("kubelet", f"system:node:{node.name}", organization="system:nodes"),
        Cert(
            "kubelet-server",
            node.name,
            server=True,
            sans=[f"IP:{node.ip}", f"DNS:{node.name}"],
        ),
    ]


def _key(path: Path) -> None:
    run(
        "openssl",
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        path,
    )
    path.chmod(0o600)


def make_pki(pki: Path) -> None:
    """A fresh CA, the control plane's certificates and the service-account key pair."""
    pki.mkdir(parents=True, exist_ok=True)
    _key(pki / "ca.key")
    run(
        "openssl",
        "req",
        "-x509",
        "-new",
        "-key",
        pki / "ca.key",
        "-days",
        DAYS,
        "-subj",
        "/CN=platform-cluster-ca",
        "-out",
        pki / "ca.crt",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    for cert in certificates():
        _leaf(pki, pki, cert)
    _key(pki / "sa.key")
    run("openssl", "pkey", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub")


def make_node_pki(ca: Path, node: Node, out: Path) -> None:
    """The node's certificates in `out`, with the CA's certificate (never its key)."""
    out.mkdir(parents=True, exist_ok=True)
    if out != ca:
        shutil.copyfile(ca / "ca.crt", out / "ca.crt")
    for cert in node_certificates(node):
        _leaf(ca, out, cert)


def _leaf(ca: Path, out: Path, cert: Cert) -> None:
    key, csr, crt = (out / f"{cert.name}.{ext}" for ext in ("key", "csr", "crt"))
    _key(key)
    subject = f"/CN={cert.common_name}" + (f"/O={cert.organization}" if cert.organization else "")
    run("openssl", "req", "-new", "-key", key, "-subj", subject, "-out", csr)
    extensions = [
        "basicConstraints=critical,CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={'serverAuth' if cert.server else 'clientAuth'}",
    ]
    if cert.sans:
        extensions.append("subjectAltName=" + ",".join(cert.sans))
    ext_file = out / f"{cert.name}.ext"
    ext_file.write_text("\n".join(extensions) + "\n")
    run(
        "openssl",
        "x509",
        "-req",
        "-in",
        csr,
        "-CA",
        ca / "ca.crt",
        "-CAkey",
        ca / "ca.key",
        # No -CAserial: OpenSSL 3 then picks a random serial, and no serial file is left.
        "-days",
        DAYS,
        "-extfile",
        ext_file,
        "-out",
        crt,
    )
    csr.unlink()
    ext_file.unlink()


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, pki: Path, cert_name: str, server: str) -> None:
    """A self-contained kubeconfig (certificates embedded) for the client `cert_name` in `pki`."""
    # JSON is YAML: no YAML library needed.
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "platform",
                "cluster": {
                    "server": server,
                    "certificate-authority-data": _b64(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": cert_name,
                "user": {
                    "client-certificate-data": _b64(pki / f"{cert_name}.crt"),
                    "client-key-data": _b64(pki / f"{cert_name}.key"),
                },
            }
        ],
        "contexts": [{"name": "platform", "context": {"cluster": "platform", "user": cert_name}}],
        "current-context": "platform",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n")
    path.chmod(0o600)
