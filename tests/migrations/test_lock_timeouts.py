"""A migration never stalls live traffic, and every command keeps its deadline.

A DDL statement that waits for a table lock queues every later reader of that table behind it, so
a migration blocked by one long transaction would block the whole API. Migrations therefore take
each lock with a short `lock_timeout` and retry, within MIGRATE_LOCK_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.config import get_settings
from app.migrate.cli import ExitCode, run
from app.revisions.window import MIGRATIONS_DIR
from tests.support import SCRIPTS, clean_env

ALTER_REVISION = textwrap.dedent(
    '''
    """Test-only: a DDL change that needs ACCESS EXCLUSIVE on items."""
    import sqlalchemy as sa
    from alembic import op

    revision = "0003_alter"
    down_revision = "0002_add_item_description"
    branch_labels = None
    depends_on = None
    kind = "expand"


    def upgrade() -> None:
        op.add_column("items", sa.Column("extra", sa.Text))


    def downgrade() -> None:
        op.drop_column("items", "extra")
    '''
)


@pytest.fixture
def alter_migrations(tmp_path: Path) -> Path:
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "2026_11_26_0003_alter.py").write_text(ALTER_REVISION)
    return location


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch, migrated_db: str) -> Iterator[str]:
    monkeypatch.setenv("DATABASE_URL", migrated_db)
    monkeypatch.setenv("MIGRATE_LOCK_TIMEOUT_SECONDS", "5")
    get_settings.cache_clear()
    yield migrated_db
    get_settings.cache_clear()


def _reader_holding_a_share_lock(url: str) -> psycopg.Connection[tuple[object, ...]]:
    """An open transaction that has read items: it holds ACCESS SHARE until it ends."""
    reader = psycopg.connect(url)
    reader.execute("SELECT count(*) FROM items")
    return reader


def _upgrade_in_background(location: Path) -> tuple[threading.Thread, dict[str, object]]:
    outcome: dict[str, object] = {}

    def upgrade() -> None:
        started = time.monotonic()
        outcome["code"] = run(["upgrade"], script_location=location)
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=upgrade)
    thread.start()
    return thread, outcome


def _read_items(url: str) -> float:
    """Seconds a fresh reader needs for one query on items (bounded at 10 s by the test)."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET statement_timeout = '10s'")
        started = time.monotonic()
        conn.execute("SELECT count(*) FROM items")
        return time.monotonic() - started


def _has_column(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_name = 'items' AND column_name = 'extra'"
        ).fetchone()
    return bool(row and row[0])


def test_a_blocked_migration_lets_readers_through_and_gives_up_at_its_deadline(
    use_database: str, alter_migrations: Path
) -> None:
    reader = _reader_holding_a_share_lock(use_database)
    try:
        thread, outcome = _upgrade_in_background(alter_migrations)
        time.sleep(1)  # let the migration reach its ALTER TABLE
        waits = [_read_items(use_database) for _ in range(5)]
        thread.join(timeout=30)
    finally:
        reader.close()
    assert not thread.is_alive(), "the migration ignored MIGRATE_LOCK_TIMEOUT_SECONDS"
    assert outcome["code"] == ExitCode.LOCKED
    assert 4 <= float(str(outcome["seconds"])) < 10, outcome
    assert max(waits) < 3, f"readers queued behind the migration: {waits}"
    assert not _has_column(use_database)


def test_a_migration_retries_until_the_blocking_transaction_ends(
    use_database: str, alter_migrations: Path
) -> None:
    reader = _reader_holding_a_share_lock(use_database)
    thread, outcome = _upgrade_in_background(alter_migrations)
    time.sleep(2)
    reader.close()
    thread.join(timeout=30)
    assert outcome["code"] == ExitCode.OK
    assert _has_column(use_database)


@pytest.mark.parametrize("command", [["check"], ["wait", "--schema"]])
def test_check_and_wait_keep_their_deadline_when_a_query_blocks(
    migrated_db: str, command: list[str]
) -> None:
    locker = psycopg.connect(migrated_db)
    locker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
    try:
        started = time.monotonic()
        result = subprocess.run(
            [str(SCRIPTS / "platform-migrate"), *command, "--timeout", "2"],
            env=clean_env(DATABASE_URL=migrated_db),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        elapsed = time.monotonic() - started
    finally:
        locker.close()
    assert result.returncode == ExitCode.UNREACHABLE, result.stdout + result.stderr
    assert elapsed < 8, f"took {elapsed:.1f}s with --timeout 2"
