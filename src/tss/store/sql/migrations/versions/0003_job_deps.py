"""Flows: the dependency edges between jobs, so a run can find the jobs downstream of it

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-10 00:00:00

``job_deps`` holds one row per ``depends_on`` entry (parent, child). Existing jobs' edges
are filled in from their stored definitions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)


def upgrade() -> None:
    table = op.create_table(
        "job_deps",
        sa.Column("parent", NAME, nullable=False),
        sa.Column("child", NAME, nullable=False),
        sa.PrimaryKeyConstraint("parent", "child"),
    )
    op.create_index("ix_job_deps_child", "job_deps", ["child"])
    rows = op.get_bind().execute(sa.text("SELECT name, spec FROM jobs")).fetchall()
    edges = set()
    for name, spec in rows:
        for dep in json.loads(spec).get("depends_on") or ():
            edges.add((dep["job"], name))
    if edges:
        op.bulk_insert(table, [{"parent": p, "child": c} for p, c in sorted(edges)])


def downgrade() -> None:
    op.drop_index("ix_job_deps_child", table_name="job_deps")
    op.drop_table("job_deps")
