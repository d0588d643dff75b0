"""docker/compose.yaml validates, and `up` orders postgres (healthy) -> migrate (exit 0) -> api
(healthy). Uses Compose v1 (Debian's docker-compose, installed by docker/engine.sh) or a v2
`docker compose` when that is what the machine has."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
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


TOKEN = f"compose-test-token-{secrets.token_hex(16)}"


@pytest.fixture(scope="module")
def compose_env(
    image: str, suffix: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    tokens = tmp_path_factory.mktemp("compose-tokens")
    (tokens / "token").write_text(TOKEN + "\n")
    tokens.chmod(0o755)
    (tokens / "token").chmod(0o644)
    return {
        **os.environ,
        "APP_IMAGE": image,
        "POSTGRES_IMAGE": dockerctl.postgres_image(),
        "API_PORT": str(dockerctl.free_port()),
        "API_TOKENS_HOST_DIR": str(tokens),
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


def _post(port: str, token: str | None) -> int:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    body = json.dumps({"name": f"compose-{secrets.token_hex(4)}"}).encode()
    url = f"http://127.0.0.1:{port}/api/v1/items"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 (loopback only)
            return int(resp.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_the_api_writes_with_the_mounted_token_as_its_own_login(stack: dict[str, str]) -> None:
    dockerctl.wait_for_status(f"http://127.0.0.1:{stack['API_PORT']}/db-check", timeout=90)
    assert _post(stack["API_PORT"], None) == 401
    assert _post(stack["API_PORT"], TOKEN) == 201
    postgres = compose(stack, "ps", "-q", "postgres").strip()
    logins = dockerctl.docker(
        "exec", postgres, "psql", "-U", "platform", "-d", "platform", "-tAc",
        "SELECT DISTINCT usename FROM pg_stat_activity WHERE client_addr IS NOT NULL",
    ).stdout.split()  # fmt: skip
    assert logins == ["platform_app_a"]
