"""localhost/versitygw (make versitygw-image): the static binary alone, uid 10001, serving S3
under a restricted security context with its data and metadata on volumes."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dockerctl
import obstore
import pytest
from dockerctl import HARDENED
from obstore.store import S3Store

BUCKET = "platform-backups"


@pytest.fixture(scope="module")
def versitygw_image() -> str:
    name = dockerctl.versitygw_image()
    if dockerctl.docker("image", "inspect", name, check=False).returncode != 0:
        pytest.fail(f"image {name} not found: run `make versitygw-image` first")
    return name


def test_config_is_non_root_and_nothing_but_the_binary(versitygw_image: str) -> None:
    config = dockerctl.inspect(versitygw_image, "image")["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/usr/local/bin/versitygw"]
    assert "7070/tcp" in config["ExposedPorts"]
    shell = dockerctl.docker("run", "--rm", "--entrypoint", "/bin/sh", versitygw_image, check=False)
    assert shell.returncode != 0, "the image has no shell"
    size = dockerctl.inspect(versitygw_image, "image")["Size"]
    assert size < 80 * 10**6, f"{size / 1e6:.1f} MB"
    version = dockerctl.docker("run", "--rm", versitygw_image, "--version").stdout
    assert "Version  : v1.8.0" in version


@pytest.fixture
def volumes() -> Iterator[Path]:
    """Host directories for /data (with the bucket) and /meta, writable by uid 10001."""
    root = Path(tempfile.mkdtemp(prefix="platform-image-test-s3-"))
    for path in (root / "data" / BUCKET, root / "meta"):
        path.mkdir(parents=True)
    shutil.chown(root / "data", 10001, 10001)
    shutil.chown(root / "data" / BUCKET, 10001, 10001)
    shutil.chown(root / "meta", 10001, 10001)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_serves_s3_hardened_as_10001(versitygw_image: str, volumes: Path, suffix: str) -> None:
    name = f"platform-image-test-s3-{suffix}"
    access, secret = "AK" + secrets.token_hex(8).upper(), secrets.token_urlsafe(30)
    try:
        dockerctl.docker(
            "run", "-d", "--name", name, *HARDENED, "-p", "127.0.0.1::7070",
            "-e", f"ROOT_ACCESS_KEY_ID={access}", "-e", f"ROOT_SECRET_ACCESS_KEY={secret}",
            "-v", f"{volumes / 'data'}:/data", "-v", f"{volumes / 'meta'}:/meta", versitygw_image,
        )  # fmt: skip
        store = S3Store(
            BUCKET,
            endpoint=f"http://127.0.0.1:{dockerctl.host_port(name, 7070)}",
            access_key_id=access,
            secret_access_key=secret,
            region="us-east-1",
            client_options={"allow_http": True, "timeout": timedelta(seconds=10)},
            retry_config={"max_retries": 10, "retry_timeout": timedelta(seconds=30)},
        )
        obstore.put(store, "backups/probe.txt", b"stored by the image")
        assert bytes(obstore.get(store, "backups/probe.txt").bytes()) == b"stored by the image"
        stored = volumes / "data" / BUCKET / "backups" / "probe.txt"
        assert stored.read_bytes() == b"stored by the image"
        assert stored.stat().st_uid == 10001
    finally:
        dockerctl.remove(name)
