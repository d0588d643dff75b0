"""Against a real database: writes to a read-only one are 503, conflicts are retried, dropped
connections are 503 or recovered, never 500."""

from __future__ import annotations

import threading

import httpx
import psycopg
from localpg import LocalPostgres

from tests.support import serve, wait_until


def test_writes_to_a_read_only_database_are_503_and_reads_still_work(
    own_pg: LocalPostgres,
) -> None:
    with psycopg.connect(own_pg.url, autocommit=True) as conn:
        conn.execute("INSERT INTO items (name) VALUES ('before')")
        conn.execute(f"ALTER DATABASE {own_pg.database} SET default_transaction_read_only = on")
    with serve(own_pg.url) as server, server.client() as client:
        created = client.post("/api/v1/items", json={"name": "refused"})
        listed = client.get("/api/v1/items")
    assert created.status_code == 503, created.text
    assert created.headers.get("retry-after")
    assert listed.status_code == 200


def test_a_serialization_failure_is_retried(own_pg: LocalPostgres) -> None:
    with psycopg.connect(own_pg.url, autocommit=True) as conn:
        conn.execute(
            f"ALTER DATABASE {own_pg.database} SET default_transaction_isolation = 'serializable'"
        )
    with serve(own_pg.url) as server, server.client() as client:
        item = client.post("/api/v1/items", json={"name": "contended"}).json()
        other = psycopg.connect(own_pg.url)
        other.execute("UPDATE items SET description = 'theirs' WHERE id = %s", (item["id"],))
        result: dict[str, httpx.Response] = {}

        def patch() -> None:
            result["r"] = httpx.patch(
                f"{server.base_url}/api/v1/items/{item['id']}",
                json={"description": "ours"},
                timeout=30,
            )

        thread = threading.Thread(target=patch)
        thread.start()
        wait_until(lambda: _waiting(own_pg.url), timeout=10, what="the PATCH to wait")
        other.commit()  # the waiting UPDATE now fails with 40001 in SERIALIZABLE
        other.close()
        thread.join(timeout=30)
        final = client.get(f"/api/v1/items/{item['id']}").json()
    assert result["r"].status_code == 200, result["r"].text
    assert final["description"] == "ours"


def test_terminated_backends_give_503_or_success_never_500(own_pg: LocalPostgres) -> None:
    with serve(own_pg.url, DB_POOL_MIN_SIZE="4") as server, server.client() as client:
        item = client.post("/api/v1/items", json={"name": "survivor"}).json()
        with psycopg.connect(own_pg.url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'platform-api' AND pid <> pg_backend_pid()"
            )
        statuses = [client.get(f"/api/v1/items/{item['id']}").status_code for _ in range(10)]
    assert set(statuses) <= {200, 503}, statuses
    assert statuses[-1] == 200


def _waiting(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])
