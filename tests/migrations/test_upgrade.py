"""platform-migrate upgrade and check against a real PostgreSQL."""

from __future__ import annotations

import psycopg

from tests.support import json_lines, migrate

HEAD = "0002_add_item_description"


def _columns(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'items'"
        ).fetchall()
    return {row[0] for row in rows}


def _version(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def test_fresh_database_is_upgraded_to_head(fresh_db: str) -> None:
    result = migrate(fresh_db, "upgrade")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _version(fresh_db) == HEAD
    assert _columns(fresh_db) == {"id", "name", "description", "created_at", "updated_at"}
    summary = json_lines(result.stdout)[-1]
    assert summary["event"] == "schema upgraded"
    assert summary["applied"] == ["0001_create_items", HEAD]


def test_second_run_is_a_no_op(migrated_db: str) -> None:
    result = migrate(migrated_db)  # no subcommand means upgrade
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json_lines(result.stdout)[-1]
    assert summary["event"] == "schema already at head"
    assert summary["applied"] == []


def test_ledger_records_each_revision_with_its_kind(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        rows = conn.execute(
            "SELECT revision, parent, kind FROM schema_revisions ORDER BY revision"
        ).fetchall()
    assert rows == [
        ("0001_create_items", None, "contract"),
        (HEAD, "0001_create_items", "expand"),
    ]


def test_check_fails_on_an_empty_database(fresh_db: str) -> None:
    result = migrate(fresh_db, "check")
    assert result.returncode == 1
    assert json_lines(result.stdout)[-1]["state"] == "empty"


def test_check_passes_at_head(migrated_db: str) -> None:
    result = migrate(migrated_db, "check")
    assert result.returncode == 0
    line = json_lines(result.stdout)[-1]
    assert (line["current"], line["head"], line["state"]) == (HEAD, HEAD, "at_head")


def test_check_fails_when_behind(migrated_db: str) -> None:
    with psycopg.connect(migrated_db) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0001_create_items'")
    result = migrate(migrated_db, "check")
    assert result.returncode == 1
    assert json_lines(result.stdout)[-1]["state"] == "behind"


def _pretend_newer_release_migrated(url: str, kind: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO schema_revisions (revision, parent, kind) VALUES ('0003_next', %s, %s)",
            (HEAD, kind),
        )
        conn.execute("UPDATE alembic_version SET version_num = '0003_next'")


def test_check_passes_one_expand_step_ahead(migrated_db: str) -> None:
    _pretend_newer_release_migrated(migrated_db, "expand")
    result = migrate(migrated_db, "check")
    assert result.returncode == 0
    assert json_lines(result.stdout)[-1]["state"] == "ahead_compatible"


def test_check_fails_one_contract_step_ahead(migrated_db: str) -> None:
    _pretend_newer_release_migrated(migrated_db, "contract")
    result = migrate(migrated_db, "check")
    assert result.returncode == 1
    assert json_lines(result.stdout)[-1]["state"] == "incompatible"


def test_wait_for_schema_returns_once_migrated(fresh_db: str) -> None:
    behind = migrate(fresh_db, "wait", "--schema", "--timeout", "1")
    assert behind.returncode == 3
    migrate(fresh_db, "upgrade", check=True)
    ready = migrate(fresh_db, "wait", "--schema", "--timeout", "5")
    assert ready.returncode == 0, ready.stdout


def test_logs_never_contain_the_password(fresh_db: str) -> None:
    url = fresh_db.replace("platform@", "platform:s3cr3t-pw@")
    result = migrate(url, "upgrade")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "s3cr3t-pw" not in result.stdout + result.stderr


def test_upgrade_leaves_a_schema_one_expand_step_ahead_alone(migrated_db: str) -> None:
    """What `helm rollback` does: the older release's migration Job runs again."""
    _pretend_newer_release_migrated(migrated_db, "expand")
    result = migrate(migrated_db, "upgrade")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json_lines(result.stdout)[-1]["event"].startswith("schema ahead of this code")
    with psycopg.connect(migrated_db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone() == ("0003_next",)


def test_upgrade_refuses_a_schema_beyond_the_window(migrated_db: str) -> None:
    _pretend_newer_release_migrated(migrated_db, "contract")
    result = migrate(migrated_db, "upgrade")
    assert result.returncode == 1
    assert "refusing to migrate: schema incompatible" in result.stdout
