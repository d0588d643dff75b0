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


def _page(client: TestClient, **params: Any) -> dict[str, Any]:
    response = client.get("/api/v1/items", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def _walk(client: TestClient, limit: int, between_pages: Any = None) -> list[int]:
    """Follow next_cursor from the first page to the last; the ids seen, in order."""
    seen: list[int] = []
    page = _page(client, limit=limit)
    while True:
        assert len(page["data"]) <= limit
        seen += [item["id"] for item in page["data"]]
        if page["next_cursor"] is None:
            return seen
        if between_pages is not None:
            between_pages()
        page = _page(client, limit=limit, cursor=page["next_cursor"])


def test_following_cursors_returns_every_item_once_in_id_order(client: TestClient) -> None:
    ids = [_create(client, name=f"item-{n}")["id"] for n in range(23)]
    first = _page(client, limit=5)
    assert set(first) == {"data", "next_cursor", "count"}
    assert first["count"] is None
    assert [item["id"] for item in first["data"]] == ids[:5]
    assert _walk(client, limit=5) == ids


def test_the_last_full_page_has_no_cursor(client: TestClient) -> None:
    ids = [_create(client, name=f"item-{n}")["id"] for n in range(6)]
    last = _page(client, limit=3, cursor=_page(client, limit=3)["next_cursor"])
    assert [item["id"] for item in last["data"]] == ids[3:]
    assert last["next_cursor"] is None
    assert _page(client, limit=6)["next_cursor"] is None


def test_an_empty_list_is_one_page(client: TestClient) -> None:
    assert _page(client) == {"data": [], "next_cursor": None, "count": None}


def test_cursors_survive_inserts_and_deletes_between_pages(client: TestClient) -> None:
    ids = [_create(client, name=f"item-{n}")["id"] for n in range(12)]
    # After each page: delete one item already returned and one not reached yet, add one.
    # (With offsets, each deletion behind the reader would shift an unseen item out of reach.)
    plan = iter([(ids[1], ids[6]), (ids[4], ids[10])])
    added: list[int] = []

    def change_the_table() -> None:
        for doomed in next(plan):
            assert client.delete(f"/api/v1/items/{doomed}").status_code == 204
        added.append(_create(client, name=f"late-{len(added)}")["id"])

    seen = _walk(client, limit=4, between_pages=change_the_table)
    assert seen == [*ids[:6], ids[7], ids[8], ids[9], ids[11], *added]


def test_offset_still_pages_for_older_clients(client: TestClient) -> None:
    ids = [_create(client, name=f"item-{n}")["id"] for n in range(7)]
    second = _page(client, limit=3, offset=3)
    assert [item["id"] for item in second["data"]] == ids[3:6]
    # Its cursor continues from where the offset page ended.
    rest = _page(client, limit=3, cursor=second["next_cursor"])
    assert [item["id"] for item in rest["data"]] == ids[6:]
    assert _page(client, offset=10_000) == {"data": [], "next_cursor": None, "count": None}


def test_count_is_opt_in(client: TestClient) -> None:
    for n in range(7):
        _create(client, name=f"item-{n}")
    assert _page(client, limit=3)["count"] is None
    assert _page(client, limit=3, count="false")["count"] is None
    counted = _page(client, limit=3, count="true")
    assert counted["count"] == 7
    assert len(counted["data"]) == 3
    assert _page(client, limit=3, count="true", cursor=counted["next_cursor"])["count"] == 7


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 101},
        {"limit": 0},
        {"offset": -1},
        {"offset": 10_001},
        {"offset": 2**31 - 1},
        {"count": "maybe"},
    ],
)
def test_page_bounds_are_enforced(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/api/v1/items", params=params).status_code == 422


def _bad_cursors(real: str) -> dict[str, str]:
    """Cursors the API must refuse, built from one it issued."""
    flipped = real[:5] + ("A" if real[5] != "A" else "B") + real[6:]
    return {
        "empty": "",
        "not base64": "garbage!",
        "padded": real + "=",
        "truncated": real[:-2],
        "one character changed": flipped,
        "too long": real * 3,
        "unknown version": "eyJ2IjoyLCJhZnRlciI6MX0",
        "id zero": "eyJ2IjoxLCJhZnRlciI6MH0",
    }


def test_malformed_or_tampered_cursors_are_422(client: TestClient) -> None:
    for n in range(3):
        _create(client, name=f"item-{n}")
    real = _page(client, limit=1)["next_cursor"]
    for case, cursor in _bad_cursors(real).items():
        response = client.get("/api/v1/items", params={"cursor": cursor})
        assert response.status_code == 422, (case, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"], case


def test_offset_with_cursor_is_422(client: TestClient) -> None:
    for n in range(3):
        _create(client, name=f"item-{n}")
    cursor = _page(client, limit=1)["next_cursor"]
    for offset in (0, 2):
        response = client.get("/api/v1/items", params={"cursor": cursor, "offset": offset})
        assert response.status_code == 422, offset
        assert "offset cannot be combined with cursor" in response.text


def test_openapi_describes_the_cursor_page(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    page = spec["components"]["schemas"]["ItemsPublic"]
    assert set(page["properties"]) == {"data", "next_cursor", "count"}
    assert set(page["required"]) == {"data", "next_cursor"}
    assert {"type": "null"} in page["properties"]["next_cursor"]["anyOf"]
    params = {p["name"]: p for p in spec["paths"]["/api/v1/items"]["get"]["parameters"]}
    assert set(params) == {"limit", "cursor", "offset", "count"}
    assert {"minimum": 1, "maximum": 100, "default": 50}.items() <= params["limit"][
        "schema"
    ].items()
    assert params["offset"]["schema"]["maximum"] == 10_000
    assert {"type": "string", "maxLength": 64} in params["cursor"]["schema"]["anyOf"]
    assert params["count"]["schema"]["type"] == "boolean"
    assert not any(p["required"] for p in params.values())


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
