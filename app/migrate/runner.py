"""Wait for the database, serialise runners with an advisory lock, upgrade in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import psycopg
from alembic import command
from alembic.config import Config
from psycopg import errors
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
    wait_fixed,
)

from app.logs import get_logger
from app.migrate.compat import (
    CURRENT_REVISION_SQL,
    MIGRATIONS_DIR,
    CodeRevisions,
    DatabaseRevision,
    SchemaState,
    Verdict,
    evaluate,
)

log = get_logger("platform.migrate")

# pg_advisory_xact_lock key: the first 8 bytes of sha256("platform-migrate"), as a signed bigint.
# Any process that migrates this schema must use the same key; other applications won't collide.
LOCK_KEY = 6_847_943_102_485_430_292


class DatabaseUnreachableError(Exception):
    """The database did not answer a real query before the deadline."""


class LockTimeoutError(Exception):
    """Another runner held the migration lock for longer than we were allowed to wait."""


class SchemaAheadError(Exception):
    """The database is at a revision this code does not know and cannot safely serve."""


@dataclass(frozen=True)
class UpgradeResult:
    before: Verdict
    applied: list[str]


def alembic_config(script_location: Path = MIGRATIONS_DIR) -> Config:
    """An Alembic config built in code: the image ships no alembic.ini to keep in sync."""
    config = Config()
    config.set_main_option("script_location", str(script_location))
    return config


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.info("database not ready, retrying", attempt=state.attempt_number, error=str(error))


def wait_for_database(conninfo: str, timeout: float) -> None:
    """Retry a real connection + SELECT 1 with jittered backoff; timeout 0 waits forever."""
    retrying = Retrying(
        stop=stop_after_delay(timeout) if timeout else stop_never,
        wait=wait_exponential_jitter(multiplier=0.2, max=5, jitter=0.5),
        retry=retry_if_exception_type(psycopg.OperationalError),
        before_sleep=_log_retry,
    )
    try:
        for attempt in retrying:
            with attempt, psycopg.connect(conninfo) as conn:
                conn.execute("SELECT 1")
    except RetryError as exc:
        cause = exc.last_attempt.exception()
        raise DatabaseUnreachableError(
            f"database not reachable after {timeout:g}s: {cause}"
        ) from None


def read_revision(conn: psycopg.Connection[Any]) -> DatabaseRevision:
    """The database's revision and ledger entry; an empty database has neither table."""
    try:
        with conn.transaction():
            row = conn.execute(CURRENT_REVISION_SQL).fetchone()
    except errors.UndefinedTable:
        return DatabaseRevision(current=None)
    if row is None:
        return DatabaseRevision(current=None)
    return DatabaseRevision(current=row[0], parent=row[1], kind=row[2])


def check(conninfo: str, code: CodeRevisions) -> Verdict:
    with psycopg.connect(conninfo) as conn:
        return evaluate(code, read_revision(conn))


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


def upgrade(
    conninfo: str, lock_timeout: float, script_location: Path = MIGRATIONS_DIR
) -> UpgradeResult:
    """Upgrade to head under the lock, in one transaction.

    A schema one expand step ahead (an older release's Job re-run by `helm rollback`) is left
    alone: that is the state the compatibility window says this code can serve. Anything further
    ahead is refused rather than handed to Alembic, which would fail on the unknown revision.
    """
    code = CodeRevisions.load(script_location)
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
