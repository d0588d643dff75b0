"""The part of an upgrade that needs Alembic: the advisory lock and the migration transaction.

Imported only when the schema is behind (see runner.upgrade), so a no-op run and the API never
load Alembic or SQLAlchemy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from app.migrate.compat import MIGRATIONS_DIR, CodeRevisions, SchemaState, evaluate
from app.migrate.runner import (
    LockTimeoutError,
    SchemaAheadError,
    UpgradeResult,
    log,
    read_revision,
)

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
    conninfo: str, code: CodeRevisions, lock_timeout: float, script_location: Path = MIGRATIONS_DIR
) -> UpgradeResult:
    """Take the lock, re-read the revision (another runner may have just finished), upgrade."""
    engine = create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(conninfo), poolclass=NullPool
    )
    config = alembic_config(script_location)
    try:
        with engine.connect() as conn, conn.begin():
            _acquire_lock(conn, lock_timeout)
            driver = cast(psycopg.Connection[Any], conn.connection.driver_connection)
            before = evaluate(code, read_revision(driver))
            if before.state is SchemaState.INCOMPATIBLE:
                raise SchemaAheadError(f"refusing to migrate: {before.reason}")
            if before.state is not SchemaState.AHEAD_COMPATIBLE:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
    finally:
        engine.dispose()
    return UpgradeResult(before=before, applied=config.attributes.get("applied", []))
