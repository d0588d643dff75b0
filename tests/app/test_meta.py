"""Identity, liveness, OpenAPI and metrics."""

from __future__ import annotations

from importlib.metadata import version

from fastapi.testclient import TestClient


def test_identity_names_the_service_version_and_environment(client: TestClient) -> None:
    assert client.get("/").json() == {
        "name": "platform-api",
        "version": version("platform-api"),
        "environment": "development",
    }


def test_health_is_ok(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert "/api/v1/items/{item_id}" in schema["paths"]
    assert client.get("/docs").status_code == 200


def test_metrics_label_requests_by_route_template_not_by_path(client: TestClient) -> None:
    created = client.post("/api/v1/items", json={"name": "m"}).json()
    client.get(f"/api/v1/items/{created['id']}")
    client.get("/api/v1/items/424242")
    body = client.get("/metrics").text
    assert (
        'http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="200"} 1.0' in body
    )
    assert (
        'http_requests_total{method="GET",route="/api/v1/items/{item_id}",status="404"} 1.0' in body
    )
    assert "424242" not in body
    assert "http_request_duration_seconds_bucket" in body
    assert "db_pool_size" in body
    assert "db_pool_max 10.0" in body


def test_request_id_is_echoed_or_generated(client: TestClient) -> None:
    echoed = client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] != "bad id\twith spaces"
    assert len(generated.headers["x-request-id"]) == 32
