"""A malformed DATABASE_URL is one line naming the variable; no line ever holds the password.

The in-process property test covers the URL shapes; the subprocess tests check that both console
scripts turn the same errors into exit 2 and one line on stderr, with nothing on stdout.
"""

from __future__ import annotations

import string
import subprocess
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from app.config import ConfigError, Settings, get_settings
from tests.support import SCRIPTS, clean_env

# Distinctive enough that finding it in output can only mean it leaked.
SECRET = "Zq7-hunter2-Xv9"

SCHEMES = st.sampled_from(
    [
        "postgresql",
        "postgres",
        "postgresql+psycopg",
        "postgresql+asyncpg",
        "postgres+psycopg2",
        "mysql",
        "http",
        "pg",
        "",
    ]
)
TEXT = st.text(alphabet=string.ascii_letters + string.digits + "%:@/?&=#[]._-~ ", max_size=12)
# Query parameters libpq knows, ones it does not, and junk.
PARAM_NAMES = st.sampled_from(
    ["sslmode", "connect_timeout", "application_name", "bogus", "sslmode ", "", "%zz", "password"]
)


@st.composite
def urls(draw: st.DrawFn) -> str:
    scheme = draw(SCHEMES)
    separator = draw(st.sampled_from(["://", ":/", ":", "//", "://"]))
    user = draw(st.sampled_from(["u", "app", "", "us%er", "us%zzer"]))
    password = draw(st.sampled_from([SECRET, quote(SECRET), SECRET + "%", SECRET + "%g1"]))
    host = draw(st.sampled_from(["db", "db.internal", "[::1]", "[::1", "", "h%st", "db:5432:1"]))
    port = draw(st.sampled_from(["", ":5432", ":notaport", ":99999", ":", ":-1"]))
    database = draw(st.sampled_from(["/app", "/", "", "/a%zzb", "/app/extra", "/%41pp"]))
    params = draw(st.lists(st.tuples(PARAM_NAMES, TEXT), max_size=3))
    query = "?" + "&".join(f"{k}={v}" for k, v in params) if params else ""
    tail = draw(st.sampled_from(["", "", "#frag", " ", "%"]))
    return f"{scheme}{separator}{user}:{password}@{host}{port}{database}{query}{tail}"


def _outcome(url: str) -> str | None:
    """The error line for `url`, or None when the settings accept it."""
    try:
        settings_ = Settings(database_url=url)
    except ValidationError as exc:
        return str(ConfigError.from_validation(exc))
    # Accepted: then building the connection string must work and stay the URL's own business.
    settings_.conninfo()
    return None


@given(urls())
@settings(max_examples=400, deadline=None)
def test_every_url_is_accepted_or_refused_in_one_line_without_the_password(url: str) -> None:
    line = _outcome(url)
    if line is None:
        return
    assert line.startswith("invalid configuration: DATABASE_URL"), line
    assert "\n" not in line
    for form in (SECRET, quote(SECRET), SECRET.lower()):
        assert form not in line, line


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql+psycopg://u:{SECRET}@db/app",
        f"postgresql://u:{SECRET}@db/app%zz",
        f"postgresql://u:{SECRET}@db/app?bogus=1",
        f"postgresql://u:{SECRET}@db:notaport/app",
        f"postgresql://u:{SECRET}@[::1/app",
        f"mysql://root:{SECRET}@db/app",
    ],
)
@pytest.mark.parametrize("command", [["platform-api"], ["platform-migrate", "check"]])
def test_console_scripts_exit_2_with_one_line_and_no_password(url: str, command: list[str]) -> None:
    result = subprocess.run(
        [str(SCRIPTS / command[0]), *command[1:]],
        env=clean_env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("invalid configuration: DATABASE_URL"), lines[0]
    assert result.stdout == ""
    assert SECRET not in result.stdout + result.stderr


@pytest.mark.parametrize("placeholder", ["postgres", "changeme", "Password", "secret"])
@pytest.mark.parametrize(
    "env",
    [
        {"DATABASE_URL": "postgresql://u:{p}@db/app"},
        {"DATABASE_URL": "postgresql://u@db/app?password={p}"},
        {"DATABASE_URL": "postgresql://u@db/app", "PGPASSWORD": "{p}"},
        {
            "POSTGRES_HOST": "db",
            "POSTGRES_DB": "app",
            "POSTGRES_USER": "u",
            "POSTGRES_PASSWORD": "{p}",
        },
    ],
)
def test_placeholder_passwords_are_refused_outside_development_however_they_arrive(
    monkeypatch: pytest.MonkeyPatch, placeholder: str, env: dict[str, str]
) -> None:
    for key in ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_DB", "POSTGRES_USER", "PGPASSWORD"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value.format(p=placeholder))
    monkeypatch.setenv("APP_ENV", "production")
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as refused:
        get_settings()
    assert "placeholder" in str(refused.value)
    monkeypatch.setenv("APP_ENV", "development")
    get_settings.cache_clear()
    get_settings()
    get_settings.cache_clear()


def test_a_real_password_in_the_url_is_accepted_in_production() -> None:
    settings_ = Settings(app_env="production", database_url=f"postgresql://u:{SECRET}@db/app")
    assert SECRET in settings_.conninfo()
