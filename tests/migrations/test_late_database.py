"""The runner started before PostgreSQL waits for it, and gives up cleanly when it never comes."""

from __future__ import annotations

import subprocess
import time

from localpg import LocalPostgres, free_port

from tests.support import SCRIPTS, clean_env, json_lines, migrate


def test_runner_started_before_the_database_succeeds_once_it_is_up() -> None:
    server = LocalPostgres().init()
    try:
        server.stop()
        runner = subprocess.Popen(
            [str(SCRIPTS / "platform-migrate"), "upgrade"],
            env=clean_env(DATABASE_URL=server.url, MIGRATE_WAIT_TIMEOUT_SECONDS="60"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        assert runner.poll() is None, "runner exited while the database was down"
        server.start()
        out, err = runner.communicate(timeout=60)
        assert runner.returncode == 0, out + err
        events = [line["event"] for line in json_lines(out)]
        assert "database not ready, retrying" in events
        assert events[-1] == "schema upgraded"
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
