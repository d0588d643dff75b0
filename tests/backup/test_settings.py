"""Backup configuration: one line naming the variable on bad input, never a secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.backup.settings import BackupSettings, TargetKind, load_backup_settings
from app.config import ConfigError
from tests.backup.conftest import backup_cli

SECRET = "s3cr3t-Value-that-must-never-be-printed"


def settings(**env: str) -> BackupSettings:
    return BackupSettings.model_validate(env)


def test_filesystem_defaults(tmp_path: Path) -> None:
    config = settings(backup_dir=str(tmp_path))
    assert config.backup_target is TargetKind.FILESYSTEM
    assert (config.backup_keep_last, config.backup_max_age_days) == (7, None)


def test_s3_endpoint_is_normalised() -> None:
    config = settings(
        backup_target="s3",
        backup_s3_bucket="my-bucket",
        backup_s3_endpoint="https://s3.local:9000/",
    )
    assert config.backup_s3_endpoint == "https://s3.local:9000"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "BACKUP_DIR is required when BACKUP_TARGET=filesystem"),
        ({"backup_dir": "relative/path"}, "BACKUP_DIR must be an absolute path"),
        ({"backup_dir": "/nonexistent/backups"}, "is the volume mounted?"),
        ({"backup_target": "s3"}, "BACKUP_S3_BUCKET is required"),
        ({"backup_target": "s3", "backup_s3_bucket": "Bad_Bucket"}, "not a valid bucket name"),
        (
            {"backup_target": "s3", "backup_s3_bucket": "b-1", "aws_access_key_id": "AK"},
            "must be set together",
        ),
        (
            {"backup_target": "s3", "backup_s3_bucket": "b-1", "backup_s3_ca_file": "/nope.pem"},
            "BACKUP_S3_CA_FILE is not a readable file",
        ),
        (
            {"backup_target": "s3", "backup_s3_bucket": "b-1",
             "backup_s3_endpoint": f"https://user:{SECRET}@s3.local"},
            "no path, query or credentials",
        ),
        ({"backup_target": "s3", "backup_s3_bucket": "b-1", "backup_s3_prefix": "/abs"}, "path"),
        ({"backup_target": "s3", "backup_s3_bucket": "b-1", "backup_s3_prefix": "a/../b"}, "path"),
        ({"backup_target": "tape"}, "Input should be 'filesystem' or 's3'"),
    ],
)  # fmt: skip
def test_invalid_configuration_is_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        settings(**env)


def test_keep_last_bounds(tmp_path: Path) -> None:
    for bad in ("0", "-1", "many"):
        with pytest.raises(ValidationError, match="backup_keep_last"):
            settings(backup_dir=str(tmp_path), backup_keep_last=bad)


def test_loader_reports_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKUP_TARGET", "s3")
    monkeypatch.setenv("BACKUP_S3_BUCKET", "b-1")
    monkeypatch.setenv("BACKUP_S3_ENDPOINT", f"http://x:{SECRET}@host")
    with pytest.raises(ConfigError) as caught:
        load_backup_settings()
    assert str(caught.value).startswith("invalid configuration: BACKUP_S3_ENDPOINT: ")
    assert SECRET not in str(caught.value)


def test_cli_exits_2_with_one_line_and_no_secret(tmp_path: Path) -> None:
    proc = backup_cli(
        {"BACKUP_TARGET": "s3", "BACKUP_S3_BUCKET": "b-1", "BACKUP_KEEP_LAST": "0",
         "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": SECRET},
        "prune",
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "invalid configuration: BACKUP_KEEP_LAST: Input should be greater than or equal to 1"
    ]


def test_fetch_needs_the_database_configuration(tmp_path: Path) -> None:
    proc = backup_cli({"BACKUP_DIR": str(tmp_path)}, "fetch", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "invalid configuration: POSTGRES_HOST is required when DATABASE_URL is not set"
    ]
