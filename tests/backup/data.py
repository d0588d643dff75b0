"""Items whose names and descriptions stress every layer a backup passes through, and a hash of
every row (ids, timestamps and all) to compare a database before and after."""

from __future__ import annotations

import psycopg

# Scripts, astral-plane emoji, ZWJ sequences, combining marks, right-to-left text, and the
# characters COPY's text format has to escape (tab, newline, backslash) in descriptions.
SAMPLES = (
    "Grüße aus Köln",
    "東京の天気",
    "😀🚀 emoji",
    "👩‍👩‍👧‍👦 family",
    "é composed vs e\u0301 decomposed",
    "עברית מימין לשמאל",
    "العربية",
    "Ελληνικά",
    "Кириллица",
    "हिन्दी",
    "ﬁ ligature",
    "\U0001d54f math",
)


def fill(url: str, count: int = 500) -> None:
    """`count` items with distinct Unicode names; every third has an awkward description."""
    rows = [
        (
            f"{SAMPLES[i % len(SAMPLES)]} #{i}",
            None
            if i % 3
            else f"line one\nline\ttwo \\ back\\slash {SAMPLES[-1 - i % len(SAMPLES)]}",
        )
        for i in range(count)
    ]
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO items (name, description) VALUES (%s, %s)", rows)


def snapshot(url: str) -> tuple[int, str, str | None]:
    """(row count, md5 of every row in id order, alembic revision)."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(md5(string_agg(i::text, E'\\n' ORDER BY id)), '') "
            "FROM items i"
        ).fetchone()
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return row[0], row[1], revision[0] if revision else None


def relation_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'"
        ).fetchone()
    assert row is not None
    return int(row[0])
