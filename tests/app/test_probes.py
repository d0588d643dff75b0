"""Readiness follows the database and the schema window; liveness never touches the database."""

from __future__ import annotations

import psycopg
from fastapi.testclient import TestClient

from app.main import create_app
from tests.app.conftest import make_settings
from tests.support import wait_ready, wait_until


def _started(url: str) -> TestClient:
    return TestClient(create_app(make_settings(url, db_check_interval_seconds=0.1)))


def test_ready_at_head(client: TestClient) -> None:
    assert client.get("/db-check").json() == {"status": "ok"}


def test_not_ready_on_an_unmigrated_database(fresh_db: str) -> None:
    with _started(fresh_db) as client:
        wait_until(lambda: "empty" in client.get("/db-check").text, timeout=10, what="verdict")
        response = client.get("/db-check")
        assert response.status_code == 503
        assert response.json()["reason"].startswith("schema empty")
        assert client.get("/health").status_code == 200


def test_not_ready_while_the_schema_is_behind(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001_create_items'")
    with _started(migrated_db) as client:
        wait_until(lambda: "behind" in client.get("/db-check").text, timeout=10, what="verdict")
        assert client.get("/db-check").status_code == 503


def test_ready_one_expand_step_ahead_but_not_after_a_contract_step(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        conn.execute(
            "INSERT INTO schema_revisions (revision, parent, kind) "
            "VALUES ('0003_next', '0002_add_item_description', 'expand')"
        )
        conn.execute("UPDATE alembic_version SET version_num = '0003_next'")
    with _started(migrated_db) as client:
        wait_ready(client, timeout=10)
        with psycopg.connect(migrated_db) as conn:
            conn.execute(
                "UPDATE schema_revisions SET kind = 'contract' WHERE revision = '0003_next'"
            )
        wait_until(lambda: client.get("/db-check").status_code == 503, timeout=10, what="not ready")
        assert "incompatible" in client.get("/db-check").json()["reason"]


def test_not_ready_once_draining(client: TestClient) -> None:
    client.app.state.readiness.drain()  # type: ignore[attr-defined]
    response = client.get("/db-check")
    assert response.status_code == 503
    assert response.json()["reason"] == "shutting down"


def test_probes_do_not_use_the_database(client: TestClient) -> None:
    """A burst of probes costs no pool checkouts: they read the cached verdict."""
    pool = client.app.state.pool  # type: ignore[attr-defined]

    def checkouts() -> int:
        return int(pool.get_stats().get("requests_num", 0))

    before = checkouts()
    for _ in range(200):
        client.get("/db-check")
        client.get("/health")
    # Only the background loop (every 0.1 s here) checks out connections, not the 400 probes.
    assert checkouts() - before < 100
    client.get("/api/v1/items")
    assert checkouts() > before, "the pool counter must move when the database is used"
