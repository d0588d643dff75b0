"""How backups are named in a target: `<id>.dump` and `<id>.json` side by side, flat.

The id is the UTC time the upload started, to the microsecond: ids sort as their times do, and
retention and `latest` need nothing but a listing. The manifest is written after the dump, so a
dump without a manifest is an upload that never finished (`complete` is False). Names that do not
match are not ours and are never touched: the directory or prefix may be shared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

ID_FORMAT = "%Y%m%dT%H%M%S.%fZ"
NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)\.(dump|json)$")
DUMP_SUFFIX = ".dump"
MANIFEST_SUFFIX = ".json"


def new_id(now: datetime) -> str:
    return now.astimezone(UTC).strftime(ID_FORMAT)


def id_time(backup_id: str) -> datetime:
    """The time an id stands for; ValueError if it is not an id."""
    if NAME.match(backup_id + DUMP_SUFFIX) is None:
        raise ValueError(f"{backup_id!r} is not a backup id (e.g. 20261202T061500.000000Z)")
    return datetime.strptime(backup_id, ID_FORMAT).replace(tzinfo=UTC)


def dump_name(backup_id: str) -> str:
    return backup_id + DUMP_SUFFIX


def manifest_name(backup_id: str) -> str:
    return backup_id + MANIFEST_SUFFIX


@dataclass(frozen=True)
class Entry:
    """One backup as a listing shows it."""

    id: str
    has_dump: bool
    has_manifest: bool
    dump_size: int | None = None

    @property
    def complete(self) -> bool:
        return self.has_dump and self.has_manifest

    @property
    def time(self) -> datetime:
        return id_time(self.id)

    @property
    def names(self) -> list[str]:
        """The objects this entry consists of, manifest first (deleted in this order, a
        half-deleted backup is an incomplete one, never a manifest pointing at nothing)."""
        names = [manifest_name(self.id)] if self.has_manifest else []
        return names + ([dump_name(self.id)] if self.has_dump else [])


def group(objects: Iterable[tuple[str, int]]) -> list[Entry]:
    """Backups among `(name, size)` pairs, newest first; foreign names are left out."""
    dumps: dict[str, int] = {}
    manifests: set[str] = set()
    for name, size in objects:
        match = NAME.match(name)
        if match is None:
            continue
        if match.group(2) == "dump":
            dumps[match.group(1)] = size
        else:
            manifests.add(match.group(1))
    return [
        Entry(id=i, has_dump=i in dumps, has_manifest=i in manifests, dump_size=dumps.get(i))
        for i in sorted(dumps.keys() | manifests, reverse=True)
    ]
