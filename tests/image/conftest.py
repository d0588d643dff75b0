"""Fixtures for the image tests: a user-defined network, a PostgreSQL container (the Debian-built
stand-in unless POSTGRES_IMAGE says otherwise), and the app image under test (IMAGE, built by
`make image`) run with the restricted flags the Kubernetes manifests use."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator

import dockerctl
import pytest
from dockerctl import HARDENED, Api, Database

StartApi = Callable[..., Api]
# The writers' token of every API container started here; sent by `tests.image.test_runtime`.
API_TOKEN = f"image-test-token-{secrets.token_hex(16)}"
TOKENS_DIR = "/run/secrets/platform/api-tokens"


@pytest.fixture(scope="session")
def suffix() -> str:
    return secrets.token_hex(4)


@pytest.fixture(scope="session")
def image() -> str:
    name = dockerctl.app_image()
    if dockerctl.docker("image", "inspect", name, check=False).returncode != 0:
        pytest.fail(f"image {name} not found: run `make image` first")
    return name


@pytest.fixture(scope="session")
def network(suffix: str) -> Iterator[str]:
    name = f"platform-image-test-{suffix}"
    dockerctl.docker("network", "create", name)
    yield name
    dockerctl.docker("network", "rm", name, check=False)


@pytest.fixture(scope="session")
def database(network: str, suffix: str) -> Iterator[Database]:
    db = Database(
        container=f"platform-image-test-db-{suffix}",
        network=network,
        user="platform",
        # Random, so the layer scan can prove it never reached the image.
        password=f"image-test-pw-{secrets.token_hex(12)}",
        name="platform",
        app_password=f"image-test-app-pw-{secrets.token_hex(12)}",
    )
    try:
        dockerctl.start_postgres(db.container, network, db.user, db.password, db.name)
        yield db
    finally:
        dockerctl.remove(db.container)


@pytest.fixture(scope="session")
def migration(image: str, database: Database) -> subprocess.CompletedProcess[str]:
    """`platform-migrate upgrade` run once in the hardened container; tests assert its result."""
    return dockerctl.docker(
        "run", "--rm", *HARDENED, "--network", database.network, *database.migrate_env(),
        image, "platform-migrate", "upgrade",
        check=False,
        timeout=120,
    )  # fmt: skip


def _run_api(image: str, database: Database, name: str, env: list[str]) -> Api:
    """Start the API hardened, publish 8000 on a random 127.0.0.1 port, wait for /health."""
    dockerctl.docker(
        "run", "-d", "--name", name, *HARDENED, "--network", database.network,
        *env, "-p", "127.0.0.1::8000", image,
    )  # fmt: skip
    url = f"http://127.0.0.1:{dockerctl.host_port(name)}"
    try:
        dockerctl.wait_for_status(f"{url}/health", timeout=60)
    except TimeoutError:
        logs = dockerctl.docker("logs", name, check=False)
        pytest.fail(f"{name} never served /health:\n{logs.stdout}{logs.stderr}")
    return Api(container=name, url=url)


@pytest.fixture(scope="session")
def api_tokens(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """`docker run` arguments mounting a token directory as the chart mounts its Secret."""
    directory = tmp_path_factory.mktemp("api-tokens")
    (directory / "token").write_text(API_TOKEN + "\n")
    # The container's user (10001) reads it through a read-only bind mount.
    directory.chmod(0o755)
    (directory / "token").chmod(0o644)
    return ["-v", f"{directory}:{TOKENS_DIR}:ro", "-e", f"API_TOKENS_DIR={TOKENS_DIR}"]


@pytest.fixture(scope="session")
def start_api(
    image: str,
    database: Database,
    migration: subprocess.CompletedProcess[str],
    suffix: str,
    api_tokens: list[str],
) -> Iterator[StartApi]:
    """Start API containers on the migrated database (removed at the end of the session)."""
    if migration.returncode != 0:
        pytest.fail(f"migration failed:\n{migration.stdout}{migration.stderr}")
    started: list[str] = []

    def start(role: str, env: list[str] | None = None) -> Api:
        """`env`: `docker run -e` arguments; default POSTGRES_* for the test database."""
        name = f"platform-image-test-{role}-{suffix}"
        started.append(name)
        return _run_api(
            image, database, name, [*(database.app_env() if env is None else env), *api_tokens]
        )

    try:
        yield start
    finally:
        dockerctl.remove(*started)


@pytest.fixture(scope="session")
def api(start_api: StartApi) -> Api:
    return start_api("api")
