"""The items repository's SQL, measured by what PostgreSQL reads rather than by the clock.

`pg_stat_xact_user_tables` counts the rows the current transaction read from a table, by
sequential and by index scans: a page whose cost does not grow with the table reads the same rows
at any size.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from psycopg.rows import dict_row

from app.repositories import items as repo


def _grow(url: str, rows: int) -> None:
    """Top the items table up to `rows`, then ANALYZE as autovacuum would."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO items (name) SELECT 'seed-' || n"
            " FROM generate_series((SELECT count(*) FROM items) + 1, %s) AS n",
            (rows,),
        )
        conn.execute("ANALYZE items")


async def _read(url: str, **page: Any) -> tuple[Any, int, int]:
    """read_items in a transaction of its own: what it returned, rows scanned (seq, index)."""
    async with await psycopg.AsyncConnection.connect(url, row_factory=dict_row) as conn:
        result = await repo.read_items(conn, **page)
        cursor = await conn.execute(
            "SELECT seq_tup_read AS seq, coalesce(idx_tup_fetch, 0) AS idx"
            " FROM pg_stat_xact_user_tables WHERE relname = 'items'"
        )
        row = await cursor.fetchone()
        assert row is not None
        return result, int(row["seq"]), int(row["idx"])


def _by_index_only(scanned: tuple[int, int], page: int) -> bool:
    """No sequential scan, and by index only the page, the row that says more follow, and the
    planner's one-row probe of the index's end (it reads the actual extreme of a range bound)."""
    seq, idx = scanned
    return seq == 0 and page + 1 <= idx <= page + 2


def test_the_first_page_reads_the_same_rows_at_any_table_size(migrated_db: str) -> None:
    scanned = {}
    for size in (1_000, 50_000):
        _grow(migrated_db, size)
        _, seq, idx = asyncio.run(_read(migrated_db, offset=0, limit=50))
        scanned[size] = (seq, idx)
    assert scanned[1_000] == scanned[50_000]
    assert _by_index_only(scanned[50_000], page=50)


def test_a_page_after_a_cursor_reads_only_that_page(migrated_db: str) -> None:
    _grow(migrated_db, 20_000)
    (rows, more), seq, idx = asyncio.run(_read(migrated_db, after=15_000, limit=100))
    assert [row.id for row in rows] == list(range(15_001, 15_101))
    assert more is True
    assert _by_index_only((seq, idx), page=100)


def test_the_last_page_says_no_more(migrated_db: str) -> None:
    _grow(migrated_db, 120)
    (rows, more), _, _ = asyncio.run(_read(migrated_db, after=100, limit=20))
    assert [row.id for row in rows] == list(range(101, 121))
    assert more is False


def test_an_offset_reads_what_it_skips_and_no_more(migrated_db: str) -> None:
    _grow(migrated_db, 20_000)
    (rows, more), seq, idx = asyncio.run(_read(migrated_db, offset=10_000, limit=50))
    assert [row.id for row in rows] == list(range(10_001, 10_051))
    assert more is True
    assert _by_index_only((seq, idx), page=10_050)


def test_count_items_counts_every_row(migrated_db: str) -> None:
    async def count() -> int:
        async with await psycopg.AsyncConnection.connect(migrated_db, row_factory=dict_row) as c:
            return await repo.count_items(c)

    assert asyncio.run(count()) == 0
    _grow(migrated_db, 1_234)
    assert asyncio.run(count()) == 1_234
