"""What the image declares (user, ports, signals, labels, env) and what it must not contain:
build tools, uv, caches, the proxy CA given to the build, or a database password."""

from __future__ import annotations

import hashlib
import re
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import dockerctl
import pytest
from dockerctl import Database

HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.*?)\n-----END CERTIFICATE-----", re.DOTALL)


def test_config_matches_the_interface_contract(image: str) -> None:
    config = dockerctl.inspect(image, "image")["Config"]
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["platform-api"]
    assert not config.get("Entrypoint")
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    assert config["Healthcheck"]["Test"][0] == "CMD"
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["HOST"] == "0.0.0.0"  # noqa: S104 (the container's interface)
    assert env["PATH"].startswith("/app/bin:")
    leaked = [key for key in env if re.search("PASSWORD|SECRET|TOKEN|DATABASE_URL|CERT", key)]
    assert not leaked


def test_oci_labels(image: str) -> None:
    labels = dockerctl.inspect(image, "image")["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == dockerctl.image_version()
    assert re.fullmatch(r"[0-9a-f]{40}", labels["org.opencontainers.image.revision"])
    assert labels["org.opencontainers.image.source"]


def test_image_adds_at_most_80_mb_to_its_base(image: str) -> None:
    added = (
        dockerctl.inspect(image, "image")["Size"]
        - dockerctl.inspect(dockerctl.python_base(), "image")["Size"]
    )
    assert added <= 80 * 10**6, f"{added / 1e6:.1f} MB over the base"


def test_runtime_stage_is_the_base_plus_the_venv_only(image: str) -> None:
    """Same base layers (the venv's python symlink resolves), no uv, no sources, no caches."""
    base_layers = dockerctl.inspect(dockerctl.python_base(), "image")["RootFS"]["Layers"]
    layers = dockerctl.inspect(image, "image")["RootFS"]["Layers"]
    assert layers[: len(base_layers)] == base_layers
    script = """
        fail() { echo "$1"; exit 1; }
        test ! -e /opt/uv || fail "uv's venv was copied"
        test ! -e /opt/sbom || fail "the SBOM generator's venv was copied"
        test ! -e /src || fail "the build directory was copied"
        test ! -e /root/.cache || fail "a cache was copied"
        ! command -v uv || fail "uv is on PATH"
        ! command -v gcc && ! command -v cc || fail "a compiler is present"
        test -x "$(readlink -f /app/bin/python)" || fail "the venv's python does not resolve"
        python -c 'import app; assert app.__file__.startswith("/app/lib/"), app.__file__'
    """
    proc = dockerctl.docker(
        "run", "--rm", "--user", "0", "--entrypoint", "sh", image, "-c", script, check=False
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_app_modules_are_compiled(image: str) -> None:
    """Bytecode was compiled at build time: importing writes nothing (the root is read-only)."""
    proc = dockerctl.docker(
        "run", "--rm", "--read-only", "--entrypoint", "python", image, "-c",
        "import importlib.util, pathlib, app.main, app.migrate.cli;"
        "src = pathlib.Path(app.main.__file__);"
        "assert pathlib.Path(importlib.util.cache_from_source(str(src))).exists(), src",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def _certificates(bundle: bytes) -> set[bytes]:
    return {b"".join(body.split()) for body in PEM.findall(bundle)}


def _needles(database: Database) -> dict[str, bytes]:
    """Byte strings that must not occur in any layer: the database password and, for every
    certificate the build machine trusts beyond the base image's own store (the proxy CA), a
    line of its PEM body."""
    needles = {"database password": database.password.encode()}
    host = HOST_CA_BUNDLE.read_bytes()
    base = dockerctl.docker(
        "run", "--rm", "--entrypoint", "cat", dockerctl.python_base(),
        "/etc/ssl/certs/ca-certificates.crt", check=False,
    ).stdout.encode()  # fmt: skip
    for index, cert in enumerate(sorted(_certificates(host) - _certificates(base))):
        # The third 64-character line of the PEM body: past the common "MII..." prefix.
        needles[f"host-only CA certificate #{index}"] = cert[128:192]
    return needles


@pytest.fixture(scope="module")
def saved_image(image: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="platform-image-save-") as directory:
        target = Path(directory) / "image.tar"
        dockerctl.docker("save", "-o", str(target), image, timeout=300)
        yield target


def test_no_ca_bundle_or_password_in_any_layer(saved_image: Path, database: Database) -> None:
    needles = _needles(database)
    bundle_digest = hashlib.sha256(HOST_CA_BUNDLE.read_bytes()).hexdigest()
    found: list[str] = []
    with tarfile.open(saved_image) as outer:
        for member in outer:
            if not member.name.endswith("layer.tar"):
                continue
            layer_file = outer.extractfile(member)
            assert layer_file is not None
            with tarfile.open(fileobj=layer_file) as layer:
                for entry in layer:
                    if re.search(r"(^|/)run/secrets(/|$)", entry.name):
                        found.append(f"{member.name}: {entry.name} (secret mount left behind)")
                    if not entry.isfile():
                        continue
                    handle = layer.extractfile(entry)
                    assert handle is not None
                    content = handle.read()
                    if hashlib.sha256(content).hexdigest() == bundle_digest:
                        found.append(
                            f"{member.name}: {entry.name} is the build machine's CA bundle"
                        )
                    found.extend(
                        f"{member.name}: {entry.name} contains the {what}"
                        for what, needle in needles.items()
                        if needle in content
                    )
    assert not found


def test_no_ca_or_password_in_history(image: str, database: Database) -> None:
    history = dockerctl.docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", image).stdout
    inspect = dockerctl.docker("image", "inspect", image).stdout
    for what, needle in _needles(database).items():
        assert needle.decode() not in history, what
        assert needle.decode() not in inspect, what
    assert "BEGIN CERTIFICATE" not in history
