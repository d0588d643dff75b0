"""Fixtures for the backup drills: a real S3 server, both targets, the database-side steps run
with the test server's own PostgreSQL tools (`localpg.BIN`, the server's major), and a summary
of the figures (sizes, restore time) at the end of the session."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import obstore
import pytest
from localpg import BIN
from obstore.store import LocalStore, S3Store

from app.backup import cli, pgtools
from app.config import get_settings
from tests.backup.s3server import S3Server
from tests.support import SCRIPTS, clean_env, json_lines

FIGURES: dict[str, str] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("backup drills: figures")
        for name, value in FIGURES.items():
            terminalreporter.write_line(f"  {name:<56} {value}")


def pg_env() -> dict[str, str]:
    """The database image's environment, as far as the dump and restore steps need it."""
    # TZ=UTC: pg_restore --list prints the archive's creation time in local time (pgtools).
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "TZ": "UTC"}


def dump(url: str, workdir: Path) -> None:
    """The backup's database-image step, exactly as pgtools builds it."""
    workdir.mkdir(exist_ok=True)
    for argv in pgtools.dump_commands(workdir, url):
        proc = subprocess.run(
            argv, env=pg_env(), capture_output=True, text=True, timeout=120, check=False
        )
        assert proc.returncode == 0, f"{argv[0]}: {proc.stderr}"


def pg_restore(url: str, workdir: Path, *, force: bool = False) -> None:
    """The restore's database-image step."""
    argv = pgtools.restore_command(workdir, url, force=force)
    proc = subprocess.run(
        argv, env=pg_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, f"pg_restore: {proc.stderr}"


def backup_cli(
    env: dict[str, str], *args: str, database_url: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`platform-backup ARGS` with only `env` (and the database, when given) configured."""
    inherited = {k: v for k, v in clean_env().items() if not k.startswith(("AWS_", "BACKUP_"))}
    database = {"DATABASE_URL": database_url} if database_url else {}
    return subprocess.run(
        [str(SCRIPTS / "platform-backup"), *args],
        env=inherited | env | database,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


Runner = Callable[..., subprocess.CompletedProcess[str]]
# Settings a runner clears first, so a test sees only what it configures.
CONFIG_PREFIXES = ("BACKUP_", "AWS_", "POSTGRES_", "DATABASE_", "DB_", "APP_", "MIGRATE_", "PG")


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Runner:
    """`platform-backup ARGS` as `backup_cli` runs it, but in this process (`cli.run`): the same
    code, targets and database without a Python start-up each time. The console script itself
    (entry point, exit status of a real process) is covered by the `backup_cli` calls."""

    def run(
        env: dict[str, str], *args: str, database_url: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        for key in list(os.environ):
            if key.startswith(CONFIG_PREFIXES):
                monkeypatch.delenv(key)
        for key, value in (env | ({"DATABASE_URL": database_url} if database_url else {})).items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        capsys.readouterr()
        try:
            code = cli.run(list(args))
        finally:
            get_settings.cache_clear()
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(["platform-backup", *args], int(code), out, err)

    return run


@dataclass
class Target:
    """One backup target, as the CLI is configured for it and as the test inspects it."""

    kind: str
    env: dict[str, str]
    store: S3Store | LocalStore

    def names(self) -> list[str]:
        """Every object in the target, sorted (a real listing, not the CLI's)."""
        listing = obstore.list_with_delimiter(self.store)
        return sorted(meta["path"] for meta in listing["objects"])

    def read(self, name: str) -> bytes:
        return bytes(obstore.get(self.store, name).bytes())

    def write(self, name: str, data: bytes) -> None:
        obstore.put(self.store, name, data)


def uploaded(run: Runner, target: Target, workdir: Path, **env: str) -> dict[str, Any]:
    """`platform-backup upload` of what the dump step left in `workdir`; its log line."""
    proc = run(target.env | env, "upload", str(workdir))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return next(line for line in json_lines(proc.stdout) if line["event"] == "backup uploaded")


def backup(run: Runner, url: str, target: Target, workdir: Path) -> dict[str, Any]:
    dump(url, workdir)
    return uploaded(run, target, workdir)


def one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The failure's only error line; nothing else on stderr, no traceback anywhere."""
    errors = [line for line in json_lines(proc.stdout) if line["level"] == "error"]
    assert len(errors) == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert proc.stderr == ""
    return json.dumps(errors[0], ensure_ascii=False)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture(params=["filesystem", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Each test runs against both targets, each time in a place of its own."""
    if request.param == "filesystem":
        directory = tmp_path / "backups"
        directory.mkdir()
        return Target(
            "filesystem",
            {"BACKUP_TARGET": "filesystem", "BACKUP_DIR": str(directory)},
            LocalStore(directory),
        )
    server: S3Server = request.getfixturevalue("s3_server")
    prefix = f"test/{uuid.uuid4().hex[:12]}"
    return Target("s3", server.env(prefix), server.store(prefix))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The shared directory of a backup or restore pod (an emptyDir in Kubernetes)."""
    path = tmp_path / "work"
    path.mkdir()
    return path
