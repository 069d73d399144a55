"""Who paused a job, why and until when

Revision ID: 0008
Revises: 0007
Create Date: 2027-02-01 00:00:00

A paused job keeps who paused it, when, the note they left and when it resumes by itself
(``pause``, JSON), and that end time again in ``pause_until``, which a partial index keeps
for the scheduler's sweep. Portable like 0001.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNTIL_SET = "pause_until IS NOT NULL"


def upgrade() -> None:
    op.add_column("jobs", sa.Column("pause", sa.Text(), nullable=True))
    op.add_column("jobs", sa.Column("pause_until", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_jobs_pause_until",
        "jobs",
        ["pause_until"],
        sqlite_where=sa.text(UNTIL_SET),
        postgresql_where=sa.text(UNTIL_SET),
    )


def downgrade() -> None:
    op.drop_index("ix_jobs_pause_until", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("pause_until")
        batch.drop_column("pause")
