"""PostgreSQL 15 -> 17, outside the chart, with the platform's own backup path and real images
(docs/runbooks/postgres-major-upgrade.md): a 15 server with data is dumped with the 15 image's
tools, uploaded by the app image, fetched and restored into a new 17 volume with the 17 image's
tools, migrated, and served by the API. The 17 image refuses the 15 volume (pg-version-guard)
and leaves it intact; a 17 backup is refused by a 15 server."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dockerctl
import httpx
import psycopg
import pytest
from dockerctl import HARDENED

from app.backup import pgtools
from app.revisions.window import CodeRevisions
from tests.backup.data import fill, snapshot

USER, DB, APP_USER = "platform", "platform", "platform_app_a"
PGDATA = "/var/lib/postgresql/data/pgdata"
FIGURES: dict[str, str] = {}


@dataclass(frozen=True)
class Server:
    container: str
    volume: str
    image: str
    password: str

    @property
    def url(self) -> str:
        """From the host, through the published port."""
        port = dockerctl.host_port(self.container, 5432)
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{port}/{DB}"

    def libpq_env(self, database: str = DB) -> list[str]:
        env = {"PGHOST": self.container, "PGUSER": USER, "PGPASSWORD": self.password,
               "PGDATABASE": database, "TZ": "UTC"}  # fmt: skip
        return dockerctl.env_args(env)

    def migrate_env(self, database: str = DB) -> list[str]:
        """The migration role (also what the backup steps use), and the API's login it makes."""
        env = {"POSTGRES_HOST": self.container, "POSTGRES_DB": database, "POSTGRES_USER": USER,
               "POSTGRES_PASSWORD": self.password, "APP_POSTGRES_USER": APP_USER,
               "APP_POSTGRES_PASSWORD": f"app-{self.password}"}  # fmt: skip
        return dockerctl.env_args(env)

    def api_env(self) -> list[str]:
        """The API as it runs: its own DML-only login (ADR 0051)."""
        env = {"POSTGRES_HOST": self.container, "POSTGRES_DB": DB, "POSTGRES_USER": APP_USER,
               "POSTGRES_PASSWORD": f"app-{self.password}",
               "DB_CHECK_INTERVAL_SECONDS": "0.5"}  # fmt: skip
        return dockerctl.env_args(env)


def start(server: Server, network: str) -> None:
    dockerctl.docker(
        "run", "-d", "--name", server.container, "--network", network,
        "-v", f"{server.volume}:/var/lib/postgresql/data", "-e", f"PGDATA={PGDATA}",
        "-e", f"POSTGRES_USER={USER}", "-e", f"POSTGRES_PASSWORD={server.password}",
        "-e", f"POSTGRES_DB={DB}", "-p", "127.0.0.1::5432", server.image,
    )  # fmt: skip
    dockerctl.wait_for_postgres(server.container, USER, DB)


def shared_dir(prefix: str) -> Path:
    """A host directory both images' users (999 and 10001) can write: the pod's emptyDir."""
    path = Path(tempfile.mkdtemp(prefix=f"platform-image-test-{prefix}-"))
    path.chmod(0o777)
    return path


def dump_step(server: Server, network: str, work: Path) -> None:
    """The backup's database-image step, in the server's own image (pgtools' argv)."""
    script = " && ".join(shlex.join(argv) for argv in pgtools.dump_commands(Path("/work")))
    dockerctl.docker(
        "run", "--rm", "--network", network, *HARDENED, "-v", f"{work}:/work",
        *server.libpq_env(), "--entrypoint", "sh", server.image, "-ec", script,
        timeout=120,
    )  # fmt: skip


def restore_step(server: Server, network: str, work: Path) -> None:
    argv = pgtools.restore_command(Path("/work"), DB)
    dockerctl.docker(
        "run", "--rm", "--network", network, *HARDENED, "-v", f"{work}:/work",
        *server.libpq_env(), "--entrypoint", argv[0], server.image, *argv[1:],
        timeout=120,
    )  # fmt: skip


def app(
    image: str, network: str, env: list[str], mounts: dict[Path, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """A console script of the app image, hardened like the chart runs it."""
    volumes = [arg for host, inside in mounts.items() for arg in ("-v", f"{host}:{inside}")]
    return dockerctl.docker(
        "run", "--rm", "--network", network, *HARDENED, *env, *volumes, image, *args,
        check=False, timeout=180,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pg15(
    network: str, suffix: str, image: str
) -> Iterator[tuple[Server, tuple[int, str, str | None]]]:
    """A 15 server at head with 500 Unicode items; (server, its snapshot)."""
    server = Server(f"platform-image-test-up15-{suffix}", f"platform-image-test-up15-{suffix}",
                    dockerctl.postgres_image(), f"pw15-{suffix}")  # fmt: skip
    try:
        start(server, network)
        migrated = app(image, network, server.migrate_env(), {}, "platform-migrate", "upgrade")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        fill(server.url, 500)
        yield server, snapshot(server.url)
    finally:
        dockerctl.remove(server.container)
        dockerctl.docker("volume", "rm", "-f", server.volume, check=False)


@pytest.fixture(scope="module")
def backups() -> Iterator[Path]:
    path = shared_dir("backups")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def backup15(
    pg15: tuple[Server, object], network: str, image: str, backups: Path
) -> Iterator[dict[str, object]]:
    """The 15 server backed up with the 15 image's tools; the uploaded manifest."""
    server, _ = pg15
    work = shared_dir("backup15")
    try:
        dump_step(server, network, work)
        env = ["-e", "BACKUP_DIR=/backups"]
        uploaded = app(image, network, env, {work: "/work", backups: "/backups"},
                       "platform-backup", "upload", "/work")  # fmt: skip
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        manifest = next(backups.glob("*.json"))
        yield json.loads(manifest.read_text())
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def pg17(
    backup15: dict[str, object], network: str, suffix: str, image: str, backups: Path
) -> Iterator[Server]:
    """A new 17 server on a new volume, restored from the 15 backup and migrated."""
    server = Server(f"platform-image-test-up17-{suffix}", f"platform-image-test-up17-{suffix}",
                    dockerctl.postgres17_image(), f"pw17-{suffix}")  # fmt: skip
    work = shared_dir("restore17")
    try:
        start(server, network)
        started = time.monotonic()
        env = ["-e", "BACKUP_DIR=/backups", *server.migrate_env()]
        fetched = app(image, network, env, {work: "/work", backups: "/backups"},
                      "platform-backup", "fetch", "/work")  # fmt: skip
        assert fetched.returncode == 0, fetched.stdout + fetched.stderr
        restore_step(server, network, work)
        migrated = app(image, network, server.migrate_env(), {}, "platform-migrate", "upgrade")
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        FIGURES["15 -> 17: fetch + pg_restore (17 tools) + migrate, 500 items"] = (
            f"{time.monotonic() - started:.1f} s"
        )
        yield server
    finally:
        dockerctl.remove(server.container)
        dockerctl.docker("volume", "rm", "-f", server.volume, check=False)
        shutil.rmtree(work, ignore_errors=True)


def test_the_backup_was_taken_by_15_tools_from_a_15_server(backup15: dict[str, object]) -> None:
    assert backup15["server_major"] == 15
    assert str(backup15["pg_dump_version"]).startswith("15.")
    assert backup15["schema_revision"] == {
        "revision": CodeRevisions.load().head, "parent": "0001_create_items", "kind": "expand"
    }  # fmt: skip


def test_data_and_schema_are_intact_on_17(
    pg15: tuple[Server, tuple[int, str, str | None]], pg17: Server
) -> None:
    _, before = pg15
    assert snapshot(pg17.url) == before
    with psycopg.connect(pg17.url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()
    assert version is not None
    assert int(version[0]) // 10000 == 17


def test_the_api_serves_the_restored_data_from_17(
    pg17: Server, image: str, network: str, suffix: str
) -> None:
    name = f"platform-image-test-api17-{suffix}"
    try:
        dockerctl.docker("run", "-d", "--name", name, *HARDENED, "--network", network,
                         *pg17.api_env(), "-p", "127.0.0.1::8000", image)  # fmt: skip
        url = f"http://127.0.0.1:{dockerctl.host_port(name)}"
        dockerctl.wait_for_status(f"{url}/db-check", timeout=60)
        page = httpx.get(f"{url}/api/v1/items", params={"limit": 3, "count": "true"}).json()
        assert page["count"] == 500
        assert page["data"][1]["name"] == "東京の天気 #1"
    finally:
        dockerctl.remove(name)


def test_a_17_backup_is_refused_by_a_15_server(
    pg15: tuple[Server, object], pg17: Server, network: str, image: str
) -> None:
    server15, _ = pg15
    backups, work = shared_dir("backups17"), shared_dir("refuse15")
    try:
        dump_step(pg17, network, work)
        mounts = {work: "/work", backups: "/backups"}
        env = ["-e", "BACKUP_DIR=/backups"]
        uploaded = app(image, network, env, mounts, "platform-backup", "upload", "/work")
        assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
        with psycopg.connect(server15.url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE empty15")
        (work / pgtools.DUMP).unlink()
        env = ["-e", "BACKUP_DIR=/backups", *server15.migrate_env("empty15")]
        fetched = app(image, network, env, mounts, "platform-backup", "fetch", "/work")
        assert fetched.returncode == 4, fetched.stdout + fetched.stderr
        assert "comes from PostgreSQL 17; database empty15 runs 15" in fetched.stdout
        assert not (work / pgtools.DUMP).exists()
    finally:
        shutil.rmtree(backups, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


def test_the_17_image_refuses_the_15_volume_and_leaves_it_intact(
    pg15: tuple[Server, tuple[int, str, str | None]],
    network: str,
    suffix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server15, before = pg15
    dockerctl.docker("stop", "-t", "30", server15.container, timeout=60)
    wrong = f"platform-image-test-wrong-major-{suffix}"
    try:
        dockerctl.docker(
            "run", "--name", wrong, "--network", network,
            "-v", f"{server15.volume}:/var/lib/postgresql/data", "-e", f"PGDATA={PGDATA}",
            "-e", f"POSTGRES_PASSWORD={server15.password}", dockerctl.postgres17_image(),
            check=False, timeout=60,
        )  # fmt: skip
        state = dockerctl.inspect(wrong)["State"]
        logs = dockerctl.docker("logs", wrong).stderr
        assert state["ExitCode"] == 1, logs
        assert "holds a PostgreSQL 15 cluster and this image runs PostgreSQL 17" in logs
        assert "postgres-major-upgrade.md" in logs
        assert "incompatible with server" not in logs, "the guard must run before the server"
    finally:
        dockerctl.remove(wrong)
    # The old claim is untouched: the 15 image starts on it with every row.
    dockerctl.docker("start", server15.container)
    dockerctl.wait_for_postgres(server15.container, USER, DB)
    assert snapshot(server15.url) == before
    with capsys.disabled():
        print("", *(f"  {name}: {value}" for name, value in FIGURES.items()), sep="\n")
