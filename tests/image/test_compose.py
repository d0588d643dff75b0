"""docker/compose.yaml validates, and `up` orders postgres (healthy) -> migrate (exit 0) -> api
(healthy). Uses Compose v1 (Debian's docker-compose, installed by docker/engine.sh) or a v2
`docker compose` when that is what the machine has."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime

import dockerctl
import pytest
from dockerctl import ROOT

COMPOSE_FILE = ROOT / "docker" / "compose.yaml"


def compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if dockerctl.docker("compose", "version", check=False).returncode == 0:
        return [dockerctl.DOCKER, "compose"]
    pytest.fail("no Compose implementation: docker/engine.sh installs Debian's docker-compose")


@pytest.fixture(scope="module")
def compose_env(image: str, suffix: str) -> dict[str, str]:
    return {
        **os.environ,
        "APP_IMAGE": image,
        "POSTGRES_IMAGE": dockerctl.postgres_image(),
        "API_PORT": str(dockerctl.free_port()),
        "COMPOSE_PROJECT_NAME": f"platform-image-test-{suffix}",
    }


def compose(env: dict[str, str], *args: str, timeout: float = 180) -> str:
    proc = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE_FILE), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, f"compose {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


def test_compose_file_validates(compose_env: dict[str, str]) -> None:
    compose(compose_env, "config", "--quiet")
    services = set(compose(compose_env, "config", "--services").split())
    assert services == {"postgres", "migrate", "api"}


@pytest.fixture(scope="module")
def stack(compose_env: dict[str, str]) -> Iterator[dict[str, str]]:
    try:
        compose(compose_env, "up", "-d", "--no-build")
        yield compose_env
    finally:
        compose(compose_env, "down", "--volumes", "--timeout", "30")


def _started(container: str) -> datetime:
    return datetime.fromisoformat(dockerctl.inspect(container)["State"]["StartedAt"][:26])


def _finished(container: str) -> datetime:
    return datetime.fromisoformat(dockerctl.inspect(container)["State"]["FinishedAt"][:26])


def test_up_runs_migrate_to_completion_before_a_healthy_api(stack: dict[str, str]) -> None:
    api = compose(stack, "ps", "-q", "api").strip()
    deadline = time.monotonic() + 90
    status = ""
    while time.monotonic() < deadline:
        status = dockerctl.inspect(api)["State"].get("Health", {}).get("Status", "")
        if status == "healthy":
            break
        time.sleep(1)
    assert status == "healthy", compose(stack, "logs", "--no-color")
    # `-a`: Compose v2 lists exited containers only when asked.
    migrate = compose(stack, "ps", "-a", "-q", "migrate").strip()
    migrate_state = dockerctl.inspect(migrate)["State"]
    assert (migrate_state["Status"], migrate_state["ExitCode"]) == ("exited", 0)
    assert _finished(migrate) <= _started(api)
    dockerctl.wait_for_status(f"http://127.0.0.1:{stack['API_PORT']}/db-check", timeout=30)
