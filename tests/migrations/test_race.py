"""Concurrent runners serialise on the advisory lock: each revision is applied exactly once."""

from __future__ import annotations

import subprocess

import psycopg

from tests.support import SCRIPTS, clean_env, json_lines

RUNNERS = 6


def test_concurrent_runners_apply_each_revision_exactly_once(fresh_db: str) -> None:
    processes = [
        subprocess.Popen(
            [str(SCRIPTS / "platform-migrate"), "upgrade"],
            env=clean_env(DATABASE_URL=fresh_db),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RUNNERS)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in processes]

    assert [code for code, _, _ in results] == [0] * RUNNERS, results
    applied = [
        revision
        for _, out, _ in results
        for line in json_lines(out)
        if "applied" in line
        for revision in line["applied"]
    ]
    assert sorted(applied) == ["0001_create_items", "0002_add_item_description"]
    with psycopg.connect(fresh_db) as conn:
        ledger = conn.execute("SELECT count(*) FROM schema_revisions").fetchone()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert ledger == (2,)
    assert version == [("0002_add_item_description",)]
