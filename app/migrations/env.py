"""Alembic environment: always online, on the connection `platform-migrate` hands over.

The runner opens the transaction and holds the advisory lock inside it, so everything here runs in
that one transaction: the migrations, the alembic_version update and the ledger rows all commit
together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from app.migrate.ledger import ensure_ledger, record_step, target_metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `platform-migrate`, which supplies the connection")
bound: Connection = connection


def _on_version_apply(
    ctx: MigrationContext,
    step: MigrationInfo,
    heads: Collection[Any],
    run_args: Mapping[str, Any],
) -> None:
    record_step(bound, step)
    context.config.attributes.setdefault("applied", []).append(step.up_revision_id)


context.configure(
    connection=connection,
    target_metadata=target_metadata,
    transactional_ddl=True,
    transaction_per_migration=False,
    on_version_apply=_on_version_apply,
)
ensure_ledger(connection)
with context.begin_transaction():
    context.run_migrations()
