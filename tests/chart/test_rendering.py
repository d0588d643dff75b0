"""The ci matrix renders the same with Helm 3 and Helm 4, inside the claimed Kubernetes range."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.chart.helm import (
    CI_VALUES,
    RenderError,
    documents,
    find,
    kinds,
    render,
    render_file,
    render_text,
)


@pytest.mark.parametrize("values", CI_VALUES, ids=lambda path: path.stem)
def test_helm3_and_helm4_render_the_same_manifests(values: Path) -> None:
    # Generated passwords and tokens differ between any two renders; everything else must not.
    password = re.compile(r"(POSTGRES_PASSWORD|token): \S+")
    helm3 = password.sub(r"\1: x", render_text(values_file=values, helm="helm"))
    helm4 = password.sub(r"\1: x", render_text(values_file=values, helm="helm4"))
    assert sorted(map(json.dumps, documents(helm3))) == sorted(map(json.dumps, documents(helm4)))


@pytest.mark.parametrize("kube", ["1.28.0", "1.38.0"])
def test_kubernetes_versions_outside_the_claimed_range_are_refused(kube: str) -> None:
    with pytest.raises(RenderError, match="incompatible with Kubernetes"):
        render_text(extra_args=("--kube-version", kube))


def test_every_resource_is_namespaced_to_the_release() -> None:
    for doc in render(is_upgrade=True):
        assert doc["metadata"]["namespace"] == "platform", doc["metadata"]["name"]


def test_selectors_use_only_name_instance_and_component() -> None:
    for doc in render():
        if doc["kind"] in ("Deployment", "StatefulSet"):
            assert set(doc["spec"]["selector"]["matchLabels"]) == {
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/component",
            }


def test_the_ha_values_render_an_hpa_an_ingress_and_leave_replicas_to_the_hpa() -> None:
    docs = render_file(next(path for path in CI_VALUES if path.stem == "ha-values"))
    assert {"HorizontalPodAutoscaler", "Ingress", "PodDisruptionBudget"} <= set(kinds(docs))
    assert "replicas" not in find(docs, "Deployment")["spec"]
    spread = find(docs, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert spread[0]["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "api"


def test_defaults_render_no_hpa_and_no_ingress() -> None:
    assert not {"HorizontalPodAutoscaler", "Ingress"} & set(kinds(render()))


def test_the_service_account_mounts_no_token() -> None:
    assert find(render(), "ServiceAccount")["automountServiceAccountToken"] is False


def test_helm_test_checks_schema_health_and_db_check_through_the_service() -> None:
    pod = find(render(), "Pod", "platform-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    (schema,) = pod["spec"]["initContainers"]
    assert schema["command"] == ["platform-migrate", "check"]
    (http,) = pod["spec"]["containers"]
    assert http["env"] == [
        {"name": "BASE_URL", "value": "http://platform-api:80"},
        {
            "name": "API_TOKEN",
            "valueFrom": {"secretKeyRef": {"name": "platform-api-token", "key": "token"}},
        },
    ]
    script = http["command"][-1]
    assert '"/health"' in script
    assert '"/db-check"' in script
    assert "assert status == 401" in script  # a write without the token is refused
    assert 'call("POST", "/api/v1/items", os.environ["API_TOKEN"], item)' in script
    assert pod["metadata"]["labels"]["app.kubernetes.io/component"] == "test"
