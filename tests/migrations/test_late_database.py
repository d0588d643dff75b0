"""The runner started before PostgreSQL waits for it, and gives up cleanly when it never comes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from localpg import LocalPostgres, free_port

from tests.support import SCRIPTS, clean_env, json_lines, migrate, wait_until


def test_runner_started_before_the_database_succeeds_once_it_is_up(tmp_path: Path) -> None:
    server = LocalPostgres().init()
    log = tmp_path / "runner.log"
    try:
        server.stop()
        with log.open("w") as out:
            runner = subprocess.Popen(
                [str(SCRIPTS / "platform-migrate"), "upgrade"],
                env=clean_env(DATABASE_URL=server.url, MIGRATE_WAIT_TIMEOUT_SECONDS="120"),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        # Start PostgreSQL only once the runner has really tried and failed at least once.
        wait_until(
            lambda: "database not ready, retrying" in log.read_text() or runner.poll() is not None,
            timeout=60,
            what="the runner's first failed attempt",
        )
        assert runner.poll() is None, (
            f"runner exited while the database was down:\n{log.read_text()}"
        )
        server.start()
        assert runner.wait(timeout=60) == 0, log.read_text()
        assert json_lines(log.read_text())[-1]["event"] == "schema upgraded"
    finally:
        server.remove()


def test_runner_gives_up_after_its_deadline() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()
    result = migrate(url, "upgrade", MIGRATE_WAIT_TIMEOUT_SECONDS="2")
    elapsed = time.monotonic() - started
    assert result.returncode == 3
    assert "database not reachable after 2s" in result.stdout
    assert elapsed < 20


def test_invalid_configuration_is_one_line_naming_the_variable() -> None:
    result = subprocess.run(
        [str(SCRIPTS / "platform-migrate"), "upgrade"],
        env=clean_env(POSTGRES_HOST="db", POSTGRES_DB="app", POSTGRES_USER="u"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "invalid configuration: POSTGRES_PASSWORD is required when DATABASE_URL is not set"
    ]


def test_sigterm_stops_a_waiting_runner_promptly(tmp_path: Path) -> None:
    """As PID 1 in a pod, SIGTERM must end the wait now, not after the grace period."""
    log = tmp_path / "runner.log"
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    with log.open("w") as out:
        runner = subprocess.Popen(
            [str(SCRIPTS / "platform-migrate"), "wait", "--timeout", "0"],
            env=clean_env(DATABASE_URL=url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    wait_until(lambda: "retrying" in log.read_text(), timeout=60, what="the runner waiting")
    runner.terminate()
    started = time.monotonic()
    assert runner.wait(timeout=10) == 143
    assert time.monotonic() - started < 5
    assert json_lines(log.read_text())[-1]["event"].startswith("terminated by SIGTERM")
