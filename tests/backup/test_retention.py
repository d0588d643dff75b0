"""Retention and naming rules, without a target: which backups a prune deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.backup import layout, retention
from app.backup.layout import Entry

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def complete(hours_ago: float) -> Entry:
    return Entry(layout.new_id(NOW - timedelta(hours=hours_ago)), has_dump=True, has_manifest=True)


def partial(hours_ago: float) -> Entry:
    return Entry(layout.new_id(NOW - timedelta(hours=hours_ago)), has_dump=True, has_manifest=False)


def test_keep_last_keeps_the_newest_n() -> None:
    entries = [complete(h) for h in (1, 25, 49, 73, 97)]
    assert retention.expired(entries, NOW, keep_last=3) == [entries[4], entries[3]]
    assert retention.expired(entries, NOW, keep_last=5) == []


def test_max_age_deletes_older_ones_but_never_the_newest() -> None:
    entries = [complete(h) for h in (30, 50, 80)]
    assert retention.expired(entries, NOW, keep_last=10, max_age=timedelta(days=1)) == [
        entries[2],
        entries[1],
    ]


def test_both_rules_apply_together() -> None:
    entries = [complete(h) for h in (1, 2, 3, 30)]
    doomed = retention.expired(entries, NOW, keep_last=3, max_age=timedelta(hours=2.5))
    assert doomed == [entries[3], entries[2]]


def test_incomplete_uploads_go_only_after_the_grace_period() -> None:
    fresh, stale = partial(2), partial(25)
    assert retention.expired([complete(1), fresh, stale], NOW, keep_last=1) == [stale]


def test_keep_last_below_one_is_a_bug() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        retention.expired([], NOW, keep_last=0)


def test_ids_sort_as_their_times_and_round_trip() -> None:
    earlier, later = NOW, NOW + timedelta(microseconds=1)
    assert layout.new_id(earlier) < layout.new_id(later)
    assert layout.id_time(layout.new_id(later)) == later
    with pytest.raises(ValueError, match="not a backup id"):
        layout.id_time("latest.dump")


def test_listing_groups_dumps_and_manifests_and_ignores_foreign_names() -> None:
    a, b = layout.new_id(NOW), layout.new_id(NOW - timedelta(hours=1))
    objects = [(f"{a}.dump", 10), (f"{a}.json", 1), (f"{b}.dump", 7), ("lost+found", 0),
               (f"{b}.dump.tmp", 3), ("notes.json", 2)]  # fmt: skip
    entries = layout.group(objects)
    assert [(e.id, e.complete, e.dump_size) for e in entries] == [(a, True, 10), (b, False, 7)]
    assert entries[0].names == [f"{a}.json", f"{a}.dump"]
