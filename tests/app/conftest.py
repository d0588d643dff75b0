"""In-process app fixtures: the real app, lifespan included, against a migrated database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from localpg import LocalPostgres

from app.config import Settings
from app.main import create_app
from tests.support import migrate, wait_until


def make_settings(url: str, **overrides: object) -> Settings:
    return Settings.model_validate({"database_url": url, **overrides})


@pytest.fixture
def client(migrated_db: str) -> Iterator[TestClient]:
    """A client whose app has started (pool open, readiness loop running) and is Ready."""
    app = create_app(make_settings(migrated_db, db_check_interval_seconds=0.1))
    with TestClient(app) as test_client:
        wait_until(
            lambda: test_client.get("/db-check").status_code == 200, timeout=10, what="ready"
        )
        yield test_client


@pytest.fixture
def own_pg() -> Iterator[LocalPostgres]:
    """A migrated server of the test's own, for drills that stop, freeze or reconfigure it."""
    server = LocalPostgres().init()
    migrate(server.url, "upgrade", check=True)
    yield server
    server.remove()
