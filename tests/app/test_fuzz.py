"""Property-based fuzzing of the real server from its OpenAPI schema: no input yields a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.support import Server, migrate, serve


@pytest.fixture(scope="module")
def api_server(pg_module_db: str) -> Iterator[Server]:
    with serve(pg_module_db) as server:
        yield server


@pytest.fixture(scope="module")
def pg_module_db(pg: object) -> str:
    from localpg import LocalPostgres  # noqa: PLC0415 - the session server's type, for mypy

    assert isinstance(pg, LocalPostgres)
    migrate(pg.url, "upgrade", check=True)
    return pg.url


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(scope="module")
def api_schema(api_server: Server) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{api_server.base_url}/openapi.json")


@schema.parametrize()
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_produces_a_server_error(case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(checks=[not_a_server_error])
