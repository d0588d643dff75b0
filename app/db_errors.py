"""What a database failure means for the client: retry later (503), or a bug of ours (500).

The catalogue follows the SQLSTATE classes (PostgreSQL manual, Appendix A). A request that was
valid but met a database that cannot serve it right now (gone, starting, read-only, out of
connections or disk, timed out, in conflict with another transaction) gets 503 with Retry-After:
clients, load balancers and meshes know to retry that. Everything else, syntax and privilege
errors, missing tables, data corruption, stays a 500: retrying cannot fix it and an operator has to
look. The server's own error text never reaches the client.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import wraps
from typing import ParamSpec, TypeVar

import psycopg
from psycopg import errors
from psycopg_pool import PoolTimeout, TooManyRequests

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class Unavailable:
    """The database cannot serve this request now; `detail` is what the client is told."""

    detail: str
    retry_after_seconds: int = 1


# By SQLSTATE class (the first two characters), then by exact code where a class is mixed.
UNAVAILABLE_CLASSES = {
    "08": "database connection failed",
    "40": "database conflict, retry",
    "53": "database out of resources",
    "57": "database unavailable",
    "58": "database system error",
}
UNAVAILABLE_CODES = {
    "25006": "database is read-only",
    "25P03": "database session timed out",
    "55P03": "database lock timeout",
    "57014": "database timeout",
    "72000": "database snapshot too old, retry",
}
# Connection-level failures psycopg raises without a SQLSTATE (a dropped socket, a closed
# connection, no free pooled connection in time).
UNAVAILABLE_TYPES: tuple[type[Exception], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    PoolTimeout,
    TooManyRequests,
)
RETRIES = 3
CONFLICTS = (errors.SerializationFailure, errors.DeadlockDetected)


def classify(exc: Exception) -> Unavailable | None:
    """Unavailable for what a retry can fix; None for a bug (the caller answers 500)."""
    sqlstate = getattr(exc, "sqlstate", None)
    if sqlstate:
        detail = UNAVAILABLE_CODES.get(sqlstate) or UNAVAILABLE_CLASSES.get(sqlstate[:2])
        return Unavailable(detail) if detail else None
    if isinstance(exc, UNAVAILABLE_TYPES):
        return Unavailable("database unavailable")
    return None


def retry_conflicts(operation: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Re-run a single-statement operation that lost a serialization or deadlock conflict.

    Only for autocommit single statements: the failed statement was rolled back whole, so running
    it again is exactly what the client asked for. After RETRIES attempts the conflict is a 503.
    """

    # A plain loop rather than tenacity: this wraps every query, and a try block costs nothing
    # until it catches, where building a retrying object per call would show in the benchmark.
    @wraps(operation)
    async def retrying(*args: P.args, **kwargs: P.kwargs) -> R:
        for attempt in range(1, RETRIES + 1):
            try:
                return await operation(*args, **kwargs)
            except CONFLICTS:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(random.uniform(0.005, 0.05))  # noqa: S311 - jitter, not crypto
        raise AssertionError("unreachable")  # pragma: no cover

    return retrying
