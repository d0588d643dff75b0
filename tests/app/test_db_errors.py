"""The SQLSTATE catalogue: what a client cannot fix is 503 (retry later); bugs stay 500."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors
from psycopg_pool import PoolTimeout

from app.db_errors import Unavailable, classify

# SQLSTATEs a healthy deployment can still see, and what the API answers.
UNAVAILABLE = [
    "08000",  # connection_exception
    "08006",  # connection_failure
    "25006",  # read_only_sql_transaction: a standby, or default_transaction_read_only
    "25P03",  # idle_in_transaction_session_timeout
    "40001",  # serialization_failure (after the retries)
    "40P01",  # deadlock_detected (after the retries)
    "53100",  # disk_full
    "53200",  # out_of_memory
    "53300",  # too_many_connections
    "55P03",  # lock_not_available: lock_timeout
    "57014",  # query_canceled: statement_timeout
    "57P01",  # admin_shutdown
    "57P02",  # crash_shutdown
    "57P03",  # cannot_connect_now: starting up or in recovery
    "58030",  # io_error
    "72000",  # snapshot_too_old
]
BUGS = ["42601", "42P01", "42703", "42501", "22P02", "23502", "XX000", "XX001"]


@pytest.mark.parametrize("sqlstate", UNAVAILABLE)
def test_transient_sqlstates_are_unavailable(sqlstate: str) -> None:
    verdict = classify(errors.lookup(sqlstate)("from the server"))
    assert isinstance(verdict, Unavailable), sqlstate
    assert "from the server" not in verdict.detail, "the server's text never reaches clients"


@pytest.mark.parametrize("sqlstate", BUGS)
def test_programming_errors_and_corruption_stay_500(sqlstate: str) -> None:
    assert classify(errors.lookup(sqlstate)("x")) is None


@pytest.mark.parametrize(
    "exc",
    [
        psycopg.OperationalError("server closed the connection unexpectedly"),
        psycopg.InterfaceError("the connection is closed"),
        PoolTimeout("couldn't get a connection after 5.00 sec"),
    ],
)
def test_client_side_failures_without_sqlstate_are_unavailable(exc: Exception) -> None:
    assert isinstance(classify(exc), Unavailable)
