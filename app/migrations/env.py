"""Alembic environment: always online, on the connection `platform-migrate` hands over.

The runner opens the transaction and holds the advisory lock inside it, so everything here runs in
that one transaction: the migrations, the alembic_version update and the ledger rows all commit
together or not at all. The one command that runs it without a connection is `alembic revision`
(`revision_environment` in pyproject.toml), which only renders a new script.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from app.migrate.ledger import ensure_ledger, record_step, target_metadata
from app.migrations.authoring import kind_from, process_revision_directives


def _authoring() -> bool:
    """True under `alembic revision`: the only command that needs no database."""
    command = getattr(context.config.cmd_opts, "cmd", None)
    return command is not None and command[0].__name__ == "revision"


def _render_new_script() -> None:
    """Offline (as_sql): nothing reads the database; the new script's parent is the head."""
    context.configure(
        dialect_name="postgresql",
        as_sql=True,
        target_metadata=target_metadata,
        process_revision_directives=process_revision_directives,
        template_args={"kind": kind_from(context.get_x_argument(as_dictionary=True))},
    )
    context.run_migrations()


def _migrate(connection: Connection) -> None:
    def on_version_apply(
        ctx: MigrationContext,
        step: MigrationInfo,
        heads: Collection[Any],
        run_args: Mapping[str, Any],
    ) -> None:
        record_step(connection, step)
        context.config.attributes.setdefault("applied", []).append(step.up_revision_id)

    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transactional_ddl=True,
        transaction_per_migration=False,
        on_version_apply=on_version_apply,
    )
    ensure_ledger(connection)
    with context.begin_transaction():
        context.run_migrations()


connection: Connection | None = context.config.attributes.get("connection")
if connection is not None:
    _migrate(connection)
elif _authoring():
    _render_new_script()
else:
    raise RuntimeError("run migrations with `platform-migrate`, which supplies the connection")
