"""The targets behind obstore: real S3 (versitygw, also over TLS with a private CA) and a
directory; failures become one-line errors of two kinds, never carrying a secret."""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from localpg import free_port

from app.backup.settings import BackupSettings
from app.backup.store import (
    ObjectMissingError,
    TargetError,
    TargetUnreachableError,
    open_target,
)
from tests.backup.conftest import backup_cli
from tests.backup.s3server import S3Server


def s3_settings(server: S3Server, prefix: str = "store-test", **extra: str) -> BackupSettings:
    env = {key.lower(): value for key, value in server.env(prefix).items()}
    return BackupSettings.model_validate(env | extra)


@pytest.fixture(scope="module")
def tls_server() -> Iterator[S3Server]:
    server = S3Server(tls=True).start()
    yield server
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)


def test_s3_round_trip_with_checksum(s3_server: S3Server, tmp_path: Path) -> None:
    target = open_target(s3_settings(s3_server))
    source = tmp_path / "big.bin"
    # Above the multipart chunk size, so the upload goes in parts.
    source.write_bytes(bytes(range(256)) * 36 * 1024)  # 9 MiB: two parts
    assert target.put_file("20261202T000000.000000Z.dump", source) == source.stat().st_size
    size, sha256 = target.download("20261202T000000.000000Z.dump", tmp_path / "copy")
    assert (size, sha256) == (
        source.stat().st_size,
        hashlib.sha256(source.read_bytes()).hexdigest(),
    )
    assert [e.id for e in target.entries()] == ["20261202T000000.000000Z"]
    target.delete(["20261202T000000.000000Z.dump"])
    assert target.entries() == []
    with pytest.raises(ObjectMissingError):
        target.read_small("20261202T000000.000000Z.json")


def test_a_private_ca_is_trusted_only_when_configured(tls_server: S3Server) -> None:
    trusted = open_target(s3_settings(tls_server, backup_s3_ca_file=str(tls_server.ca_file)))
    trusted.put_bytes("probe.txt", b"over TLS")
    assert trusted.read_small("probe.txt") == b"over TLS"
    untrusted = open_target(s3_settings(tls_server))
    with pytest.raises(TargetError, match=r"(?i)certificate|error sending request") as caught:
        untrusted.entries()
    assert "\n" not in str(caught.value)


def test_wrong_credentials_fail_without_the_secret(s3_server: S3Server) -> None:
    wrong = "wrong-" + s3_server.secret_key[:10]
    target = open_target(s3_settings(s3_server, aws_secret_access_key=wrong))
    with pytest.raises(TargetError) as caught:
        target.entries()
    assert not isinstance(caught.value, TargetUnreachableError)
    assert "\n" not in str(caught.value)
    assert wrong not in str(caught.value)
    assert s3_server.secret_key not in str(caught.value)


def test_a_missing_bucket_is_an_error(s3_server: S3Server) -> None:
    target = open_target(s3_settings(s3_server, backup_s3_bucket="no-such-bucket"))
    with pytest.raises(TargetError, match=r"NoSuchBucket|not found|does not exist"):
        target.put_bytes("x", b"y")


def test_filesystem_listing_stays_on_one_level(tmp_path: Path) -> None:
    (tmp_path / "lost+found").mkdir(mode=0)
    (tmp_path / "20261202T000000.000000Z.dump").write_bytes(b"PGDMP")
    target = open_target(BackupSettings.model_validate({"backup_dir": str(tmp_path)}))
    assert [(e.id, e.complete) for e in target.entries()] == [("20261202T000000.000000Z", False)]
    assert target.description == f"filesystem {tmp_path}"


def test_cli_against_an_unreachable_store_exits_3_within_the_retry_bound(
    tmp_path: Path, s3_server: S3Server
) -> None:
    env = s3_server.env("unreachable") | {"BACKUP_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    proc = backup_cli(env, "list")
    assert proc.returncode == 3
    assert time.monotonic() - started < 30
    lines = proc.stdout.splitlines()
    assert len(lines) == 1
    assert "error sending request" in lines[0]
    assert s3_server.secret_key not in proc.stdout + proc.stderr
