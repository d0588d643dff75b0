"""The PostgreSQL images, 15 and 17 (the Debian-built stand-ins unless POSTGRES_IMAGE /
POSTGRES17_IMAGE say otherwise), honour the parts of the official image's contract the manifests
rely on: POSTGRES_USER/PASSWORD/DB, PGDATA in a subdirectory of the mount, initdb only on an empty
data directory, uid 999, pg_isready, pg_dump and pg_restore on PATH, a read-only root filesystem
with writable PGDATA, /var/run/postgresql and /tmp, scram-sha-256 for remote hosts, fast shutdown
on `docker stop`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import dockerctl
import pytest

USER, DB = "owner", "appdb"
PGDATA = "/var/lib/postgresql/data/pgdata"


@pytest.fixture(scope="module", params=["15", "17"])
def major(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def pg_image(major: str) -> str:
    """The image of this major; every test of the module runs against each."""
    image = dockerctl.postgres_image() if major == "15" else dockerctl.postgres17_image()
    if dockerctl.docker("image", "inspect", image, check=False).returncode != 0:
        pytest.fail(f"image {image} not found: run `make base-images` first")
    return image


@pytest.fixture(scope="module")
def volume(suffix: str, major: str) -> Iterator[str]:
    name = f"platform-image-test-pgdata-{major}-{suffix}"
    dockerctl.docker("volume", "create", name)
    yield name
    dockerctl.docker("volume", "rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def password() -> str:
    return secrets.token_hex(12)


def run_postgres(name: str, network: str, volume: str, password: str, image: str) -> None:
    dockerctl.docker(
        "run", "-d", "--name", name, "--network", network,
        *dockerctl.HARDENED, "--tmpfs", "/var/run/postgresql:uid=999,gid=999", "--user", "999:999",
        "-v", f"{volume}:/var/lib/postgresql/data", "-e", f"PGDATA={PGDATA}",
        "-e", f"POSTGRES_USER={USER}", "-e", f"POSTGRES_PASSWORD={password}",
        "-e", f"POSTGRES_DB={DB}",
        image,
    )  # fmt: skip
    dockerctl.wait_for_postgres(name, USER, DB)


@pytest.fixture(scope="module")
def postgres(network: str, volume: str, password: str, pg_image: str) -> Iterator[str]:
    name = volume.replace("-pgdata-", "-pg-")
    try:
        run_postgres(name, network, volume, password, pg_image)
        yield name
    finally:
        dockerctl.remove(name)


def psql_over_tcp(
    network: str, host: str, password: str, sql: str, image: str | None = None
) -> tuple[int, str]:
    """psql from another container, over the network: remote-host authentication applies."""
    proc = dockerctl.docker(
        "run", "--rm", "--network", network, "-e", f"PGPASSWORD={password}",
        "--entrypoint", "psql", image or dockerctl.postgres_image(),
        "-h", host, "-U", USER, "-d", DB, "-tA", "-c", sql,
        check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout.strip() + proc.stderr.strip()


def test_runs_as_999_with_tools_on_path(postgres: str, major: str) -> None:
    assert dockerctl.docker("exec", postgres, "id", "-u").stdout.strip() == "999"
    assert dockerctl.docker("exec", postgres, "id", "-g").stdout.strip() == "999"
    dockerctl.docker("exec", postgres, "pg_isready", "-q")
    # The backup steps run this image's own client tools (ADR 0012).
    for tool in ("pg_dump", "pg_restore", "pg-version-guard"):
        dockerctl.docker("exec", postgres, "sh", "-c", f"command -v {tool}")
    version = dockerctl.docker("exec", postgres, "pg_dump", "--version").stdout
    assert version.startswith(f"pg_dump (PostgreSQL) {major}.")
    env = dockerctl.docker("exec", postgres, "printenv", "PG_MAJOR").stdout.strip()
    assert env == major


def test_initdb_in_a_subdirectory_of_the_mount(postgres: str, major: str) -> None:
    version = dockerctl.docker("exec", postgres, "cat", f"{PGDATA}/PG_VERSION").stdout.strip()
    assert version == major
    mode = dockerctl.docker("exec", postgres, "stat", "-c", "%a %u", PGDATA).stdout.split()
    assert mode == ["700", "999"]


def test_password_login_from_another_host(
    postgres: str, network: str, password: str, pg_image: str
) -> None:
    code, out = psql_over_tcp(
        network, postgres, password, "SELECT current_user, current_database()", pg_image
    )
    assert (code, out) == (0, f"{USER}|{DB}")
    code, out = psql_over_tcp(network, postgres, "wrong", "SELECT 1", pg_image)
    assert code != 0
    assert "password authentication failed" in out
    code, out = psql_over_tcp(network, postgres, password, "SHOW password_encryption", pg_image)
    assert (code, out) == (0, "scram-sha-256")


def test_restart_keeps_data_and_does_not_reinitialise(
    postgres: str, network: str, password: str, pg_image: str
) -> None:
    create = "CREATE TABLE IF NOT EXISTS keep (x int)"
    assert psql_over_tcp(network, postgres, password, create, pg_image)[0] == 0
    started = time.monotonic()
    dockerctl.docker("stop", "-t", "30", postgres, timeout=60)
    assert time.monotonic() - started < 10, "fast shutdown (SIGINT) expected"
    assert dockerctl.inspect(postgres)["State"]["ExitCode"] == 0
    dockerctl.docker("start", postgres)
    dockerctl.wait_for_postgres(postgres, USER, DB)
    code, out = psql_over_tcp(
        network, postgres, password, "SELECT to_regclass('keep') IS NOT NULL", pg_image
    )
    assert (code, out) == (0, "t")
    logs = dockerctl.docker("logs", postgres).stderr
    assert logs.count("initialising") == 1


def test_initdb_on_a_root_owned_group_writable_mount_like_kubernetes_fsgroup(
    network: str, suffix: str, major: str, pg_image: str
) -> None:
    """Kubernetes with `fsGroup: 999` mounts root-owned, setgid, group-writable directories."""
    name = f"platform-image-test-pg-fsgroup-{major}-{suffix}"
    fsgroup_dir = "uid=0,gid=999,mode=2775"
    try:
        dockerctl.docker(
            "run", "-d", "--name", name, "--network", network, *dockerctl.HARDENED,
            "--user", "999:999",
            "--tmpfs", f"/var/lib/postgresql/data:{fsgroup_dir}",
            "--tmpfs", f"/var/run/postgresql:{fsgroup_dir}",
            "-e", f"PGDATA={PGDATA}", "-e", f"POSTGRES_USER={USER}",
            "-e", "POSTGRES_PASSWORD=fsgroup", "-e", f"POSTGRES_DB={DB}",
            pg_image,
        )  # fmt: skip
        dockerctl.wait_for_postgres(name, USER, DB)
        assert psql_over_tcp(network, name, "fsgroup", "SELECT 1", pg_image) == (0, "1")
    finally:
        dockerctl.remove(name)
