"""Settings, read only from the environment (the table: docs/interfaces.md#environment)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Self

from psycopg.conninfo import make_conninfo
from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app import database_url

PLACEHOLDER_PASSWORDS = frozenset({"changeme", "change-me", "password", "postgres", "secret"})
# Shown in pg_stat_activity, so an operator can tell the API's sessions from everything else.
APPLICATION_NAME = "platform-api"

Seconds = Annotated[float, Field(gt=0, le=3600)]
# Pairs of settings whose order matters: (lower, upper, strictly below). The lower bound must fire
# first, or its error is never seen; the chart checks the same rules (templates/_validate.tpl).
ORDERED_BOUNDS = (
    ("db_pool_min_size", "db_pool_max_size", False),
    ("db_lock_timeout_seconds", "db_statement_timeout_seconds", False),
    ("db_pool_timeout_seconds", "request_timeout_seconds", True),
    ("db_statement_timeout_seconds", "request_timeout_seconds", True),
    ("migrate_ddl_lock_timeout_seconds", "migrate_lock_timeout_seconds", False),
)
Bytes = Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)]
# PostgreSQL role names the migration CLI creates: plain lower-case identifiers, comma-separated.
ROLE_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
ROLE_NAMES = r"^([a-z_][a-z0-9_]{0,62}(,[a-z_][a-z0-9_]{0,62})*)?$"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class Settings(BaseSettings):
    """Every knob of the service. Names are the environment variables, case-insensitive."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    app_env: Environment = Environment.DEVELOPMENT
    log_level: LogLevel = LogLevel.INFO
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    database_url: SecretStr | None = None
    postgres_host: str | None = None
    postgres_port: int = Field(default=5432, ge=1, le=65535)
    postgres_db: str | None = None
    postgres_user: SecretStr | None = None
    postgres_password: SecretStr | None = None
    postgres_sslmode: str = Field(
        default="prefer",
        pattern="^(disable|allow|prefer|require|verify-ca|verify-full)$",
    )

    db_pool_min_size: int = Field(default=1, ge=0, le=100)
    db_pool_max_size: int = Field(default=10, ge=1, le=100)
    db_pool_timeout_seconds: Seconds = 5.0
    db_connect_timeout_seconds: Annotated[int, Field(ge=1, le=300)] = 3
    db_check_timeout_seconds: Seconds = 1.0
    db_check_interval_seconds: Seconds = 1.0
    db_statement_timeout_seconds: Seconds = 5.0
    db_lock_timeout_seconds: Seconds = 2.0

    http_max_body_bytes: Bytes = 64 * 1024
    http_max_header_bytes: Annotated[int, Field(ge=1024, le=1024 * 1024)] = 16 * 1024
    http_header_timeout_seconds: Seconds = 10.0
    http_body_timeout_seconds: Seconds = 10.0
    http_keepalive_timeout_seconds: Annotated[int, Field(ge=1, le=3600)] = 5
    request_timeout_seconds: Seconds = 15.0

    shutdown_timeout_seconds: Seconds = 20.0
    migrate_wait_timeout_seconds: Annotated[float, Field(ge=0, le=86400)] = 60.0
    migrate_lock_timeout_seconds: Seconds = 60.0
    migrate_ddl_lock_timeout_seconds: Seconds = 1.0

    # libpq reads PGPASSWORD itself when no other password is given: it is one more way a
    # password arrives, so the placeholder rule must see it.
    pgpassword: SecretStr | None = None

    # Bearer tokens (app/auth.py): a directory of token files; reads open unless API_AUTH_READS.
    api_tokens_dir: Path | None = None
    api_auth_reads: bool = False

    # The API's own login, made or checked by `platform-migrate upgrade` (app/migrate/roles.py).
    app_postgres_user: str | None = Field(default=None, pattern=ROLE_NAME)
    app_postgres_password: SecretStr | None = None
    app_postgres_group: str = Field(default="platform_app", pattern=ROLE_NAME)
    app_postgres_retired_users: str = Field(default="", pattern=ROLE_NAMES)

    @model_validator(mode="after")
    def _database_is_configured(self) -> Self:
        if self.database_url is not None:
            try:
                database_url.parse(self.database_url.get_secret_value())
            except database_url.DatabaseUrlError as exc:
                raise ValueError(f"DATABASE_URL {exc}") from None
            return self
        for name in ("postgres_host", "postgres_db", "postgres_user", "postgres_password"):
            if not getattr(self, name):
                raise ValueError(f"{name.upper()} is required when DATABASE_URL is not set")
        return self

    @model_validator(mode="after")
    def _no_placeholder_password_outside_development(self) -> Self:
        if self.app_env is Environment.DEVELOPMENT:
            return self
        for variable, password in self._passwords():
            if password.lower() in PLACEHOLDER_PASSWORDS:
                raise ValueError(f"{variable} is a placeholder; set a real one outside development")
        return self

    @model_validator(mode="after")
    def _app_login_has_a_password(self) -> Self:
        if self.app_postgres_user and not self.app_postgres_password:
            raise ValueError("APP_POSTGRES_PASSWORD is required when APP_POSTGRES_USER is set")
        return self

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> Self:
        for low, high, strict in ORDERED_BOUNDS:
            lower, upper = getattr(self, low), getattr(self, high)
            if lower > upper or (strict and lower == upper):
                relation = "must be below" if strict else "must not exceed"
                raise ValueError(f"{low.upper()} {relation} {high.upper()}")
        return self

    def _passwords(self) -> list[tuple[str, str]]:
        """Every password this configuration can hand to libpq, with the variable it came from."""
        found = []
        if self.database_url is not None:
            options = database_url.parse(self.database_url.get_secret_value())
            if "password" in options:
                found.append(("DATABASE_URL's password", options["password"]))
        elif self.postgres_password is not None:
            found.append(("POSTGRES_PASSWORD", self.postgres_password.get_secret_value()))
        if self.pgpassword is not None:
            found.append(("PGPASSWORD", self.pgpassword.get_secret_value()))
        if self.app_postgres_password is not None:
            found.append(("APP_POSTGRES_PASSWORD", self.app_postgres_password.get_secret_value()))
        return found

    def conninfo(self, application_name: str = APPLICATION_NAME) -> str:
        """The libpq connection string, with the password inside: never log it."""
        base = self.database_url.get_secret_value() if self.database_url else ""
        params: dict[str, str | int] = {
            "connect_timeout": self.db_connect_timeout_seconds,
            "application_name": application_name,
        }
        if not self.database_url:
            params |= {
                "host": self.postgres_host or "",
                "port": self.postgres_port,
                "dbname": self.postgres_db or "",
                "user": self.postgres_user.get_secret_value() if self.postgres_user else "",
                "password": (
                    self.postgres_password.get_secret_value() if self.postgres_password else ""
                ),
                "sslmode": self.postgres_sslmode,
            }
        return make_conninfo(base, **params)


class ConfigError(Exception):
    """Invalid configuration, rendered as one line that names the variable and hides its value."""

    @classmethod
    def from_validation(cls, exc: ValidationError) -> ConfigError:
        error = exc.errors(include_url=False, include_input=False)[0]
        variable = str(error["loc"][0]).upper() if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        prefix = f"{variable}: " if variable else ""
        return cls(f"invalid configuration: {prefix}{message}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Build the settings once, on first use (never at import, so tests can set the env first)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError.from_validation(exc) from None
