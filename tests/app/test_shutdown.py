"""The drain deadline: requests still running when it expires get a clean 503, and are counted."""

from __future__ import annotations

import threading
import time

import httpx
import psycopg
from localpg import LocalPostgres

from tests.support import json_lines, serve, wait_until


def _waiting_on_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def test_requests_outliving_the_drain_get_503_at_the_fractional_deadline(
    own_pg: LocalPostgres,
) -> None:
    env = {
        "SHUTDOWN_TIMEOUT_SECONDS": "1.5",
        "DB_LOCK_TIMEOUT_SECONDS": "60",
        "DB_STATEMENT_TIMEOUT_SECONDS": "60",
        "REQUEST_TIMEOUT_SECONDS": "120",
    }
    with serve(own_pg.url, **env) as server:
        blocker = psycopg.connect(own_pg.url)
        blocker.execute("LOCK TABLE items IN ACCESS EXCLUSIVE MODE")
        result: dict[str, float | int] = {}

        def stuck_request() -> None:
            response = httpx.get(f"{server.base_url}/api/v1/items", timeout=60)
            result["status"] = response.status_code
            result["at"] = time.monotonic()

        thread = threading.Thread(target=stuck_request)
        thread.start()
        wait_until(lambda: _waiting_on_lock(own_pg.url), timeout=10, what="request blocked")
        signalled = time.monotonic()
        server.process.terminate()
        thread.join(timeout=30)
        code, out = server.terminate()
        blocker.close()

    waited = float(result["at"]) - signalled
    assert result["status"] == 503
    assert 1.4 <= waited < 4, f"answered {waited:.2f}s after SIGTERM with a 1.5 s drain"
    assert code == 0
    aborted = [line for line in json_lines(out) if line.get("event") == "request aborted"]
    assert [line["reason"] for line in aborted] == ["shutdown"]
