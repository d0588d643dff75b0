"""The restore refusals as rules: the schema window and the target database's state."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.backup import safety
from app.backup.manifest import DumpFile, Manifest, SchemaInfo
from app.revisions.window import CodeRevisions, SchemaState

CODE = CodeRevisions.load()


def manifest(revision: str | None, parent: str | None = None, kind: str | None = None) -> Manifest:
    return Manifest(
        id="20261202T060000.000000Z",
        created_at=datetime(2026, 12, 2, tzinfo=UTC),
        dumped_at=None,
        database="platform",
        server_version="16.14",
        server_major=16,
        pg_dump_version="16.14",
        schema_revision=SchemaInfo(revision=revision, parent=parent, kind=kind),
        dump=DumpFile(name="x.dump", size=1, sha256="0" * 64, compression="gzip",
                      archive_version="1.15-0"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("backup", "state"),
    [
        (manifest(None), SchemaState.EMPTY),
        (manifest("0001_create_items"), SchemaState.BEHIND),
        (manifest(CODE.head), SchemaState.AT_HEAD),
        (manifest("0009_next", CODE.head, "expand"), SchemaState.AHEAD_COMPATIBLE),
    ],
)
def test_backups_this_code_can_migrate_from_are_accepted(backup: Manifest, state: str) -> None:
    assert safety.check_schema(backup, CODE).state == state


@pytest.mark.parametrize(
    "backup",
    [
        manifest("0009_next", CODE.head, "contract"),
        manifest("0010_after_next", "0009_next", "expand"),
        manifest("0009_other_branch", "0001_create_items", "expand"),
    ],
)
def test_backups_beyond_the_window_are_refused(backup: Manifest) -> None:
    with pytest.raises(safety.RestoreRefusedError, match="cannot migrate from"):
        safety.check_schema(backup, CODE)


def test_an_older_server_is_refused_even_when_forced() -> None:
    state = safety.DatabaseState(name="platform", server_major=15, relations=[])
    with pytest.raises(safety.RestoreRefusedError, match="comes from PostgreSQL 16; database"):
        safety.check_database(state, manifest(CODE.head), force=True)


def test_a_non_empty_database_is_refused_unless_forced() -> None:
    relations = [f"public.t{i}" for i in range(7)]
    state = safety.DatabaseState(name="platform", server_major=17, relations=relations)
    with pytest.raises(safety.RestoreRefusedError, match=r"7 relations: public.t0, .*t4, \.\.\.\)"):
        safety.check_database(state, manifest(CODE.head), force=False)
    safety.check_database(state, manifest(CODE.head), force=True)
    empty = safety.DatabaseState(name="platform", server_major=16, relations=[])
    safety.check_database(empty, manifest(CODE.head), force=False)


def test_inspect_sees_user_relations_only(fresh_db: str, migrated_db: str) -> None:
    assert safety.inspect_database(fresh_db).relations == []
    state = safety.inspect_database(migrated_db)
    assert state.relations == [
        "public.alembic_version", "public.items", "public.items_id_seq", "public.schema_revisions"
    ]  # fmt: skip
    assert state.server_major >= 15
