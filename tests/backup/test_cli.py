"""`platform-backup` edge cases: missing pieces, names that are not backups, a manifest moved
under another name, `prune` alone, and SIGTERM while waiting."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

from localpg import free_port
from obstore.store import LocalStore

from app.backup import pgtools
from tests.backup.conftest import Runner, Target, backup, dump, one_error_line, uploaded
from tests.support import SCRIPTS, clean_env, json_lines


def fs(tmp_path: Path) -> Target:
    directory = tmp_path / "backups"
    directory.mkdir(exist_ok=True)
    return Target("filesystem", {"BACKUP_DIR": str(directory)}, LocalStore(directory))


def test_nothing_to_restore(tmp_path: Path, fresh_db: str, in_process: Runner) -> None:
    target = fs(tmp_path)
    for args, message in (
        (["verify"], "no complete backup in filesystem"),
        (["verify", "--backup", "20261202T000000.000000Z"], "no complete backup 20261202T"),
        (["verify", "--backup", "yesterday"], "'yesterday' is not a backup id"),
    ):
        proc = in_process(target.env, *args, database_url=fresh_db)
        assert proc.returncode == 1
        assert message in one_error_line(proc)


def test_a_dump_without_its_listings_is_not_uploaded(
    migrated_db: str, tmp_path: Path, in_process: Runner
) -> None:
    target, work = fs(tmp_path), tmp_path / "work"
    dump(migrated_db, work)
    (work / pgtools.TOC).unlink()
    proc = in_process(target.env, "upload", str(work))
    assert proc.returncode == 1
    assert "no db.toc in" in one_error_line(proc)
    assert target.names() == []


def test_a_manifest_under_another_backups_name_is_refused(
    migrated_db: str, tmp_path: Path, in_process: Runner
) -> None:
    target = fs(tmp_path)
    first = backup(in_process, migrated_db, target, tmp_path / "work")["id"]
    second = uploaded(in_process, target, tmp_path / "work")["id"]
    shutil.copy(Path(target.env["BACKUP_DIR"]) / f"{first}.json",
                Path(target.env["BACKUP_DIR"]) / f"{second}.json")  # fmt: skip
    proc = in_process(target.env, "verify")
    assert proc.returncode == 4
    assert f"the manifest of {second} describes another backup" in one_error_line(proc)


def test_prune_alone_applies_retention(
    migrated_db: str, tmp_path: Path, in_process: Runner
) -> None:
    target = fs(tmp_path)
    backup(in_process, migrated_db, target, tmp_path / "work")
    ids = [uploaded(in_process, target, tmp_path / "work")["id"] for _ in range(2)]
    proc = in_process(target.env | {"BACKUP_KEEP_LAST": "1"}, "prune")
    assert proc.returncode == 0
    line = json_lines(proc.stdout)[-1]
    assert (line["event"], line["kept"], len(line["deleted"])) == ("retention applied", 1, 2)
    assert target.names() == [f"{ids[-1]}.dump", f"{ids[-1]}.json"]


def test_sigterm_while_waiting_for_the_database_exits_143_promptly(
    migrated_db: str, tmp_path: Path, in_process: Runner
) -> None:
    target = fs(tmp_path)
    backup(in_process, migrated_db, target, tmp_path / "work")
    down = f"postgresql://platform@127.0.0.1:{free_port()}/platform"
    env = clean_env(DATABASE_URL=down, **target.env)
    work = tmp_path / "restore"
    work.mkdir()
    process = subprocess.Popen(
        [str(SCRIPTS / "platform-backup"), "fetch", str(work), "--timeout", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    # Waiting (forever) for the database shows as retry lines: then terminate it.
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while "database not ready, retrying" not in process.stdout.readline():
        assert time.monotonic() < deadline, "never started waiting"
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 143
    errors = [line for line in json_lines(stdout) if line["level"] == "error"]
    assert [e["event"] for e in errors] == ["terminated by SIGTERM; nothing more was written"]
    assert stderr == ""
    assert list(work.iterdir()) == []


def test_a_usage_error_exits_2() -> None:
    proc = subprocess.run([str(SCRIPTS / "platform-backup"), "upload"], capture_output=True,
                          text=True, check=False, env=clean_env())  # fmt: skip
    assert proc.returncode == 2
    assert "usage: platform-backup" in proc.stderr
