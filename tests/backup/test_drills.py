"""Backup and restore drills against a real PostgreSQL and both real targets (a directory and a
versitygw S3 server): the round trip, retention, and every refusal, each leaving the database as
it was. The steps whose exit status a Job shows run the console script (`backup_cli`); the
others run the same CLI in this process (`in_process`), which saves a Python start-up each."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from localpg import BIN, LocalPostgres, free_port
from obstore.store import LocalStore

from app.backup import pgtools
from app.revisions.window import CodeRevisions
from tests.backup.conftest import (
    FIGURES,
    Runner,
    Target,
    backup,
    backup_cli,
    dump,
    one_error_line,
    pg_env,
    pg_restore,
    uploaded,
)
from tests.backup.data import fill, relation_count, snapshot
from tests.support import json_lines, migrate

HEAD = CodeRevisions.load().head


def recreate(url: str) -> None:
    """Drop the database and create it again, empty: the data volume is gone."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture
def other_db(pg: LocalPostgres, migrated_template: str) -> Iterator[str]:
    """A second database at head, for a restore target that already holds data."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
    yield pg.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_backup_wipe_restore_gives_identical_rows_and_revision(
    migrated_db: str, target: Target, tmp_path: Path, in_process: Runner
) -> None:
    # The API's own DML-only login and group (ADR 0051), as the migration Job makes them.
    group = f"t_app_{uuid.uuid4().hex[:8]}"

    def migrate_with_roles() -> subprocess.CompletedProcess[str]:
        return migrate(
            migrated_db,
            "upgrade",
            APP_POSTGRES_GROUP=group,
            APP_POSTGRES_USER=f"{group}_a",
            APP_POSTGRES_PASSWORD="app-login-pw",
        )

    assert migrate_with_roles().returncode == 0
    fill(migrated_db, 500)
    before = snapshot(migrated_db)
    assert before[0] == 500
    assert before[2] == HEAD
    api_url = migrated_db.replace("//platform@", f"//{group}_a:app-login-pw@")

    line = backup(backup_cli, migrated_db, target, tmp_path / "backup")
    backup_id = line["id"]
    assert target.names() == [f"{backup_id}.dump", f"{backup_id}.json"]
    manifest = json.loads(target.read(f"{backup_id}.json"))
    local_dump = (tmp_path / "backup" / pgtools.DUMP).read_bytes()
    assert manifest["dump"]["sha256"] == hashlib.sha256(local_dump).hexdigest()
    assert manifest["dump"]["size"] == len(local_dump) == line["size_bytes"]
    assert manifest["schema_revision"]["revision"] == HEAD
    assert manifest["schema_revision"]["kind"] == "expand"
    assert manifest["database"] == migrated_db.rsplit("/", 1)[1]
    version = subprocess.run(
        [BIN / "postgres", "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert manifest["server_major"] == int(version.split()[2].split(".")[0])
    assert manifest["dumped_at"] is not None

    verified = in_process(target.env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json_lines(verified.stdout)[-1]["id"] == backup_id

    recreate(migrated_db)
    assert relation_count(migrated_db) == 0
    restore_dir = tmp_path / "restore"
    restore_dir.mkdir()
    started = time.monotonic()
    fetched = backup_cli(target.env, "fetch", str(restore_dir), database_url=migrated_db)
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    pg_restore(migrated_db, restore_dir)
    restored_in = time.monotonic() - started

    assert snapshot(migrated_db) == before
    # pg_restore --no-privileges leaves the API's login without grants ...
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        snapshot(api_url)
    # ... and the migration that follows every restore gives them back.
    upgraded = migrate_with_roles()
    assert upgraded.returncode == 0, upgraded.stdout
    assert json_lines(upgraded.stdout)[-1]["event"] == "schema already at head"
    assert snapshot(api_url) == before
    with psycopg.connect(api_url) as conn:
        row = conn.execute("INSERT INTO items (name) VALUES ('after restore') RETURNING id")
        new_id = row.fetchone()
    assert new_id is not None
    assert new_id[0] > 500, "the identity sequence was restored too"
    FIGURES[f"{target.kind}: 500 items, dump size"] = f"{len(local_dump) / 1024:.1f} KiB"
    FIGURES[f"{target.kind}: fetch (checksum) + pg_restore, 500 items"] = f"{restored_in:.2f} s"


def test_retention_keeps_exactly_n_after_n_plus_2_runs_and_only_touches_its_own_objects(
    migrated_db: str, target: Target, workdir: Path, in_process: Runner
) -> None:
    stale, recent = "20200101T000000.000000Z.dump", "29991231T235959.999999Z.dump"
    target.write("operator-notes.txt", b"not a backup")
    target.write(stale, b"PGDMP cut short a long time ago")
    target.write(recent, b"PGDMP still uploading")
    fill(migrated_db, 10)
    dump(migrated_db, workdir)
    keep = 2
    runs = range(keep + 2)
    ids = [uploaded(in_process, target, workdir, BACKUP_KEEP_LAST=str(keep))["id"] for _ in runs]
    assert ids == sorted(ids)
    kept = [f"{i}{suffix}" for i in ids[-keep:] for suffix in (".dump", ".json")]
    assert target.names() == sorted([*kept, recent, "operator-notes.txt"])
    listing = in_process(target.env, "list")
    assert listing.returncode == 0, listing.stderr
    assert [json.loads(line)["id"] for line in listing.stdout.splitlines()] == ids[::-1][:keep]


@pytest.fixture
def fs_target(tmp_path: Path) -> Target:
    """The filesystem target alone, for rules that do not depend on where backups are stored."""
    directory = tmp_path / "backups"
    directory.mkdir()
    return Target("filesystem", {"BACKUP_TARGET": "filesystem", "BACKUP_DIR": str(directory)},
                  LocalStore(directory))  # fmt: skip


def backed_up(run: Runner, url: str, target: Target, tmp_path: Path, items: int = 50) -> str:
    """Fill the database and back it up; the backup's id."""
    fill(url, items)
    return str(backup(run, url, target, tmp_path / "backup")["id"])


def test_a_flipped_byte_is_refused_by_checksum_and_nothing_is_written(
    migrated_db: str, target: Target, fresh_db: str, tmp_path: Path, in_process: Runner
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    backup_id = backed_up(in_process, migrated_db, target, tmp_path)
    data = bytearray(target.read(f"{backup_id}.dump"))
    data[len(data) // 2] ^= 0x01
    target.write(f"{backup_id}.dump", bytes(data))

    proc = backup_cli(target.env, "fetch", str(workdir), database_url=fresh_db)
    assert proc.returncode == 4
    assert "fails its checksum" in one_error_line(proc)
    assert list(workdir.iterdir()) == []
    assert relation_count(fresh_db) == 0
    verified = in_process(target.env, "verify", "--backup", backup_id)
    assert verified.returncode == 4
    assert "fails its checksum" in one_error_line(verified)


def test_a_damaged_manifest_is_refused(
    migrated_db: str, fs_target: Target, fresh_db: str, tmp_path: Path, in_process: Runner
) -> None:
    target, workdir = fs_target, tmp_path / "work"
    workdir.mkdir()
    backup_id = backed_up(in_process, migrated_db, target, tmp_path)
    manifest = json.loads(target.read(f"{backup_id}.json"))
    manifest["dump"]["size"] = "big"
    target.write(f"{backup_id}.json", json.dumps(manifest).encode())
    proc = in_process(target.env, "fetch", str(workdir), database_url=fresh_db)
    assert proc.returncode == 1
    assert "invalid manifest: dump.size" in one_error_line(proc)
    assert list(workdir.iterdir()) == []


def test_restore_into_a_non_empty_database_is_refused_unless_forced(
    migrated_db: str, fs_target: Target, other_db: str, tmp_path: Path, in_process: Runner
) -> None:
    source, target, workdir = migrated_db, fs_target, tmp_path / "work"
    workdir.mkdir()
    backed_up(in_process, source, target, tmp_path)
    fill(other_db, 7)
    before = snapshot(other_db)

    proc = in_process(target.env, "fetch", str(workdir), database_url=other_db)
    assert proc.returncode == 4
    message = one_error_line(proc)
    assert "is not empty (4 relations: public.alembic_version, public.items" in message
    assert list(workdir.iterdir()) == []
    assert snapshot(other_db) == before

    forced = in_process(target.env, "fetch", str(workdir), "--force", database_url=other_db)
    assert forced.returncode == 0, forced.stdout + forced.stderr
    pg_restore(other_db, workdir, force=True)
    assert snapshot(other_db) == snapshot(source)


@pytest.mark.parametrize(
    "newer",
    [
        pytest.param(("contract", HEAD, True), id="contract step ahead"),
        pytest.param(("expand", "0003_between", True), id="two steps ahead"),
        pytest.param(("expand", HEAD, False), id="one expand step ahead (inside the window)"),
    ],
)
def test_a_backup_of_a_schema_beyond_the_window_is_refused(
    migrated_db: str,
    fs_target: Target,
    fresh_db: str,
    newer: tuple[str, str, bool],
    in_process: Runner,
) -> None:
    """`newer`: the kind and parent of the backup's revision, and whether it is refused."""
    kind, parent, refused = newer
    fs = fs_target
    workdir = Path(fs.env["BACKUP_DIR"]).parent / "work"
    workdir.mkdir()
    with psycopg.connect(migrated_db) as conn:
        # What a newer release's migration leaves behind: its revision and ledger row.
        conn.execute(
            "INSERT INTO schema_revisions (revision, parent, kind) VALUES ('0004_future', %s, %s)",
            (parent, kind),
        )
        conn.execute("UPDATE alembic_version SET version_num = '0004_future'")
    backup_id = backup(in_process, migrated_db, fs, workdir.parent / "dump")["id"]

    proc = in_process(fs.env, "fetch", str(workdir), "--backup", backup_id, database_url=fresh_db)
    if refused:
        assert proc.returncode == 4
        assert "schema revision 0004_future, which this code" in one_error_line(proc)
        assert list(workdir.iterdir()) == []
        assert relation_count(fresh_db) == 0
    else:
        assert proc.returncode == 0, proc.stdout
        assert (workdir / pgtools.DUMP).is_file()


def test_database_down_fails_backup_and_restore_with_one_clear_line(
    migrated_db: str, fs_target: Target, tmp_path: Path, workdir: Path, in_process: Runner
) -> None:
    backed_up(in_process, migrated_db, fs_target, tmp_path, items=1)
    # Nothing listens on the database's address: the server is down.
    down = f"postgresql://platform@127.0.0.1:{free_port()}/platform"

    step = subprocess.run(
        pgtools.dump_commands(workdir, down)[0], env=pg_env(), capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    assert step.returncode != 0
    assert "connection to server" in step.stderr
    proc = in_process(fs_target.env, "upload", str(workdir))
    assert proc.returncode == 1
    assert "empty or not a pg_dump custom-format archive: the dump step did not complete" in (
        one_error_line(proc)
    )
    (workdir / pgtools.DUMP).unlink()

    restore = backup_cli(fs_target.env, "fetch", str(workdir), "--timeout", "1", database_url=down)
    assert restore.returncode == 3
    assert "database not reachable after 1s" in one_error_line(restore)
    assert list(workdir.iterdir()) == []
