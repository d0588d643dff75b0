"""Where API pods run and how they leave a node: spread, node-loss tolerations, the PDB (issue 13).

The e2e drills (tests/e2e/test_9_node_drills.py) prove the behaviour on a 3-node cluster; these
pin the rendered defaults the drills and docs/runbooks/node-failure.md rely on.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.chart.helm import Manifest, RenderError, find, kinds, kustomize, render

API_SELECTOR = {
    "app.kubernetes.io/name": "platform",
    "app.kubernetes.io/instance": "platform",
    "app.kubernetes.io/component": "api",
}
NODE_LOSS_KEYS = ("node.kubernetes.io/unreachable", "node.kubernetes.io/not-ready")


def api_spec(values: dict[str, Any] | None = None) -> Manifest:
    spec: Manifest = find(render(values), "Deployment")["spec"]["template"]["spec"]
    return spec


def node_loss_tolerations(spec: Manifest) -> dict[str, Manifest]:
    return {t["key"]: t for t in spec.get("tolerations", []) if t.get("key") in NODE_LOSS_KEYS}


def test_api_pods_prefer_one_per_node_and_never_wait_pending_for_it() -> None:
    (spread,) = api_spec()["topologySpreadConstraints"]
    assert spread == {
        "labelSelector": {"matchLabels": API_SELECTOR},
        "matchLabelKeys": ["pod-template-hash"],
        "maxSkew": 1,
        "nodeTaintsPolicy": "Honor",
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
    }
    # minDomains is only valid with DoNotSchedule, and would leave pods Pending on small clusters.
    assert "minDomains" not in spread


def test_an_empty_spread_list_renders_no_constraint() -> None:
    assert "topologySpreadConstraints" not in api_spec({"api": {"topologySpreadConstraints": []}})


def test_a_strict_spread_is_accepted_and_keeps_its_own_label_selector() -> None:
    strict = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"tier": "api"}},
    }
    (spread,) = api_spec({"api": {"topologySpreadConstraints": [strict]}})[
        "topologySpreadConstraints"
    ]
    assert spread == strict


@pytest.mark.parametrize(
    "constraint",
    [
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "Sometimes"},
        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname"},
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "nodeTaintsPolicy": "honor",
        },
    ],
    ids=["unknown whenUnsatisfiable", "no whenUnsatisfiable", "misspelt nodeTaintsPolicy"],
)
def test_the_schema_refuses_a_spread_kubernetes_would_refuse(constraint: Manifest) -> None:
    with pytest.raises(RenderError, match="schema"):
        render({"api": {"topologySpreadConstraints": [constraint]}})


def test_api_pods_leave_a_lost_node_after_30_seconds_not_300() -> None:
    assert node_loss_tolerations(api_spec()) == {
        key: {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30}
        for key in NODE_LOSS_KEYS
    }


def test_the_node_loss_toleration_follows_its_value() -> None:
    tolerations = node_loss_tolerations(api_spec({"api": {"nodeLossTolerationSeconds": 0}}))
    assert {t["tolerationSeconds"] for t in tolerations.values()} == {0}


def test_null_leaves_the_cluster_default_toleration() -> None:
    # Helm drops a null value; the admission plugin then adds its 300 s tolerations.
    assert "tolerations" not in api_spec({"api": {"nodeLossTolerationSeconds": None}})


@pytest.mark.parametrize("seconds", [-1, "30", 1.5])
def test_the_schema_refuses_a_bad_toleration_value(seconds: object) -> None:
    with pytest.raises(RenderError, match="schema"):
        render({"api": {"nodeLossTolerationSeconds": seconds}})


def test_a_user_toleration_for_a_node_loss_key_replaces_the_charts() -> None:
    mine = {
        "key": "node.kubernetes.io/unreachable",
        "operator": "Exists",
        "effect": "NoExecute",
        "tolerationSeconds": 600,
    }
    other = {"key": "dedicated", "operator": "Equal", "value": "api", "effect": "NoSchedule"}
    spec = api_spec({"api": {"tolerations": [mine, other]}})
    # Both would match the taint, and the taint manager evicts after the shorter one.
    assert [t for t in spec["tolerations"] if t["key"] == mine["key"]] == [mine]
    assert node_loss_tolerations(spec)["node.kubernetes.io/not-ready"]["tolerationSeconds"] == 30
    assert other in spec["tolerations"]


def test_a_keyless_exists_toleration_replaces_both() -> None:
    everything = {"operator": "Exists"}
    assert api_spec({"api": {"tolerations": [everything]}})["tolerations"] == [everything]


def test_postgres_keeps_the_cluster_default_tolerations() -> None:
    # The StatefulSet never runs a second postgres-0 while the first is not confirmed gone, so a
    # short toleration would only evict it into Terminating sooner: docs/runbooks/node-failure.md.
    statefulset = find(render(), "StatefulSet")
    assert "tolerations" not in statefulset["spec"]["template"]["spec"]


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_the_budget_lets_a_drain_evict_an_api_pod_whatever_the_replica_count(
    replicas: int,
) -> None:
    budget = find(render({"api": {"replicaCount": replicas}}), "PodDisruptionBudget")
    assert budget["spec"] == {"maxUnavailable": 1, "selector": {"matchLabels": API_SELECTOR}}
    assert "minAvailable" not in budget["spec"]


def test_the_budget_can_be_left_out() -> None:
    assert "PodDisruptionBudget" not in kinds(render({"podDisruptionBudget": {"enabled": False}}))


def test_the_raw_manifests_place_and_evict_api_pods_as_the_chart_does() -> None:
    chart = api_spec()
    for overlay in ("dev", "prod"):
        raw = find(kustomize(overlay), "Deployment")["spec"]["template"]["spec"]
        assert raw["tolerations"] == chart["tolerations"], overlay
        assert raw["topologySpreadConstraints"] == chart["topologySpreadConstraints"], overlay
        budget = find(kustomize(overlay), "PodDisruptionBudget")["spec"]
        assert budget["maxUnavailable"] == 1, overlay
