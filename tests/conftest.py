"""Fixtures shared by the app and migration suites: a real PostgreSQL, started by the session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from localpg import LocalPostgres

from tests.support import migrate


@pytest.fixture(scope="session")
def pg() -> Iterator[LocalPostgres]:
    """One throwaway PostgreSQL server for the whole session."""
    server = LocalPostgres().init()
    yield server
    server.remove()


@pytest.fixture
def fresh_db(pg: LocalPostgres) -> Iterator[str]:
    """An empty database of its own for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_db(fresh_db: str) -> str:
    """A fresh database upgraded to head by the real CLI."""
    migrate(fresh_db, "upgrade", check=True)
    return fresh_db
