"""Configuration: both database forms, and one clear line (never a secret) when it is wrong."""

from __future__ import annotations

import subprocess

import pytest

from app.config import ConfigError, Settings, get_settings
from tests.support import SCRIPTS, clean_env

SECRET = "hunter2-not-a-placeholder"


def _error(monkeypatch: pytest.MonkeyPatch, **env: str) -> str:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as raised:
        get_settings()
    get_settings.cache_clear()
    return str(raised.value)


@pytest.fixture(autouse=True)
def _no_database_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in (
        "DATABASE_URL",
        "POSTGRES_HOST",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
    ):
        monkeypatch.delenv(key, raising=False)


def test_discrete_variables_build_the_connection_string() -> None:
    settings = Settings(
        postgres_host="db.internal",
        postgres_port=6543,
        postgres_db="app",
        postgres_user="svc",
        postgres_password=SECRET,
    )
    conninfo = settings.conninfo()
    for part in ("host=db.internal", "port=6543", "dbname=app", "user=svc", "sslmode=prefer"):
        assert part in conninfo
    assert SECRET not in repr(settings)


def test_database_url_wins_over_discrete_variables() -> None:
    settings = Settings(database_url="postgresql://u:p@url-host/db", postgres_host="ignored")
    assert "url-host" in settings.conninfo()
    assert "ignored" not in settings.conninfo()


def test_missing_database_settings_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, POSTGRES_HOST="db")
    assert message == "invalid configuration: POSTGRES_DB is required when DATABASE_URL is not set"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("DB_POOL_MAX_SIZE", "0"),
        ("APP_ENV", "prod"),
        ("LOG_LEVEL", "LOUD"),
        ("DB_CHECK_TIMEOUT_SECONDS", "-1"),
        ("POSTGRES_SSLMODE", "maybe"),
    ],
)
def test_invalid_values_name_their_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    message = _error(monkeypatch, DATABASE_URL="postgresql://u@h/d", **{variable: value})
    assert message.startswith(f"invalid configuration: {variable}: ")
    assert "\n" not in message


def test_invalid_url_is_reported_without_echoing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    message = _error(monkeypatch, DATABASE_URL=f"mysql://root:{SECRET}@db/app")
    assert "DATABASE_URL" in message
    assert SECRET not in message


def test_placeholder_password_is_refused_outside_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = _error(
        monkeypatch,
        APP_ENV="production",
        POSTGRES_HOST="db",
        POSTGRES_DB="app",
        POSTGRES_USER="u",
        POSTGRES_PASSWORD="changeme",
    )
    assert "POSTGRES_PASSWORD is a placeholder" in message


@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": f"postgres://u:{SECRET}@db:notaport/app"},
        {"POSTGRES_HOST": "db", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": SECRET},
        {"DATABASE_URL": f"postgresql://u:{SECRET}@db/app", "PORT": "x"},
    ],
)
def test_server_exits_2_with_one_line_and_no_secret(env: dict[str, str]) -> None:
    result = subprocess.run(
        [str(SCRIPTS / "platform-api")],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid configuration: ")
    assert SECRET not in result.stdout + result.stderr
