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


def _database(pg: LocalPostgres, template: str | None = None) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{clause}')
    yield pg.url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def fresh_db(pg: LocalPostgres) -> Iterator[str]:
    """An empty database of its own for one test; dropped afterwards."""
    yield from _database(pg)


@pytest.fixture(scope="session")
def migrated_template(pg: LocalPostgres) -> str:
    """A database upgraded to head by the real CLI, once; tests get copies of it."""
    name = "t_migrated_template"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate(pg.url.rsplit("/", 1)[0] + f"/{name}", "upgrade", check=True)
    return name


@pytest.fixture
def migrated_db(pg: LocalPostgres, migrated_template: str) -> Iterator[str]:
    """A database at head of its own: a copy of the migrated template (no CLI run per test)."""
    yield from _database(pg, template=migrated_template)
