"""e2e only: a slow expand step (it sleeps inside the transaction), so a drill can kill its pod.

Revision ID: 0003_e2e_slow
Revises: 0002_add_item_description
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_e2e_slow"
down_revision: str | None = "0002_add_item_description"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind = "expand"

SLEEP_SECONDS = 15


def upgrade() -> None:
    op.create_table(
        "e2e_slow_runs",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column(
            "ran_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("backend_pid", sa.Integer, nullable=False),
    )
    op.execute("INSERT INTO e2e_slow_runs (backend_pid) VALUES (pg_backend_pid())")
    # The drill waits for this statement in pg_stat_activity, then deletes the migration pod.
    op.execute(f"SELECT pg_sleep({SLEEP_SECONDS}) /* e2e-slow-migration */")


def downgrade() -> None:
    op.drop_table("e2e_slow_runs")
