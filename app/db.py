"""The process's one PostgreSQL connection pool."""

from __future__ import annotations

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from app.config import Settings

Connection = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]


def create_pool(settings: Settings) -> Pool:
    """Create the pool closed: the lifespan opens it, so importing the app never touches the DB."""
    return AsyncConnectionPool(
        settings.conninfo(),
        connection_class=AsyncConnection[DictRow],
        # Autocommit: a single-statement request needs no BEGIN/COMMIT round trip; the
        # repositories open explicit transactions where several statements must agree.
        kwargs={"row_factory": dict_row, "autocommit": True},
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
