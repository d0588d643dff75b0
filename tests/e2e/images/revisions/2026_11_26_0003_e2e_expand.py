"""e2e only: an expand step that records each run, so the suite can prove it ran exactly once.

Revision ID: 0003_e2e_expand
Revises: 0002_add_item_description
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_e2e_expand"
down_revision: str | None = "0002_add_item_description"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind = "expand"


def upgrade() -> None:
    # Nullable: code of 0002 keeps working (the expand rule).
    op.add_column("items", sa.Column("e2e_note", sa.Text, nullable=True))
    op.create_table(
        "e2e_migration_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("backend_pid", sa.Integer, nullable=False),
    )
    op.execute("INSERT INTO e2e_migration_runs (backend_pid) VALUES (pg_backend_pid())")


def downgrade() -> None:
    op.drop_table("e2e_migration_runs")
    op.drop_column("items", "e2e_note")
