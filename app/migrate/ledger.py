"""The revision ledger: which revisions were applied, their parent and their kind.

alembic_version only holds the current revision. Code that is one release older does not know a
newer revision's id, so it cannot tell on its own whether that schema is still safe for it. Each
migration therefore records itself (parent, expand/contract) in `schema_revisions`, in the same
transaction as the change, and any code version can evaluate the compatibility rule.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, MetaData, text

# Deterministic constraint names, so a later migration can drop or alter them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
target_metadata = MetaData(naming_convention=NAMING_CONVENTION)

LEDGER_DDL = """
CREATE TABLE IF NOT EXISTS schema_revisions (
    revision   text PRIMARY KEY,
    parent     text,
    kind       text NOT NULL CHECK (kind IN ('expand', 'contract')),
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


def ensure_ledger(connection: Connection) -> None:
    connection.execute(text(LEDGER_DDL))


def record_step(connection: Connection, step: Any) -> None:
    """Alembic's on_version_apply hook: add the revision on upgrade, remove it on downgrade."""
    revision = step.up_revision
    if step.is_upgrade:
        connection.execute(
            text(
                "INSERT INTO schema_revisions (revision, parent, kind) "
                "VALUES (:revision, :parent, :kind)"
            ),
            {
                "revision": revision.revision,
                "parent": revision.down_revision,
                "kind": getattr(revision.module, "kind", "contract"),
            },
        )
    else:
        connection.execute(
            text("DELETE FROM schema_revisions WHERE revision = :revision"),
            {"revision": revision.revision},
        )
