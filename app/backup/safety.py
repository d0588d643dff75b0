"""The refusals a restore makes before it writes anything (issue 15's safety rules).

1. The backup's schema revision must be one this code can migrate from: the compatibility
   window of ADR 0005 (`app.revisions.window.evaluate`), where *behind* is fine too, since the
   migration Job that follows a restore brings the schema to head.
2. The target server must not be an older major than the one the backup came from.
3. The target database must be empty, unless the operator forces the restore.
The checksum is the third gate, checked while the dump downloads (`cli.fetch`).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from app.backup.manifest import Manifest
from app.revisions.database import DatabaseRevision
from app.revisions.window import CodeRevisions, Compatibility, SchemaState, evaluate

# Relations a restore would collide with: everything outside the system schemas.
RELATIONS_SQL = """
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
ORDER BY 1
"""
SHOWN_RELATIONS = 5


class RestoreRefusedError(Exception):
    """A safety rule refuses this restore; nothing has been written."""


@dataclass(frozen=True)
class DatabaseState:
    name: str
    server_major: int
    relations: list[str]


def inspect_database(conninfo: str) -> DatabaseState:
    """The restore target as the refusals need it (one short read-only session)."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_database(), current_setting('server_version_num')::int / 10000"
        ).fetchone()
        relations = [name for (name,) in conn.execute(RELATIONS_SQL).fetchall()]
    if row is None:
        raise RuntimeError("the database returned no row for current_database()")
    return DatabaseState(name=row[0], server_major=row[1], relations=relations)


def check_schema(manifest: Manifest, code: CodeRevisions) -> Compatibility:
    """Refuse a backup whose schema this code cannot migrate from."""
    schema = manifest.schema_revision
    verdict = evaluate(
        code, DatabaseRevision(current=schema.revision, parent=schema.parent, kind=schema.kind)
    )
    if verdict.state is SchemaState.INCOMPATIBLE:
        raise RestoreRefusedError(
            f"backup {manifest.id} holds schema revision {schema.revision}, which this code "
            f"(head {code.head}) cannot migrate from: it is newer than the compatibility window "
            "or from another branch; restore it with the release that wrote it"
        )
    return verdict


def check_database(state: DatabaseState, manifest: Manifest, *, force: bool) -> None:
    """Refuse an older server, and a non-empty database unless forced."""
    if state.server_major < manifest.server_major:
        raise RestoreRefusedError(
            f"backup {manifest.id} comes from PostgreSQL {manifest.server_major}; database "
            f"{state.name} runs {state.server_major}: restore into {manifest.server_major} or newer"
        )
    if state.relations and not force:
        shown = ", ".join(state.relations[:SHOWN_RELATIONS])
        more = "" if len(state.relations) <= SHOWN_RELATIONS else ", ..."
        raise RestoreRefusedError(
            f"database {state.name} is not empty ({len(state.relations)} relations: {shown}{more});"
            " restore into an empty database, or force it to replace what the backup contains"
        )
