"""What the database says about its schema: one query, one row mapping, for sync and async."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import errors
from psycopg.rows import tuple_row

# One round trip: the current revision and, if a newer release recorded it, its ledger entry.
CURRENT_REVISION_SQL = """
SELECT v.version_num AS current, r.parent, r.kind
FROM alembic_version v LEFT JOIN schema_revisions r ON r.revision = v.version_num
"""


@dataclass(frozen=True)
class DatabaseRevision:
    """alembic_version plus the ledger row for that revision, if any."""

    current: str | None
    parent: str | None = None
    kind: str | None = None

    @classmethod
    def from_row(cls, row: Sequence[Any] | None) -> DatabaseRevision:
        """The revision from CURRENT_REVISION_SQL's row (None: no row, an empty database)."""
        if row is None:
            return EMPTY
        current, parent, kind = row
        return cls(current=current, parent=parent, kind=kind)


EMPTY = DatabaseRevision(current=None)


def read_revision(conn: psycopg.Connection[Any]) -> DatabaseRevision:
    """The database's revision; an empty database has neither table."""
    try:
        with conn.transaction():
            cursor = conn.cursor(row_factory=tuple_row)
            return DatabaseRevision.from_row(cursor.execute(CURRENT_REVISION_SQL).fetchone())
    except errors.UndefinedTable:
        return EMPTY


async def read_revision_async(conn: psycopg.AsyncConnection[Any]) -> DatabaseRevision:
    """The same read on an async connection (the API's readiness loop)."""
    try:
        cursor = conn.cursor(row_factory=tuple_row)
        await cursor.execute(CURRENT_REVISION_SQL)
        return DatabaseRevision.from_row(await cursor.fetchone())
    except errors.UndefinedTable:
        return EMPTY
