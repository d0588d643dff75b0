"""Overload and a sick database: readiness measures the database, every request ends in time.

Each drill runs the real server against a PostgreSQL of its own, because it locks, freezes or
stops it.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time

import httpx
import psycopg
from localpg import LocalPostgres

from tests.support import RawConnection, serve, wait_ready, wait_until


def _metric(client: httpx.Client, name: str) -> float:
    match = re.search(rf"^{name} ([0-9.e+-]+)$", client.get("/metrics").text, re.MULTILINE)
    assert match, f"{name} not exposed"
    return float(match.group(1))


def _waiting_on_lock(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return int(row[0]) if row else 0


def _lock_items(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """A session holding ACCESS EXCLUSIVE on items: every query on the table waits behind it."""
    blocker = psycopg.connect(url)
    blocker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
    return blocker


def _get_in_background(base_url: str, path: str, results: list[int]) -> threading.Thread:
    def call() -> None:
        try:
            results.append(httpx.get(f"{base_url}{path}", timeout=60).status_code)
        except httpx.TransportError:
            results.append(-1)

    thread = threading.Thread(target=call)
    thread.start()
    return thread


def test_readiness_stays_up_while_the_pool_is_saturated_and_drops_when_the_database_goes(
    own_pg: LocalPostgres,
) -> None:
    env = {
        "DB_POOL_MAX_SIZE": "2",
        "DB_POOL_TIMEOUT_SECONDS": "20",
        "DB_CHECK_INTERVAL_SECONDS": "0.2",
        "DB_STATEMENT_TIMEOUT_SECONDS": "30",
        "DB_LOCK_TIMEOUT_SECONDS": "30",
        "REQUEST_TIMEOUT_SECONDS": "60",
    }
    with serve(own_pg.url, **env) as server, server.client(timeout=10) as client:
        wait_ready(client, timeout=10)
        blocker = _lock_items(own_pg.url)
        results: list[int] = []
        threads = [_get_in_background(server.base_url, "/api/v1/items", results) for _ in range(8)]
        wait_until(
            lambda: _metric(client, "db_requests_waiting") >= 4, timeout=10, what="pool saturated"
        )
        statuses = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            statuses.append(client.get("/db-check").status_code)
            time.sleep(0.1)
        blocker.rollback()
        blocker.close()
        for thread in threads:
            thread.join(timeout=60)
        assert set(statuses) == {200}, f"readiness flapped under load: {statuses}"
        assert results == [200] * 8

        own_pg.stop("immediate")
        took = wait_until(
            lambda: client.get("/db-check").status_code == 503, timeout=5, what="not ready"
        )
        print(f"saturated: {len(statuses)} probes all 200; database gone: 503 after {took:.2f}s")


def test_clients_that_never_read_their_responses_do_not_pin_the_pool(
    own_pg: LocalPostgres,
) -> None:
    env = {"DB_POOL_MAX_SIZE": "2", "DB_POOL_TIMEOUT_SECONDS": "2"}
    with serve(own_pg.url, **env) as server, server.client(timeout=30) as client:
        for n in range(100):
            client.post("/api/v1/items", json={"name": f"big-{n}", "description": "d" * 1000})
        item = client.post("/api/v1/items", json={"name": "probe"}).json()
        pipelined = b"GET /api/v1/items?limit=100 HTTP/1.1\r\nHost: test\r\n\r\n" * 300
        readers = []
        for _ in range(4):
            conn = RawConnection.open(server.base_url)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            conn.sock.setblocking(False)
            # The server may stop reading: its write side is what matters here.
            with contextlib.suppress(BlockingIOError):
                conn.sock.send(pipelined)
            readers.append(conn)
        # Give the server time to fill the readers' socket buffers and block in send().
        time.sleep(2)
        started = time.monotonic()
        response = client.get(f"/api/v1/items/{item['id']}")
        elapsed = time.monotonic() - started
        available = _metric(client, "db_pool_available")
        for conn in readers:
            conn.close()
    assert response.status_code == 200, f"{response.status_code} after {elapsed:.1f}s"
    assert available >= 1


def test_a_request_on_a_locked_table_answers_503_in_time_and_leaves_no_query_behind(
    own_pg: LocalPostgres,
) -> None:
    env = {
        "DB_LOCK_TIMEOUT_SECONDS": "1",
        "DB_STATEMENT_TIMEOUT_SECONDS": "2",
        "DB_POOL_TIMEOUT_SECONDS": "2",
        "REQUEST_TIMEOUT_SECONDS": "5",
    }
    with serve(own_pg.url, **env) as server, server.client(timeout=15) as client:
        blocker = _lock_items(own_pg.url)
        started = time.monotonic()
        response = client.get("/api/v1/items")
        elapsed = time.monotonic() - started
        left_waiting = _waiting_on_lock(own_pg.url)
        blocker.rollback()
        blocker.close()
        after = client.get("/api/v1/items").status_code
    assert response.status_code == 503
    assert response.headers.get("retry-after")
    assert elapsed < 4, f"answered after {elapsed:.1f}s"
    assert left_waiting == 0
    assert after == 200


def test_a_client_that_goes_away_cancels_its_query(own_pg: LocalPostgres) -> None:
    env = {
        "DB_LOCK_TIMEOUT_SECONDS": "60",
        "DB_STATEMENT_TIMEOUT_SECONDS": "60",
        "REQUEST_TIMEOUT_SECONDS": "120",
    }
    with serve(own_pg.url, **env) as server, server.client() as client:
        blocker = _lock_items(own_pg.url)
        conn = RawConnection.open(server.base_url)
        conn.send(b"GET /api/v1/items HTTP/1.1\r\nHost: test\r\n\r\n")
        wait_until(lambda: _waiting_on_lock(own_pg.url) == 1, timeout=10, what="query waiting")
        conn.close()
        took = wait_until(
            lambda: _waiting_on_lock(own_pg.url) == 0, timeout=5, what="the query to be cancelled"
        )
        blocker.rollback()
        blocker.close()
        assert client.get("/api/v1/items").status_code == 200
        print(f"query cancelled {took:.2f}s after the client left")


def test_a_frozen_database_gets_bounded_503s_and_the_pool_heals(own_pg: LocalPostgres) -> None:
    env = {
        "REQUEST_TIMEOUT_SECONDS": "2",
        "DB_POOL_TIMEOUT_SECONDS": "1",
        "DB_STATEMENT_TIMEOUT_SECONDS": "1",
        "DB_LOCK_TIMEOUT_SECONDS": "1",
        "DB_CONNECT_TIMEOUT_SECONDS": "1",
        "DB_CHECK_INTERVAL_SECONDS": "0.5",
    }
    with serve(own_pg.url, **env) as server, server.client(timeout=20) as client:
        item = client.post("/api/v1/items", json={"name": "frozen"}).json()
        own_pg.freeze()
        try:
            timings = []
            for _ in range(3):
                started = time.monotonic()
                status = client.get(f"/api/v1/items/{item['id']}").status_code
                timings.append((status, time.monotonic() - started))
            assert client.get("/health").status_code == 200
        finally:
            own_pg.thaw()
        healed = wait_until(
            lambda: client.get(f"/api/v1/items/{item['id']}").status_code == 200,
            timeout=15,
            what="the pool to heal",
        )
    assert [status for status, _ in timings] == [503, 503, 503], timings
    assert max(seconds for _, seconds in timings) < 5, timings
    print(f"frozen: {timings}; healed {healed:.2f}s after the thaw")
