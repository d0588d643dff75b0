"""The part of an upgrade that needs Alembic: the advisory lock and the migration transaction.

Imported only when the schema is behind (see runner.upgrade), so a no-op run and the API never
load Alembic or SQLAlchemy.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import errors
from sqlalchemy import Connection, Engine, create_engine, exc, text
from sqlalchemy.pool import NullPool
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from app.logs import get_logger
from app.migrate.errors import LockTimeoutError, SchemaAheadError
from app.migrate.outcome import UpgradeResult
from app.revisions.database import read_revision
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions, SchemaState, evaluate

log = get_logger("platform.migrate")

# pg_advisory_xact_lock key: the first 8 bytes of sha256("platform-migrate"), as a signed bigint.
# Any process that migrates this schema must use the same key; other applications won't collide.
LOCK_KEY = 6_847_943_102_485_430_292


def alembic_config(script_location: Path = MIGRATIONS_DIR) -> Config:
    """An Alembic config built in code: the image ships no alembic.ini to keep in sync."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


def _acquire_lock(conn: Connection, timeout: float) -> None:
    """Take the transaction-scoped lock: it is released by commit, rollback or a dropped socket."""

    def try_lock() -> bool:
        statement = text("SELECT pg_try_advisory_xact_lock(:key)")
        return bool(conn.execute(statement, {"key": LOCK_KEY}).scalar_one())

    if try_lock():
        return
    log.info("migration lock held by another runner, waiting", timeout_seconds=timeout)
    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.25),
        retry=retry_if_result(lambda acquired: not acquired),
    )
    try:
        retrying(try_lock)
    except RetryError:
        raise LockTimeoutError(f"migration lock not acquired within {timeout:g}s") from None


def upgrade_under_lock(
    conninfo: str,
    code: CodeRevisions,
    lock_timeout: float,
    script_location: Path = MIGRATIONS_DIR,
    ddl_lock_timeout: float = 1.0,
) -> UpgradeResult:
    """Upgrade under the advisory lock; retry the whole transaction when a table lock is busy.

    A DDL statement waiting for a table lock queues every later query on that table behind it, so
    a migration blocked by one long transaction would stall live traffic. Each attempt therefore
    waits at most `ddl_lock_timeout` for any lock (`SET LOCAL lock_timeout`), rolls back, backs
    off and tries again, until `lock_timeout` (MIGRATE_LOCK_TIMEOUT_SECONDS) has passed in all.
    """
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool
    )
    deadline = time.monotonic() + lock_timeout
    try:
        for attempt in range(1, 1_000_000):
            try:
                return _attempt(engine, code, deadline, ddl_lock_timeout, script_location)
            except exc.OperationalError as error:
                if not isinstance(error.orig, errors.LockNotAvailable):
                    raise
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockTimeoutError(
                        f"a table lock the migration needs was not free within {lock_timeout:g}s"
                    ) from None
                pause = min(remaining, random.uniform(0.1, 0.5) * min(attempt, 4))  # noqa: S311
                log.info("table lock busy, migration rolled back; retrying", attempt=attempt)
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover
    finally:
        engine.dispose()


def _attempt(
    engine: Engine,
    code: CodeRevisions,
    deadline: float,
    ddl_lock_timeout: float,
    script_location: Path,
) -> UpgradeResult:
    """One transaction: lock, re-read the revision (a runner may just have finished), upgrade."""
    config = alembic_config(script_location)
    remaining = max(0.001, deadline - time.monotonic())
    with engine.connect() as conn, conn.begin():
        wait_ms = max(1, round(min(ddl_lock_timeout, remaining) * 1000))
        conn.execute(text(f"SET LOCAL lock_timeout = {wait_ms}"))
        _acquire_lock(conn, remaining)
        driver = cast(psycopg.Connection[Any], conn.connection.driver_connection)
        before = evaluate(code, read_revision(driver))
        if before.state is SchemaState.INCOMPATIBLE:
            raise SchemaAheadError(f"refusing to migrate: {before.reason}")
        if before.state is not SchemaState.AHEAD_COMPATIBLE:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return UpgradeResult(before=before, applied=config.attributes.get("applied", []))
