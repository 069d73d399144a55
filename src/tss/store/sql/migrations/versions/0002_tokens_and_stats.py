"""API tokens; an index of runs by end time (throughput)

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01 00:00:00

Portable like 0001: SQLAlchemy types only, partial index predicates for both dialects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)


def _micros(name: str, nullable: bool) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _where(predicate: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


def upgrade() -> None:
    op.create_index(
        "ix_runs_finished_at", "runs", ["finished_at"], **_where("finished_at IS NOT NULL")
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.String(128), nullable=False),
        _micros("created_at", False),
        _micros("expires_at", True),
        _micros("revoked_at", True),
        _micros("last_used_at", True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tokens_name", "tokens", ["name"])


def downgrade() -> None:
    op.drop_index("ix_tokens_name", table_name="tokens")
    op.drop_table("tokens")
    op.drop_index("ix_runs_finished_at", table_name="runs")
