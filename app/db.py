"""The process's one PostgreSQL connection pool, and the limits every pooled session runs under."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from app.config import Settings

Connection = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]


def session_limits(settings: Settings) -> str:
    """SET statements that bound every query a pooled session runs.

    statement_timeout ends a query the database is slow to answer; lock_timeout ends one that
    waits behind another session's lock (a migration, a long transaction) sooner, so a request
    never queues for long; idle_in_transaction_session_timeout closes a session a crashed client
    left inside a transaction, which would otherwise hold its locks indefinitely.
    """
    statement_ms = round(settings.db_statement_timeout_seconds * 1000)
    lock_ms = round(settings.db_lock_timeout_seconds * 1000)
    return (
        f"SET statement_timeout = {statement_ms}; SET lock_timeout = {lock_ms}; "
        f"SET idle_in_transaction_session_timeout = {statement_ms * 2}"
    )


def create_pool(settings: Settings) -> Pool:
    """Create the pool closed: the lifespan opens it, so importing the app never touches the DB."""
    limits = session_limits(settings)

    async def configure(conn: Connection) -> None:
        # Session settings, once per new connection: the pool hands it out only afterwards.
        await conn.execute(limits)

    return AsyncConnectionPool(
        settings.conninfo(),
        connection_class=AsyncConnection[DictRow],
        # Autocommit: a single-statement request needs no BEGIN/COMMIT round trip; the
        # repositories open explicit transactions where several statements must agree.
        kwargs={"row_factory": dict_row, "autocommit": True},
        configure=configure,
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        timeout=settings.db_pool_timeout_seconds,
        # A failed background connect gives up at once instead of backing off for minutes: the
        # next request or readiness check opens a fresh connection, so recovery after a database
        # restart takes one check interval, not a backoff delay.
        reconnect_timeout=0,
        name="platform",
        open=False,
    )
