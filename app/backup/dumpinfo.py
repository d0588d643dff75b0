"""What a dump holds, read from the text the database image's tools wrote (`pgtools`).

`db.toc` is `pg_restore --list`: a header of `;     key: value` lines (stable since PostgreSQL
9). `db.revision.sql` is `pg_restore --data-only` of the two revision tables: `COPY ... FROM
stdin;` blocks in COPY's text format. Only what the manifest needs is read; anything unexpected
is an error, so a dump that cannot be described is never uploaded as if it could.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

TOC_CREATED = re.compile(r"^; Archive created at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (\S+)$")
TOC_FIELD = re.compile(r"^;\s+([A-Za-z][A-Za-z_ ]*): (.+)$")
MAJOR = re.compile(r"^(\d+)")
COPY = re.compile(r'^COPY "?([^".\s]+)"?\."?([^".\s]+)"? \((.*)\) FROM stdin;$')
# Revision ids and kinds are identifiers (Alembic ids, `expand`/`contract`): anything else would
# need COPY's escape rules, and is refused instead.
PLAIN = re.compile(r"^[A-Za-z0-9_.-]+$")
NULL = r"\N"


class DumpInfoError(ValueError):
    """The work directory's listings do not describe a dump this code can back up."""


@dataclass(frozen=True)
class ArchiveHeader:
    database: str
    created_at: datetime | None
    server_version: str
    pg_dump_version: str
    archive_version: str
    compression: str
    server_major: int
    pg_dump_major: int


@dataclass(frozen=True)
class SchemaRevision:
    """The dump's `alembic_version` row and its ledger entry (all None: no schema in the dump)."""

    revision: str | None
    parent: str | None = None
    kind: str | None = None


def _major(version: str) -> int:
    match = MAJOR.match(version)
    if match is None:
        raise DumpInfoError(f"unrecognised PostgreSQL version {version!r}")
    return int(match.group(1))


def parse_toc(text: str) -> ArchiveHeader:
    """The header of `pg_restore --list` output."""
    fields: dict[str, str] = {}
    created_at: datetime | None = None
    for line in text.splitlines():
        if line.startswith("; Selected TOC Entries"):
            break
        if created := TOC_CREATED.match(line):
            # pg_restore prints its local time; the dump step runs with TZ=UTC. Any other zone is
            # left unrecorded rather than guessed.
            if created.group(2) in ("UTC", "GMT"):
                stamp = datetime.strptime(created.group(1), "%Y-%m-%d %H:%M:%S")
                created_at = stamp.replace(tzinfo=UTC)
        elif field := TOC_FIELD.match(line):
            fields[field.group(1).strip()] = field.group(2).strip()
    missing = [
        key
        for key in ("dbname", "Format", "Dumped from database version", "Dumped by pg_dump version")
        if key not in fields
    ]
    if missing:
        raise DumpInfoError(f"not a pg_restore --list header: no {', '.join(missing)}")
    if fields["Format"] != "CUSTOM":
        raise DumpInfoError(f"the dump is in {fields['Format']} format, not CUSTOM")
    server, pg_dump = fields["Dumped from database version"], fields["Dumped by pg_dump version"]
    return ArchiveHeader(
        database=fields["dbname"],
        created_at=created_at,
        server_version=server,
        pg_dump_version=pg_dump,
        archive_version=fields.get("Dump Version", "unknown"),
        compression=fields.get("Compression", "unknown"),
        server_major=_major(server),
        pg_dump_major=_major(pg_dump),
    )


def _copy_blocks(text: str) -> dict[str, list[dict[str, str]]]:
    """Rows of every `COPY schema.table (columns) FROM stdin;` block, by table name (raw)."""
    tables: dict[str, list[dict[str, str]]] = {}
    lines = iter(text.splitlines())
    for line in lines:
        copy = COPY.match(line)
        if copy is None:
            continue
        columns = [column.strip().strip('"') for column in copy.group(3).split(",")]
        rows = tables.setdefault(copy.group(2), [])
        for row in lines:
            if row == "\\.":
                break
            values = row.split("\t")
            if len(values) != len(columns):
                raise DumpInfoError(f"a {copy.group(2)} row has {len(values)} fields")
            rows.append(dict(zip(columns, values, strict=True)))
        else:
            raise DumpInfoError(f"the {copy.group(2)} COPY block is not terminated")
    return tables


def _plain(row: dict[str, str], column: str) -> str | None:
    """One identifier-like value of a revision row (None for SQL NULL or a missing column)."""
    value = row.get(column, NULL)
    if value == NULL:
        return None
    if PLAIN.match(value) is None:
        raise DumpInfoError(f"a revision row's {column} holds characters this code does not expect")
    return value


def parse_revision(text: str) -> SchemaRevision:
    """The schema revision recorded in the dump's own rows."""
    tables = _copy_blocks(text)
    versions = tables.get("alembic_version", [])
    if not versions:
        return SchemaRevision(revision=None)
    if len(versions) != 1:
        raise DumpInfoError(f"alembic_version has {len(versions)} rows; one head is expected")
    revision = _plain(versions[0], "version_num")
    for entry in tables.get("schema_revisions", []):
        if _plain(entry, "revision") == revision:
            return SchemaRevision(
                revision=revision, parent=_plain(entry, "parent"), kind=_plain(entry, "kind")
            )
    return SchemaRevision(revision=revision)
