"""Probes, graceful shutdown and rollout settings of the API: no restart on a database blip, no
request dropped by a rollout or a SIGTERM."""

from __future__ import annotations

import pytest

from tests.chart.helm import RenderError, find, render


def api_container() -> dict[str, object]:
    deployment = find(render(), "Deployment", "platform-api")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def test_startup_and_liveness_probe_health_and_readiness_probes_db_check() -> None:
    container = api_container()
    assert container["startupProbe"]["httpGet"] == {"path": "/health", "port": "http"}  # type: ignore[index]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}  # type: ignore[index]
    assert container["readinessProbe"]["httpGet"] == {"path": "/db-check", "port": "http"}  # type: ignore[index]


def test_a_database_blip_shorter_than_ten_seconds_keeps_pods_ready() -> None:
    readiness = api_container()["readinessProbe"]
    assert isinstance(readiness, dict)
    assert readiness["periodSeconds"] * readiness["failureThreshold"] >= 10


def test_the_api_port_is_8000_named_http_and_the_service_targets_it() -> None:
    assert api_container()["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    service = find(render(), "Service", "platform-api")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    assert service["spec"]["ports"][0]["port"] == 80


def test_grace_period_outlasts_prestop_sleep_plus_drain_and_rollout_keeps_capacity() -> None:
    docs = render()
    deployment = find(docs, "Deployment", "platform-api")
    spec = deployment["spec"]["template"]["spec"]
    config = find(docs, "ConfigMap", "platform-config")["data"]
    sleep = int(api_container()["lifecycle"]["preStop"]["exec"]["command"][1])  # type: ignore[index]
    assert spec["terminationGracePeriodSeconds"] > sleep + int(config["SHUTDOWN_TIMEOUT_SECONDS"])
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_a_grace_period_too_short_to_drain_is_refused() -> None:
    with pytest.raises(RenderError, match="terminationGracePeriodSeconds"):
        render({"api": {"terminationGracePeriodSeconds": 25}})


def test_api_pods_wait_for_database_and_schema_without_a_deadline() -> None:
    deployment = find(render(), "Deployment", "platform-api")
    (init,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert init["command"] == ["platform-migrate", "wait", "--schema", "--timeout", "0"]
