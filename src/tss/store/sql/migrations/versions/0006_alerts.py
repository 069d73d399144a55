"""Alerts: the messages to deliver, the alert keeper's lease, silenced jobs

Revision ID: 0006
Revises: 0005
Create Date: 2027-01-10 00:00:00

An alert is one message to one channel, kept by an id made from its cause (raising it twice
stores it once) until it is delivered or given up. A lease is held by one alert keeper at a
time and keeps the state its holder saved; a silence keeps a job's alerts from being sent
until it ends. Portable like 0001: SQLAlchemy types only, partial index predicates for both
dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)
RUN_ID = sa.String(64)
STATE = sa.String(16)


def _micros(name: str, nullable: bool) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _where(predicate: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("job", NAME, nullable=True),
        sa.Column("run_id", RUN_ID, nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _micros("created_at", False),
        _micros("next_at", False),
        _micros("sent_at", True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alerts_due", "alerts", ["next_at", "id"], **_where("state = 'pending'"))
    op.create_index("ix_alerts_created_at", "alerts", ["created_at", "id"])
    op.create_index("ix_alerts_job", "alerts", ["job", "created_at", "id"])

    op.create_table(
        "leases",
        sa.Column("name", NAME, nullable=False),
        sa.Column("holder", NAME, nullable=False),
        _micros("expires_at", False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )

    op.create_table(
        "silences",
        sa.Column("job", NAME, nullable=False),
        _micros("until", False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("by_actor", NAME, nullable=False),
        _micros("created_at", False),
        sa.PrimaryKeyConstraint("job"),
    )


def downgrade() -> None:
    op.drop_table("silences")
    op.drop_table("leases")
    op.drop_index("ix_alerts_job", table_name="alerts")
    op.drop_index("ix_alerts_created_at", table_name="alerts")
    op.drop_index("ix_alerts_due", table_name="alerts")
    op.drop_table("alerts")
