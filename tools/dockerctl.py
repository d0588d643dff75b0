"""Small helpers around the docker CLI for the image tests and the image report.

Debian's docker CLI (20.10, BuildKit built in) is used, not the v28 CLI first on PATH: `$DOCKER`
overrides it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCKER = os.environ.get("DOCKER", "/usr/bin/docker")
ROOT = Path(__file__).resolve().parent.parent


def docker(
    *args: str, check: bool = True, timeout: float = 300, input_: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `docker ARGS`, capturing text output; raise with the output when `check` fails."""
    proc = subprocess.run(
        [DOCKER, *args],
        # Secret and cache mounts need BuildKit: Debian's 20.10 CLI has it, off by default.
        env={**os.environ, "DOCKER_BUILDKIT": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        input=input_.decode() if input_ is not None else None,
    )
    if check and proc.returncode != 0:
        msg = f"docker {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        raise RuntimeError(msg)
    return proc


def inspect(name: str, kind: str = "container") -> dict[str, Any]:
    """`docker <kind> inspect` as a dict."""
    data: list[dict[str, Any]] = json.loads(docker(kind, "inspect", name).stdout)
    return data[0]


def image_version() -> str:
    """The project version from pyproject.toml (the image tag and its version label)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def app_image() -> str:
    return os.environ.get("IMAGE", f"platform-api:{image_version()}")


def postgres_image() -> str:
    return os.environ.get("POSTGRES_IMAGE", "localhost/platform-postgres:15")


def postgres17_image() -> str:
    return os.environ.get("POSTGRES17_IMAGE", "localhost/platform-postgres:17")


def versitygw_image() -> str:
    return os.environ.get("VERSITYGW_IMAGE", "localhost/versitygw:1.8.0")


def python_base() -> str:
    return os.environ.get("PYTHON_BASE") or "localhost/platform-python:3.11-slim"


def host_port(container: str, port: int = 8000) -> int:
    """The 127.0.0.1 port docker published for the container's `port`."""
    out = docker("port", container, f"{port}/tcp").stdout.split()
    return int(next(line for line in out if line.startswith("127.0.0.1:")).rsplit(":", 1)[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def http_status(url: str, timeout: float = 2) -> int:
    """Status code of a GET, 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback URLs)
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, ValueError):
        return 0


def wait_for_status(url: str, status: int = 200, timeout: float = 60, step: float = 0.02) -> float:
    """Poll `url` until it answers `status`; return the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if http_status(url, timeout=1) == status:
            return time.monotonic() - start
        time.sleep(step)
    raise TimeoutError(f"{url} did not answer {status} within {timeout}s")


def wait_for_postgres(container: str, user: str, db: str, timeout: float = 60) -> None:
    """Until the server accepts TCP connections (not only the init-time Unix socket)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = docker(
            "exec", container, "pg_isready", "-h", "127.0.0.1", "-U", user, "-d", db, check=False
        )
        if proc.returncode == 0:
            return
        time.sleep(0.2)
    logs = docker("logs", container, check=False)
    raise TimeoutError(f"postgres in {container} not ready\n{logs.stdout}{logs.stderr}")


def start_postgres(
    name: str, network: str, user: str, password: str, db: str, *, image: str | None = None
) -> None:
    """A PostgreSQL container (the stand-in by default) on `network`, ready when this returns."""
    docker(
        "run", "-d", "--name", name, "--network", network,
        "-e", f"POSTGRES_USER={user}", "-e", f"POSTGRES_PASSWORD={password}",
        "-e", f"POSTGRES_DB={db}", "-e", "PGDATA=/var/lib/postgresql/data/pgdata",
        image or postgres_image(),
    )  # fmt: skip
    wait_for_postgres(name, user, db)


def remove(*names: str) -> None:
    """Force-remove containers (with their anonymous volumes), ignoring missing ones."""
    if names:
        docker("rm", "-f", "-v", *names, check=False)


# The flags of a restricted Kubernetes securityContext, in `docker run` form.
HARDENED = [
    "--read-only",
    "--tmpfs", "/tmp",  # noqa: S108 (the container's /tmp, a tmpfs)
    "--cap-drop", "ALL",
    "--security-opt", "no-new-privileges",
]  # fmt: skip


def env_args(env: dict[str, str]) -> list[str]:
    """`docker run -e KEY=VALUE` arguments for `env`."""
    return [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]


@dataclass(frozen=True)
class Database:
    container: str
    network: str
    user: str  # the server's superuser: the migration role
    password: str
    name: str
    app_password: str  # of the API's own login, which `platform-migrate upgrade` makes
    app_user: str = "platform_app_a"

    def app_env(self) -> list[str]:
        """`docker run -e` arguments pointing the API at this database, as its own login."""
        return env_args(
            {
                "POSTGRES_HOST": self.container,
                "POSTGRES_DB": self.name,
                "POSTGRES_USER": self.app_user,
                "POSTGRES_PASSWORD": self.app_password,
                "DB_CHECK_INTERVAL_SECONDS": "0.5",
            }
        )

    def migrate_env(self) -> list[str]:
        """The migration role's settings, and the API's login it makes (APP_POSTGRES_*)."""
        return env_args(
            {
                "POSTGRES_HOST": self.container,
                "POSTGRES_DB": self.name,
                "POSTGRES_USER": self.user,
                "POSTGRES_PASSWORD": self.password,
                "APP_POSTGRES_USER": self.app_user,
                "APP_POSTGRES_PASSWORD": self.app_password,
            }
        )

    def psql(self, sql: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return docker(
            "exec", self.container, "psql", "-v", "ON_ERROR_STOP=1", "-tA",
            "-U", self.user, "-d", self.name, "-c", sql,
            timeout=timeout,
        )  # fmt: skip


@dataclass(frozen=True)
class Api:
    container: str
    url: str
