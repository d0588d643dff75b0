"""In-process app fixtures: the real app, lifespan included, against a migrated database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from localpg import LocalPostgres

from app.config import Settings
from app.main import create_app
from tests.support import migrate, wait_ready

# The writer token of the `client` fixture, sent on every request it makes.
CLIENT_TOKEN = "client-fixture-token-0123456789"


def make_settings(url: str, **overrides: object) -> Settings:
    return Settings.model_validate({"database_url": url, **overrides})


def token_dir(parent: Path, **tokens: str) -> Path:
    """A directory laid out like a mounted Secret: one file per key, each holding one token."""
    directory = parent / "api-tokens"
    directory.mkdir()
    for key, token in tokens.items():
        (directory / key).write_text(token + "\n")
    return directory


@pytest.fixture
def client(migrated_db: str, tmp_path: Path) -> Iterator[TestClient]:
    """A writer's client (its token on every request) whose app has started and is Ready."""
    settings = make_settings(
        migrated_db,
        db_check_interval_seconds=0.1,
        api_tokens_dir=str(token_dir(tmp_path, token=CLIENT_TOKEN)),
    )
    headers = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
    with TestClient(create_app(settings), headers=headers) as test_client:
        wait_ready(test_client, timeout=10)
        yield test_client


@pytest.fixture
def own_pg() -> Iterator[LocalPostgres]:
    """A migrated server of the test's own, for drills that stop, freeze or reconfigure it."""
    server = LocalPostgres().init()
    migrate(server.url, "upgrade", check=True)
    yield server
    server.remove()
