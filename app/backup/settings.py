"""Backup settings, read only from the environment; the database comes from `app.config`.

A separate class from `app.config.Settings`: the API never needs these, and `upload`, `prune`,
`list` and `verify` need no database configuration at all. Errors are one line naming the
variable (`app.config.ConfigError`), never a value.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Self

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.config import ConfigError, LogLevel

# S3's bucket naming rules (the common subset every S3 implementation accepts).
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# An object key prefix: path segments of safe characters, no leading or trailing slash, no `..`.
KEY_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class TargetKind(StrEnum):
    FILESYSTEM = "filesystem"
    S3 = "s3"


class BackupSettings(BaseSettings):
    """Where backups go and how many stay. Names are the environment variables."""

    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    log_level: LogLevel = LogLevel.INFO

    backup_target: TargetKind = TargetKind.FILESYSTEM
    # filesystem: a mounted volume (a PersistentVolumeClaim in Kubernetes).
    backup_dir: Path | None = None
    # s3: any S3-compatible store.
    backup_s3_endpoint: str | None = None
    backup_s3_bucket: str | None = None
    backup_s3_prefix: str = ""
    backup_s3_region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]{1,32}$")
    backup_s3_virtual_hosted_style: bool = False
    backup_s3_ca_file: Path | None = None
    backup_s3_timeout_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None

    backup_keep_last: Annotated[int, Field(ge=1, le=10000)] = 7
    backup_max_age_days: Annotated[float, Field(gt=0, le=36500)] | None = None
    backup_db_wait_timeout_seconds: Annotated[float, Field(ge=0, le=86400)] = 60.0

    @field_validator("backup_s3_endpoint")
    @classmethod
    def _endpoint_is_http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s?#@]+/?$", value):
            raise ValueError("must be http(s)://host[:port] with no path, query or credentials")
        return value.rstrip("/") if value else value

    @field_validator("backup_s3_prefix")
    @classmethod
    def _prefix_is_a_key_path(cls, value: str) -> str:
        if value and (not KEY_PREFIX.match(value) or ".." in value.split("/")):
            raise ValueError(
                "must be path segments of letters, digits, '_', '.', '-' joined by '/'"
            )
        return value

    @model_validator(mode="after")
    def _target_is_complete(self) -> Self:
        if self.backup_target is TargetKind.FILESYSTEM:
            self._check_directory()
        else:
            self._check_s3()
        return self

    def _check_directory(self) -> None:
        if self.backup_dir is None:
            raise ValueError("BACKUP_DIR is required when BACKUP_TARGET=filesystem")
        if not self.backup_dir.is_absolute():
            raise ValueError("BACKUP_DIR must be an absolute path")
        # Never create it: a missing mount would put the backups on the container's own
        # filesystem, which disappears with the pod.
        if not self.backup_dir.is_dir():
            raise ValueError("BACKUP_DIR is not an existing directory (is the volume mounted?)")

    def _check_s3(self) -> None:
        if not self.backup_s3_bucket:
            raise ValueError("BACKUP_S3_BUCKET is required when BACKUP_TARGET=s3")
        if not BUCKET_NAME.match(self.backup_s3_bucket):
            raise ValueError("BACKUP_S3_BUCKET is not a valid bucket name")
        if (self.aws_access_key_id is None) != (self.aws_secret_access_key is None):
            raise ValueError("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together")
        if self.backup_s3_ca_file is not None and not self.backup_s3_ca_file.is_file():
            raise ValueError("BACKUP_S3_CA_FILE is not a readable file")


def load_backup_settings() -> BackupSettings:
    """Read the environment now (never at import, so tests can set it first)."""
    try:
        return BackupSettings()
    except ValidationError as exc:
        raise ConfigError.from_validation(exc) from None
