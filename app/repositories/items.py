"""Items, in plain parameterised SQL.

Connections are in autocommit mode (app/db.py): every function here is one statement, atomic on
its own, so one that loses a serialization or deadlock conflict is simply run again
(`retry_conflicts`). Anything that needs several statements to agree must open
`conn.transaction()` and retry the whole transaction instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncCursor, errors, sql
from psycopg.rows import class_row

from app.db import Connection
from app.db_errors import retry_conflicts
from app.schemas import ItemCreate, ItemUpdate

COLUMNS = sql.SQL("id, name, description, created_at, updated_at")


@dataclass(frozen=True, slots=True)
class Item:
    """One row of `items`, as COLUMNS selects it."""

    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


def _items(conn: Connection) -> AsyncCursor[Item]:
    return conn.cursor(row_factory=class_row(Item))


class DuplicateNameError(Exception):
    """An item with this name already exists."""


@retry_conflicts
async def create_item(conn: Connection, item: ItemCreate) -> Item:
    query = sql.SQL(
        "INSERT INTO items (name, description) VALUES (%s, %s) RETURNING {columns}"
    ).format(columns=COLUMNS)
    try:
        cursor = await _items(conn).execute(query, (item.name, item.description))
    except errors.UniqueViolation:
        raise DuplicateNameError(item.name) from None
    row = await cursor.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING always returns the row
    return row


@retry_conflicts
async def read_item(conn: Connection, item_id: int) -> Item | None:
    query = sql.SQL("SELECT {columns} FROM items WHERE id = %s").format(columns=COLUMNS)
    cursor = await _items(conn).execute(query, (item_id,))
    return await cursor.fetchone()


@retry_conflicts
async def read_items(
    conn: Connection, *, limit: int, after: int = 0, offset: int = 0
) -> tuple[list[Item], bool]:
    """Up to `limit` items by id, above id `after`, skipping `offset`; and whether more follow.

    The primary key's index serves both the range and the order, so PostgreSQL reads
    `offset + limit + 1` entries however large the table; the one extra row tells whether another
    page exists without counting anything.
    """
    query = sql.SQL(
        "SELECT {columns} FROM items WHERE id > %s ORDER BY id LIMIT %s OFFSET %s"
    ).format(columns=COLUMNS)
    cursor = await _items(conn).execute(query, (after, limit + 1, offset))
    rows = await cursor.fetchall()
    return rows[:limit], len(rows) > limit


@retry_conflicts
async def count_items(conn: Connection) -> int:
    """Every item: a scan of the whole table, so its cost grows with it (clients opt in)."""
    cursor = await conn.execute("SELECT count(*) AS total FROM items")
    row = await cursor.fetchone()
    return int(row["total"]) if row else 0


@retry_conflicts
async def update_item(conn: Connection, item_id: int, changes: ItemUpdate) -> Item | None:
    fields = changes.model_dump(exclude_unset=True)
    if not fields:
        return await read_item(conn, item_id)
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = %s").format(sql.Identifier(name)) for name in fields
    )
    query = sql.SQL(
        "UPDATE items SET {assignments}, updated_at = now() WHERE id = %s RETURNING {columns}"
    ).format(assignments=assignments, columns=COLUMNS)
    try:
        cursor = await _items(conn).execute(query, (*fields.values(), item_id))
    except errors.UniqueViolation:
        raise DuplicateNameError(str(fields.get("name"))) from None
    return await cursor.fetchone()


@retry_conflicts
async def delete_item(conn: Connection, item_id: int) -> bool:
    cursor = await conn.execute("DELETE FROM items WHERE id = %s", (item_id,))
    return cursor.rowcount == 1
