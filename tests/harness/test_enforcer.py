"""The NetworkPolicy enforcer: the version the harness reports is the module it builds, and each
node's kube-router only enforces policies, for its own node, with its health port on loopback."""

from __future__ import annotations

import re
from pathlib import Path

from cluster import components, config, images, manifests, nodeimage, pki
from cluster.config import Paths
from cluster.steps import BY_NAME, STEPS, Daemon, Role
from tests.harness import pins
from tests.harness.pins import go_mod_pins


def test_the_pinned_module_is_the_version_the_harness_stamps() -> None:
    required, tool = go_mod_pins("kube-router", "github.com/cloudnativelabs/kube-router/v2")

    assert required == config.KUBE_ROUTER_VERSION
    assert tool == images.KUBE_ROUTER_PACKAGE
    assert f"Version={config.KUBE_ROUTER_VERSION}" in images.kube_router_ldflags()


def test_kube_router_runs_the_firewall_only_for_its_own_node(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    for node in config.nodes(3):
        argv = components.kube_router(components.Context(paths, node))
        flags = pins.flags(argv)

        assert argv[0] == str(paths.bin / "kube-router")
        assert (flags["run-firewall"], flags["run-router"], flags["run-service-proxy"]) == (
            "true",
            "false",
            "false",
        )
        assert flags["hostname-override"] == node.name
        assert flags["kubeconfig"] == str(paths.node(node).etc / "kube-router.kubeconfig")
        assert flags["health-addr"] == "127.0.0.1"
        assert flags["service-cluster-ip-range"] == config.SERVICE_CIDR


def test_every_node_starts_it_after_its_node_is_registered_and_its_rbac_applied() -> None:
    step = BY_NAME["kube-router"]
    order = [s.name for s in STEPS]

    assert step.role is Role.NODE
    assert set(step.needs) == {"kubelet", "addons"}
    kubelet = BY_NAME["kubelet"]
    assert isinstance(kubelet, Daemon)
    assert kubelet.ready is not None
    assert order.index("addons") < order.index("kube-router")


def test_its_identity_is_bound_to_a_read_only_role() -> None:
    identities = {cert.name: cert.common_name for cert in pki.certificates()}
    addons = manifests.addons()
    role = addons.split("name: platform-cluster:kube-router\nrules:", 1)[1].split("---", 1)[0]

    assert identities["kube-router"] == "platform-cluster:kube-router"
    assert "kind: User\n    name: platform-cluster:kube-router" in addons
    verbs = set(re.findall(r"verbs: \[([^]]*)\]", role))
    assert verbs == {"get, list, watch"}


def test_every_node_has_the_ipset_tool_it_calls() -> None:
    assert "ipset" in nodeimage.PACKAGES
    assert config.APT_PACKAGES["ipset"] == "ipset"
