"""Retention: which backups a prune deletes. Pure, so every rule is tested without a target.

- Complete backups: the newest `keep_last` stay; with `max_age`, any older than that go too,
  except the newest, which always stays: a schedule that stopped working must not also delete
  the last good backup (the alert on the CronJob's last success says it stopped).
- Incomplete ones (a dump without its manifest: an upload cut short) go once they are older than
  `INCOMPLETE_GRACE`, far beyond any backup Job's deadline, so an upload still running is never
  deleted under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from app.backup.layout import Entry

INCOMPLETE_GRACE = timedelta(days=1)


def expired(
    entries: Sequence[Entry],
    now: datetime,
    keep_last: int,
    max_age: timedelta | None = None,
) -> list[Entry]:
    """The entries to delete, oldest first."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    complete = sorted((e for e in entries if e.complete), key=lambda e: e.id, reverse=True)
    doomed = [
        entry
        for rank, entry in enumerate(complete)
        if rank >= keep_last or (rank > 0 and max_age is not None and now - entry.time > max_age)
    ]
    doomed += [e for e in entries if not e.complete and now - e.time > INCOMPLETE_GRACE]
    return sorted(doomed, key=lambda e: e.id)
