"""Backfills of a job's past fires

Revision ID: 0009
Revises: 0008
Create Date: 2027-02-01 00:00:00

A backfill records the past fires of a job someone asked to make (a JSON list of
microseconds), how many were made so far and whether it is still going; the runs themselves
are ordinary schedule fires, unique per (job, scheduled_for). Portable like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE = "state = 'active'"


def upgrade() -> None:
    op.create_table(
        "backfills",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("fires", sa.Text(), nullable=False),
        sa.Column("made", sa.Integer(), nullable=False),
        sa.Column("max_active", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_backfills_job", "backfills", ["job", "created_at"])
    op.create_index(
        "ix_backfills_active",
        "backfills",
        ["created_at"],
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_index("ix_backfills_active", table_name="backfills")
    op.drop_index("ix_backfills_job", table_name="backfills")
    op.drop_table("backfills")
