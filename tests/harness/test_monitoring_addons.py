"""The cluster's monitoring add-ons: kube-state-metrics built from the pinned module, on the host's
loopback only, reading what the alerts need with a read-only identity; the Prometheus Operator's
CRDs from a module pinned by hash."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cluster import components, config, images, manifests, operator_crds, pki
from cluster.config import Node, Paths
from cluster.steps import BY_NAME, STEPS, Daemon, Role, Task
from tests.harness import pins
from tests.harness.pins import go_mod_pins


def test_the_pinned_module_is_the_version_the_harness_stamps(tmp_path: Path) -> None:
    required, tool = go_mod_pins("kube-state-metrics", "k8s.io/kube-state-metrics/v2")

    assert required == config.KUBE_STATE_METRICS_VERSION
    assert tool == images.KUBE_STATE_METRICS_PACKAGE
    (target,) = [t for t in images.go_targets(Paths(tmp_path)) if t.name == "kube-state-metrics"]
    assert f"Version={config.KUBE_STATE_METRICS_VERSION}" in target.ldflags


def test_the_e2es_prometheus_is_the_pinned_release_with_kubernetes_discovery_only() -> None:
    required, tool = go_mod_pins("prometheus", "github.com/prometheus/prometheus")
    targets = images.go_targets(Paths(Path("/nonexistent")))
    (target,) = [t for t in targets if t.name == "prometheus"]
    major, minor, patch = (int(n) for n in config.PROMETHEUS_VERSION.split("."))

    assert required == config.PROMETHEUS_MODULE_VERSION
    # Release M.mm.p is module v0.Mmm.p (upstream's Go module versioning since 3.0).
    assert required == f"v0.{major}{minor:02d}.{patch}"
    assert tool == target.package == images.PROMETHEUS_PACKAGE
    assert target.tags == ("remove_all_sd", "enable_kubernetes_sd")
    assert f"Version={config.PROMETHEUS_VERSION}" in target.ldflags


def test_it_serves_on_loopback_only_and_watches_only_what_the_alerts_read(tmp_path: Path) -> None:
    paths = Paths(tmp_path)
    flags = pins.flags(components.kube_state_metrics(components.Context(paths, Node(1))))

    assert flags["host"] == flags["telemetry-host"] == "127.0.0.1"
    assert int(flags["port"]) == config.KUBE_STATE_METRICS_PORT
    assert flags["kubeconfig"] == str(paths.etc / "kube-state-metrics.kubeconfig")
    assert set(flags["resources"].split(",")) == set(config.KUBE_STATE_METRICS_RESOURCES)
    # The alerts and dashboard read Jobs, CronJobs and pods' restarts.
    assert {"jobs", "cronjobs", "pods"} <= set(config.KUBE_STATE_METRICS_RESOURCES)


def test_its_identity_lists_and_watches_exactly_its_resources() -> None:
    identities = {cert.name: cert.common_name for cert in pki.certificates()}
    addons = manifests.addons()
    role = addons.split("name: platform-cluster:kube-state-metrics\nrules:", 1)[1]
    role = role.split("---", 1)[0]

    assert identities["kube-state-metrics"] == "platform-cluster:kube-state-metrics"
    assert "kind: User\n    name: platform-cluster:kube-state-metrics" in addons
    assert set(re.findall(r"verbs: \[([^]]*)\]", role)) == {"list, watch"}
    lists = re.findall(r"resources: \[([^]]*)\]", role)
    granted = {resource for listed in lists for resource in listed.split(", ")}
    assert granted == set(config.KUBE_STATE_METRICS_RESOURCES)


def test_the_control_plane_starts_it_after_its_rbac_and_applies_the_crds() -> None:
    ksm, crds = BY_NAME["kube-state-metrics"], BY_NAME["monitoring-crds"]
    order = [s.name for s in STEPS]

    assert isinstance(ksm, Daemon)
    assert ksm.role is Role.CONTROL_PLANE
    assert "addons" in ksm.needs
    assert order.index("addons") < order.index("kube-state-metrics")
    assert isinstance(crds, Task)
    assert crds.role is Role.CONTROL_PLANE


def test_the_crds_are_the_monitor_and_rule_kinds_the_chart_renders() -> None:
    kinds = {re.sub(r".*_(\w+)\.yaml$", r"\1", name) for name in config.PROMETHEUS_OPERATOR_CRDS}
    assert kinds == {"servicemonitors", "podmonitors", "prometheusrules"}
    assert config.PROMETHEUS_OPERATOR_SUM.startswith("h1:")


def test_a_module_whose_hash_is_not_the_pinned_one_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        operator_crds, "run", lambda *args: '{"Sum": "h1:someone-else", "Dir": "/nowhere"}'
    )
    with pytest.raises(RuntimeError, match="pinned"):
        operator_crds.files()
