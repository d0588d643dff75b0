"""The items resource: happy paths and every 4xx it promises."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


def _create(client: TestClient, **body: Any) -> dict[str, Any]:
    response = client.post("/api/v1/items", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_create_then_read_round_trips(client: TestClient) -> None:
    created = _create(client, name="alpha", description="first")
    assert created["name"] == "alpha"
    assert created["description"] == "first"
    read = client.get(f"/api/v1/items/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created


def test_names_are_trimmed(client: TestClient) -> None:
    assert _create(client, name="  padded  ")["name"] == "padded"


def test_list_is_paginated_in_a_stable_order(client: TestClient) -> None:
    ids = [_create(client, name=f"item-{n}")["id"] for n in range(7)]
    first = client.get("/api/v1/items", params={"limit": 3}).json()
    second = client.get("/api/v1/items", params={"limit": 3, "offset": 3}).json()
    past_end = client.get("/api/v1/items", params={"offset": 100}).json()
    assert [i["id"] for i in first["data"]] == ids[:3]
    assert [i["id"] for i in second["data"]] == ids[3:6]
    assert first["count"] == second["count"] == past_end["count"] == 7
    assert past_end["data"] == []


@pytest.mark.parametrize("params", [{"limit": 101}, {"limit": 0}, {"offset": -1}])
def test_page_bounds_are_enforced(client: TestClient, params: dict[str, int]) -> None:
    assert client.get("/api/v1/items", params=params).status_code == 422


def test_update_changes_only_the_given_fields(client: TestClient) -> None:
    created = _create(client, name="before", description="keep me")
    updated = client.patch(f"/api/v1/items/{created['id']}", json={"name": "after"})
    assert updated.status_code == 200
    assert updated.json()["name"] == "after"
    assert updated.json()["description"] == "keep me"
    assert updated.json()["updated_at"] >= created["updated_at"]
    cleared = client.patch(f"/api/v1/items/{created['id']}", json={"description": None})
    assert cleared.json()["description"] is None


def test_delete_removes_the_item(client: TestClient) -> None:
    created = _create(client, name="doomed")
    assert client.delete(f"/api/v1/items/{created['id']}").status_code == 204
    assert client.get(f"/api/v1/items/{created['id']}").status_code == 404
    assert client.delete(f"/api/v1/items/{created['id']}").status_code == 404


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_unknown_id_is_404(client: TestClient, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "x"}} if method == "patch" else {}
    response = client.request(method, "/api/v1/items/999999", **kwargs)
    assert response.status_code == 404


def test_duplicate_name_is_409_on_create_and_update(client: TestClient) -> None:
    _create(client, name="taken")
    other = _create(client, name="free")
    assert client.post("/api/v1/items", json={"name": "taken"}).status_code == 409
    assert client.patch(f"/api/v1/items/{other['id']}", json={"name": "taken"}).status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"name": 123},
        {"name": ["a"]},
        {"name": None},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "nul\x00byte"},
        {"name": "ok", "description": 5},
        {"name": "ok", "unexpected": True},
        {},
    ],
)
def test_invalid_bodies_are_422(client: TestClient, body: dict[str, Any]) -> None:
    assert client.post("/api/v1/items", json=body).status_code == 422


def test_null_name_in_update_is_422(client: TestClient) -> None:
    created = _create(client, name="named")
    response = client.patch(f"/api/v1/items/{created['id']}", json={"name": None})
    assert response.status_code == 422


@pytest.mark.parametrize("item_id", ["0", "-1", "abc", str(2**63)])
def test_ids_outside_bigint_are_422(client: TestClient, item_id: str) -> None:
    assert client.get(f"/api/v1/items/{item_id}").status_code == 422


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/api/v1/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
