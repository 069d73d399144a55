"""The ledger of fires whose runs retention pruned

Revision ID: 0010
Revises: 0009
Create Date: 2027-02-01 00:00:00

When retention prunes a scheduled run it first copies a compact row per fire here (job,
fire time, run, final state, end, reason) in the same transaction, so the trigger ledger
can still say what became of that fire. The ledger has its own retention, by fire time.
Portable like 0001: SQLAlchemy types only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fire_ledger",
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("scheduled_for", sa.BigInteger(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job", "scheduled_for"),
    )
    op.create_index("ix_fire_ledger_scheduled_for", "fire_ledger", ["scheduled_for"])


def downgrade() -> None:
    op.drop_index("ix_fire_ledger_scheduled_for", table_name="fire_ledger")
    op.drop_table("fire_ledger")
