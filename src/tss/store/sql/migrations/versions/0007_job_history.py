"""Job versions and the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01 00:00:00

A job's definition after each change is kept as a version (written in the change's own
transaction, kept after the job is deleted); every write someone makes is kept in the audit
log, with ids that are never reused. Portable like 0001: SQLAlchemy types only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)
STATE = sa.String(16)


def _micros(name: str, nullable: bool) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "job_versions",
        sa.Column("job", NAME, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _micros("at", False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("change", STATE, nullable=False),
        sa.Column("spec", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("job", "version"),
    )

    op.create_table(
        "audit",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _micros("at", False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", NAME, nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_at", "audit", ["at", "id"])
    op.create_index("ix_audit_actor", "audit", ["actor", "id"])
    op.create_index("ix_audit_target", "audit", ["target", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_target", table_name="audit")
    op.drop_index("ix_audit_actor", table_name="audit")
    op.drop_index("ix_audit_at", table_name="audit")
    op.drop_table("audit")
    op.drop_table("job_versions")
