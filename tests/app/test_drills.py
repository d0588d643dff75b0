"""Drills against the real server process: database outage and graceful shutdown."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
from localpg import LocalPostgres

from tests.support import json_lines, serve, wait_ready, wait_until


def _timed_get(client: httpx.Client, path: str) -> tuple[int, float]:
    started = time.monotonic()
    status = client.get(path).status_code
    return status, time.monotonic() - started


def _waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return row is not None and row[0] > 0


def _refused(base_url: str) -> bool:
    try:
        httpx.get(f"{base_url}/health", timeout=2)
    except httpx.ConnectError:
        return True
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # Connected, then reset while the server was closing: the listener was still open.
        return False
    return False


def test_database_outage_and_recovery_without_restart(own_pg: LocalPostgres) -> None:
    env = {"DB_CHECK_INTERVAL_SECONDS": "0.5", "DB_POOL_TIMEOUT_SECONDS": "2"}
    with serve(own_pg.url, **env) as server, server.client(timeout=15) as client:
        wait_ready(client, timeout=10)
        created = client.post("/api/v1/items", json={"name": "survives"}).json()
        pid = server.process.pid

        own_pg.stop("immediate")
        took = wait_until(
            lambda: client.get("/db-check").status_code == 503, timeout=5, what="not ready"
        )
        status, seconds = _timed_get(client, "/db-check")
        assert status == 503
        assert seconds < 1.0, f"/db-check took {seconds:.2f}s: it must answer within its timeout"
        assert client.get("/health").status_code == 200
        # A request that needs the database fails with 503 once the pool gives up (2 s here).
        status, seconds = _timed_get(client, f"/api/v1/items/{created['id']}")
        assert status == 503
        assert seconds < 10

        own_pg.start()
        recovered = wait_ready(client, timeout=5, what="ready again")
        assert client.get(f"/api/v1/items/{created['id']}").json()["name"] == "survives"
        assert server.process.pid == pid
        assert server.process.poll() is None
        print(f"not-ready after {took:.2f}s; ready again {recovered:.2f}s after restart")


def test_sigterm_finishes_in_flight_requests_refuses_new_ones_and_exits_0(
    own_pg: LocalPostgres,
) -> None:
    # Timeouts far above the drill's length: it is about the drain, not the request bounds.
    patient = {
        "DB_LOCK_TIMEOUT_SECONDS": "60",
        "DB_STATEMENT_TIMEOUT_SECONDS": "60",
        "REQUEST_TIMEOUT_SECONDS": "120",
    }
    with serve(own_pg.url, **patient) as server:
        # Make a request slow for real: hold a lock the list query has to wait for.
        blocker = psycopg.connect(own_pg.url)
        blocker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        result: dict[str, int] = {}

        def slow_request() -> None:
            result["status"] = httpx.get(f"{server.base_url}/api/v1/items", timeout=30).status_code

        in_flight = threading.Thread(target=slow_request)
        in_flight.start()
        wait_until(lambda: _waiting_on_lock(own_pg.url), timeout=30, what="request blocked on lock")
        server.process.terminate()

        wait_until(lambda: _refused(server.base_url), timeout=10, what="listener closed")
        assert server.process.poll() is None, "exited before the in-flight request finished"

        blocker.rollback()
        blocker.close()
        in_flight.join(timeout=10)
        code, out = server.terminate()

    assert result == {"status": 200}
    assert code == 0
    events = [line["event"] for line in json_lines(out)]
    assert events.index("stopped") > events.index("request")
