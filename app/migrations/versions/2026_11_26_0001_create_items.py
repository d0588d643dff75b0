"""Create the items table.

Revision ID: 0001_create_items
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_create_items"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind = "contract"  # the first schema: there is no older code to stay compatible with


def upgrade() -> None:
    op.create_table(
        "items",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("name"),
        sa.CheckConstraint("char_length(name) BETWEEN 1 AND 100", name="name_length"),
    )


def downgrade() -> None:
    op.drop_table("items")
