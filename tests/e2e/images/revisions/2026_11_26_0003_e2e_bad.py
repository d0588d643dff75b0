"""e2e only: a migration that fails halfway, after it has already created a table.

The runner's single transaction must roll the table back: the schema stays at 0002.

Revision ID: 0003_e2e_bad
Revises: 0002_add_item_description
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_e2e_bad"
down_revision: str | None = "0002_add_item_description"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind = "expand"


def upgrade() -> None:
    op.create_table("e2e_bad_partial", sa.Column("id", sa.Integer, primary_key=True))
    op.execute("SELECT 1 / 0")  # division_by_zero: the migration fails here


def downgrade() -> None:
    op.drop_table("e2e_bad_partial")
