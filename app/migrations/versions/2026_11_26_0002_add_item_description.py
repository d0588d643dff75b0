"""Add items.description: an expand step (nullable, so code of 0001 keeps working).

Revision ID: 0002_add_item_description
Revises: 0001_create_items
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_add_item_description"
down_revision: str | None = "0001_create_items"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
kind = "expand"


def upgrade() -> None:
    # Nullable without a default: a metadata-only change, no table rewrite, no long lock.
    op.add_column("items", sa.Column("description", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("items", "description")
