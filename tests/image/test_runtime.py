"""The image runs hardened (numeric non-root user, read-only root, no capabilities, no new
privileges, tmpfs /tmp) against a real PostgreSQL container on a user-defined network."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import dockerctl
import pytest
from dockerctl import HARDENED, Api, Database

from tests.image.conftest import API_TOKEN

# `docker stop -t`: longer than the app's own drain deadline (SHUTDOWN_TIMEOUT_SECONDS=20).
GRACE_SECONDS = 25


def request(
    method: str,
    url: str,
    body: dict[str, Any] | None = None,
    timeout: float = 30,
    token: str | None = API_TOKEN,
) -> tuple[int, Any]:
    """One request, as a writer sends it: with the bearer token unless `token` is None."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"content-type": "application/json"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            status: int = resp.status
            return status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def proc_status(container: str) -> dict[str, str]:
    """/proc/1/status of the container's main process."""
    out = dockerctl.docker("exec", container, "cat", "/proc/1/status").stdout
    return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)


def test_migration_command_exits_zero(migration: subprocess.CompletedProcess[str]) -> None:
    assert migration.returncode == 0, migration.stdout + migration.stderr


def test_migration_is_idempotent_and_check_and_wait_pass(
    image: str, database: Database, migration: subprocess.CompletedProcess[str]
) -> None:
    assert migration.returncode == 0
    runs = [
        (["upgrade"], database.migrate_env()),
        (["check"], database.app_env()),  # what helm test and the API's initContainer run
        (["wait", "--schema", "--timeout", "30"], database.app_env()),
    ]
    for command, env in runs:
        proc = dockerctl.docker(
            "run", "--rm", *HARDENED, "--network", database.network, *env,
            image, "platform-migrate", *command,
            check=False, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, f"{command}: {proc.stdout}{proc.stderr}"


def test_invalid_configuration_exits_2(image: str) -> None:
    """No database settings at all: both commands refuse to start with the documented code."""
    for command in (["platform-api"], ["platform-migrate", "upgrade"]):
        proc = dockerctl.docker("run", "--rm", *HARDENED, image, *command, check=False, timeout=60)
        assert proc.returncode == 2, f"{command}: {proc.returncode}\n{proc.stdout}{proc.stderr}"


def test_production_without_a_token_source_exits_2(image: str) -> None:
    proc = dockerctl.docker(
        "run", "--rm", *HARDENED, "-e", "APP_ENV=production",
        "-e", "DATABASE_URL=postgresql://u:p@db/app", image,
        check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "API_TOKENS_DIR: required when APP_ENV=production" in proc.stderr


def test_runs_as_numeric_non_root_without_capabilities(api: Api) -> None:
    status = proc_status(api.container)
    assert status["Uid"].split() == ["10001"] * 4
    assert status["Gid"].split() == ["10001"] * 4
    assert int(status["CapEff"], 16) == 0
    assert int(status["CapPrm"], 16) == 0
    assert status["NoNewPrivs"].strip() == "1"
    config = dockerctl.inspect(api.container)["HostConfig"]
    assert config["ReadonlyRootfs"] is True


def test_root_filesystem_is_read_only_and_tmp_is_writable(api: Api) -> None:
    for path in ("/app/probe", "/probe", "/home/probe"):
        proc = dockerctl.docker("exec", api.container, "touch", path, check=False)
        assert proc.returncode != 0, f"{path} is writable"
    dockerctl.docker("exec", api.container, "touch", "/tmp/probe")  # noqa: S108 (in the container)


def test_identity_health_and_readiness_through_published_port(api: Api) -> None:
    status, body = request("GET", f"{api.url}/")
    assert status == 200
    assert body["version"] == dockerctl.image_version()
    assert request("GET", f"{api.url}/health")[0] == 200
    # Readiness comes from a background check: give it a few intervals.
    dockerctl.wait_for_status(f"{api.url}/db-check", timeout=20)


def test_items_round_trip(api: Api, suffix: str) -> None:
    name = f"image-test-{suffix}"
    assert request("POST", f"{api.url}/api/v1/items", {"name": name}, token=None)[0] == 401
    assert request("POST", f"{api.url}/api/v1/items", {"name": name}, token="w" * 20)[0] == 403
    status, created = request("POST", f"{api.url}/api/v1/items", {"name": name})
    assert status == 201
    assert created["name"] == name
    status, fetched = request("GET", f"{api.url}/api/v1/items/{created['id']}")
    assert (status, fetched["name"]) == (200, name)
    status, listing = request("GET", f"{api.url}/api/v1/items")
    assert status == 200
    assert name in {item["name"] for item in listing["data"]}


def test_serves_with_only_database_url(
    start_api: Callable[..., Api], database: Database, migration: subprocess.CompletedProcess[str]
) -> None:
    """`docker run -e DATABASE_URL=...`: the one-variable form the issue's "done" names."""
    assert migration.returncode == 0
    url = (
        f"postgresql://{database.app_user}:{database.app_password}"
        f"@{database.container}:5432/{database.name}"
    )
    api = start_api("url", ["-e", f"DATABASE_URL={url}"])
    dockerctl.wait_for_status(f"{api.url}/db-check", timeout=20)
    status, listing = request("GET", f"{api.url}/api/v1/items?count=true")
    assert status == 200
    assert isinstance(listing["count"], int)


def test_docker_healthcheck_reports_healthy(api: Api) -> None:
    deadline = time.monotonic() + 60
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = dockerctl.inspect(api.container)["State"].get("Health") or {}
        if health.get("Status") == "healthy":
            return
        time.sleep(1)
    pytest.fail(f"healthcheck never passed: {health}")


def _wait_for(database: Database, sql: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if database.psql(sql).stdout.strip() not in ("", "0"):
            return
        time.sleep(0.05)
    pytest.fail(f"never true: {sql}")


def test_sigterm_finishes_the_in_flight_request_and_exits_zero(
    start_api: Callable[..., Api], database: Database, suffix: str
) -> None:
    """A PATCH blocked on a row lock is in flight when `docker stop` sends SIGTERM; the lock is
    released afterwards, the request completes with 200, and the container exits 0 in time."""
    # The drill is about the drain: lock and statement timeouts above the lock it waits behind
    # (and the statement's below REQUEST_TIMEOUT_SECONDS, 15 s, or the API refuses to start).
    patient = ["-e", "DB_LOCK_TIMEOUT_SECONDS=10", "-e", "DB_STATEMENT_TIMEOUT_SECONDS=10"]
    api = start_api("stop", [*database.app_env(), *patient])
    _, item = request("POST", f"{api.url}/api/v1/items", {"name": f"stop-{suffix}"})
    lock_seconds = 3
    holder = subprocess.Popen(
        [dockerctl.DOCKER, "exec", database.container, "psql", "-v", "ON_ERROR_STOP=1",
         "-U", database.user, "-d", database.name, "-c",
         # Only integers are interpolated.
         f"BEGIN; SELECT id FROM items WHERE id = {int(item['id'])} FOR UPDATE; "  # noqa: S608
         f"SELECT pg_sleep({lock_seconds}); COMMIT;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    outcome: dict[str, Any] = {}

    def patch() -> None:
        try:
            outcome["response"] = request(
                "PATCH", f"{api.url}/api/v1/items/{item['id']}", {"description": "drained"}
            )
        except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
            outcome["error"] = repr(exc)
        outcome["finished"] = time.monotonic()

    try:
        _wait_for(database, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep'")
        client = threading.Thread(target=patch)
        client.start()
        # The app's UPDATE is now queued behind the lock: the request is in flight.
        _wait_for(database, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        stop_sent = time.monotonic()
        dockerctl.docker("stop", "-t", str(GRACE_SECONDS), api.container, timeout=60)
        stop_seconds = time.monotonic() - stop_sent
        client.join(timeout=30)
    finally:
        _, holder_err = holder.communicate(timeout=30)
    assert holder.returncode == 0, holder_err

    assert "error" not in outcome, outcome.get("error")
    status, body = outcome["response"]
    assert (status, body["description"]) == (200, "drained")
    assert outcome["finished"] > stop_sent, "the request was not in flight during the stop"
    state = dockerctl.inspect(api.container)["State"]
    assert state["ExitCode"] == 0, dockerctl.docker("logs", api.container, check=False).stderr
    assert state["OOMKilled"] is False
    assert stop_seconds < GRACE_SECONDS
