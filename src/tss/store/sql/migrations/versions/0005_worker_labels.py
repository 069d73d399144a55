"""Worker labels: what a worker offers beyond its task types (``gpu``, ``region=eu``)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-20 00:00:00

A job's ``requires`` labels route its runs to workers that have all of them; the labels a
worker registers are kept beside its task types, as a JSON list. Existing rows get none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workers", sa.Column("labels", sa.Text(), nullable=False, server_default="[]"))


def downgrade() -> None:
    # Batch mode: an older SQLite drops a column only by copying the table.
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("labels")
