"""Readiness as a cached answer refreshed by one background loop per process.

Probes read the cache, so a probe never costs a DB round trip, never waits on the pool, and a
burst of probes (kubelet, load balancers, humans) cannot pile onto a slow database. The loop
bounds each check by DB_CHECK_TIMEOUT_SECONDS; an answer older than a few intervals counts as a
failure, so a wedged loop cannot leave a pod Ready. See docs/decisions/0004-readiness-check-loop.md.

The check runs on a connection of its own, outside the pool: it measures the database, not the
pool's queue. A pool saturated by requests is back-pressure (503s on the requests that cannot get
a connection in time, the `db_requests_waiting` gauge), not a reason to pull every busy pod out of
the Service at once (docs/decisions/0007-readiness-on-its-own-connection.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import TupleRow

from app.db import Pool
from app.logs import get_logger
from app.revisions.database import DatabaseRevision, read_revision_async
from app.revisions.window import CodeRevisions, Compatibility, evaluate

log = get_logger("platform.readiness")
STALE_AFTER_INTERVALS = 3


@dataclass(frozen=True)
class Readiness:
    """What /db-check serves: ready or not, why, and when the loop last looked."""

    ready: bool
    reason: str
    checked_at: float


class ReadinessMonitor:
    """Owns the check loop and its latest answer; `current()` is what /db-check serves."""

    def __init__(
        self,
        pool: Pool,
        code: CodeRevisions,
        *,
        conninfo: str,
        interval: float,
        timeout: float,
    ):
        self._pool = pool
        self._conninfo = conninfo
        self._conn: AsyncConnection[TupleRow] | None = None
        self._code = code
        self._interval = interval
        self._timeout = timeout
        self._readiness = Readiness(ready=False, reason="starting", checked_at=time.monotonic())
        self._schema: Compatibility | None = None
        self._draining = False
        self._task: asyncio.Task[None] | None = None
        self._read: asyncio.Task[DatabaseRevision] | None = None
        self._purge: asyncio.Task[None] | None = None

    def current(self) -> Readiness:
        if self._draining:
            return Readiness(ready=False, reason="shutting down", checked_at=time.monotonic())
        age = time.monotonic() - self._readiness.checked_at
        if self._readiness.ready and age > STALE_AFTER_INTERVALS * self._interval + self._timeout:
            return Readiness(
                ready=False, reason="readiness check stalled", checked_at=time.monotonic()
            )
        return self._readiness

    @property
    def schema(self) -> Compatibility | None:
        """The schema as the last successful check read it (None until one succeeded)."""
        return self._schema

    def drain(self) -> None:
        """Report not-ready from now on: the first step of a graceful shutdown."""
        self._draining = True

    async def check_once(self) -> Readiness:
        read = asyncio.get_running_loop().create_task(self._read_revision())
        read.add_done_callback(_discard_outcome)
        self._read = read
        try:
            async with asyncio.timeout(self._timeout):
                revision = await asyncio.shield(read)
            compatibility = evaluate(self._code, revision)
            self._schema = compatibility
            result = Readiness(compatibility.compatible, compatibility.reason, time.monotonic())
        except TimeoutError:
            # Close the socket before cancelling: cancelling a query first would make psycopg
            # ask the server to cancel it and wait seconds for an answer a frozen server never
            # sends. With the connection gone the read unwinds at once.
            await self._drop_connection()
            read.cancel()
            result = Readiness(
                False, f"database did not answer within {self._timeout:g}s", time.monotonic()
            )
        except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
            result = Readiness(
                False, f"database unavailable: {type(exc).__name__}", time.monotonic()
            )
        if not result.ready and not result.reason.startswith("schema"):
            await self._drop_connection()
            self._purge_broken_connections()
        if result.ready != self._readiness.ready or result.reason != self._readiness.reason:
            log.info("readiness changed", ready=result.ready, reason=result.reason)
        self._readiness = result
        return result

    def _purge_broken_connections(self) -> None:
        # After a database restart every idle connection is dead: replace them now, in the
        # background, rather than failing one request per stale connection later.
        if self._purge is None or self._purge.done():
            self._purge = asyncio.get_running_loop().create_task(self._pool.check())

    async def _connection(self) -> AsyncConnection[TupleRow]:
        if self._conn is None or self._conn.closed:
            self._conn = await AsyncConnection.connect(self._conninfo, autocommit=True)
        return self._conn

    async def _drop_connection(self) -> None:
        # Closing never waits for the server (it only sends Terminate), so a frozen database
        # cannot wedge the loop here; the next check connects afresh.
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def _read_revision(self) -> DatabaseRevision:
        return await read_revision_async(await self._connection())

    async def _loop(self) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(self._interval)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="readiness")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # A read abandoned by a timed-out check may still be connecting: end it before the
        # connection is dropped, or it would open one nobody closes.
        if self._read is not None and not self._read.done():
            self._read.cancel()
            await asyncio.wait({self._read})
        await self._drop_connection()


def _discard_outcome(task: asyncio.Task[DatabaseRevision]) -> None:
    # The outcome was already taken (or abandoned on a timeout): retrieve it so asyncio does not
    # report a failure nobody awaited.
    if not task.cancelled():
        task.exception()
