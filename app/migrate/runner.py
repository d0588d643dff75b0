"""Wait for the database, serialise runners with an advisory lock, upgrade in one transaction."""

from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import errors
from tenacity import (
    RetryCallState,
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    stop_never,
    wait_exponential_jitter,
)

from app.logs import get_logger
from app.migrate.errors import DatabaseUnreachableError
from app.migrate.outcome import UpgradeResult
from app.revisions.database import read_revision
from app.revisions.window import MIGRATIONS_DIR, CodeRevisions, Compatibility, SchemaState, evaluate

log = get_logger("platform.migrate")


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


def check(conninfo: str, code: CodeRevisions, timeout: float | None = None) -> Compatibility:
    """Whether this code may serve the schema; a query still blocked after `timeout` gives up.

    The revision tables can be locked (a migration's DDL, an operator's `LOCK TABLE`): without a
    server-side bound the read would wait as long as the lock is held, past any deadline.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if timeout:
            conn.execute(f"SET statement_timeout = {max(1, round(timeout * 1000))}")
        try:
            return evaluate(code, read_revision(conn))
        except errors.QueryCanceled:
            raise DatabaseUnreachableError(
                f"the schema revision could not be read within {timeout:g}s"
            ) from None


def upgrade(
    conninfo: str,
    lock_timeout: float,
    script_location: Path = MIGRATIONS_DIR,
    ddl_lock_timeout: float = 1.0,
) -> UpgradeResult:
    """Upgrade to head under the lock, in one transaction; a fast no-op when nothing is due.

    A schema one expand step ahead (an older release's Job re-run by `helm rollback`) is left
    alone: that is the state the compatibility window says this code can serve. Anything further
    ahead is refused rather than handed to Alembic, which would fail on the unknown revision.
    """
    code = CodeRevisions.load(script_location)
    # Nothing can move a schema that is at (or past) our head back behind it, so this answer needs
    # no lock, and the common case (every pod start, every re-run Job) skips Alembic entirely.
    current = check(conninfo, code)
    if current.state in (SchemaState.AT_HEAD, SchemaState.AHEAD_COMPATIBLE):
        return UpgradeResult(before=current, applied=[])
    # Alembic and SQLAlchemy take about half a second to import: paid only when there is work.
    from app.migrate.apply import upgrade_under_lock  # noqa: PLC0415

    return upgrade_under_lock(conninfo, code, lock_timeout, script_location, ddl_lock_timeout)
