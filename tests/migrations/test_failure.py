"""A failing revision rolls back the whole upgrade and releases the lock."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.config import get_settings
from app.migrate.cli import ExitCode, run
from app.revisions.window import MIGRATIONS_DIR
from tests.support import migrate

FAILING_REVISION = textwrap.dedent(
    '''
    """Test-only: adds a column, then fails."""
    import sqlalchemy as sa
    from alembic import op

    revision = "0003_fails"
    down_revision = "0002_add_item_description"
    branch_labels = None
    depends_on = None
    kind = "expand"


    def upgrade() -> None:
        op.add_column("items", sa.Column("doomed", sa.Text))
        op.execute("SELECT 1 / 0")


    def downgrade() -> None:
        op.drop_column("items", "doomed")
    '''
)


@pytest.fixture
def failing_migrations(tmp_path: Path) -> Path:
    """The shipped migrations plus one revision that fails halfway through."""
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "2026_11_26_0003_fails.py").write_text(FAILING_REVISION)
    return location


@pytest.fixture
def use_database(monkeypatch: pytest.MonkeyPatch, fresh_db: str) -> Iterator[str]:
    """Point the in-process CLI at the test's database (settings are cached: reset them)."""
    monkeypatch.setenv("DATABASE_URL", fresh_db)
    get_settings.cache_clear()
    yield fresh_db
    get_settings.cache_clear()


def _snapshot(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        version = (
            conn.execute("SELECT version_num FROM alembic_version").fetchall() if columns else []
        )
    return tuple(columns), tuple(version)


def _lock_is_free(url: str) -> bool:
    with psycopg.connect(url) as conn:
        held = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
    return held == (0,)


def test_failing_revision_leaves_schema_and_version_unchanged(
    use_database: str, failing_migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate(use_database, "upgrade", check=True)
    before = _snapshot(use_database)

    assert run(["upgrade"], script_location=failing_migrations) == ExitCode.FAILED

    # It failed inside the revision (not earlier), and that is what the log says.
    assert "division by zero" in capsys.readouterr().out
    assert _snapshot(use_database) == before
    assert _lock_is_free(use_database)


def test_failure_from_empty_applies_nothing(
    use_database: str, failing_migrations: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["upgrade"], script_location=failing_migrations) == ExitCode.FAILED
    assert "Running upgrade 0002_add_item_description -> 0003_fails" in capsys.readouterr().out
    assert _snapshot(use_database) == ((), ())
    assert _lock_is_free(use_database)
