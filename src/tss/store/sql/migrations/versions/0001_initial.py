"""initial schema: jobs, runs, attempts, events, workers

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00

Portable: SQLAlchemy types only, and each partial index names its predicate for SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = sa.String(200)
RUN_ID = sa.String(64)
STATE = sa.String(16)


def _micros(name: str, nullable: bool) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger(), nullable=nullable)


def _where(predicate: str, pg_predicate: str | None = None) -> dict[str, Any]:
    return {
        "sqlite_where": sa.text(predicate),
        "postgresql_where": sa.text(pg_predicate or predicate),
    }


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("name", NAME, nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("pool", NAME, nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        _micros("next_fire_at", True),
        _micros("created_at", False),
        _micros("updated_at", False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(
        "ix_jobs_next_fire_at", "jobs", ["next_fire_at"], **_where("paused = 0", "paused = false")
    )

    op.create_table(
        "runs",
        sa.Column("id", RUN_ID, nullable=False),
        sa.Column("job", NAME, nullable=False),
        sa.Column("state", STATE, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("pool", NAME, nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        _micros("created_at", False),
        _micros("updated_at", False),
        _micros("scheduled_for", True),
        _micros("not_before", True),
        _micros("queued_at", True),
        _micros("published_at", True),
        _micros("started_at", True),
        _micros("finished_at", True),
        _micros("lease_until", True),
        sa.Column("worker_id", NAME, nullable=True),
        sa.Column("idempotency_key", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("retry_of", RUN_ID, nullable=True),
        sa.Column("flow_id", RUN_ID, nullable=True),
        sa.Column("handbacks", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "uq_runs_job_scheduled_for",
        "runs",
        ["job", "scheduled_for"],
        unique=True,
        **_where("\"trigger\" = 'schedule'"),
    )
    op.create_index(
        "uq_runs_job_idempotency_key",
        "runs",
        ["job", "idempotency_key"],
        unique=True,
        **_where("idempotency_key IS NOT NULL"),
    )
    queued, waiting = "state = 'queued'", "state IN ('scheduled', 'retrying')"
    active = "state IN ('queued', 'retrying', 'running', 'scheduled')"
    op.create_index(
        "ix_runs_queued",
        "runs",
        [
            sa.column("pool"),
            sa.column("priority").desc(),
            sa.column("queued_at"),
            sa.column("id"),
        ],
        **_where(queued),
    )
    op.create_index("ix_runs_outbox", "runs", ["published_at", "queued_at"], **_where(queued))
    op.create_index("ix_runs_due", "runs", ["not_before"], **_where(waiting))
    op.create_index("ix_runs_leased", "runs", ["lease_until"], **_where("state = 'running'"))
    op.create_index("ix_runs_active", "runs", ["job"], **_where(active))
    op.create_index("ix_runs_job_id", "runs", ["job", "id"])
    op.create_index("ix_runs_state_id", "runs", ["state", "id"])
    op.create_index("ix_runs_flow_id", "runs", ["flow_id"], **_where("flow_id IS NOT NULL"))

    op.create_table(
        "attempts",
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("worker_id", NAME, nullable=True),
        sa.Column("state", STATE, nullable=False),
        _micros("started_at", False),
        _micros("finished_at", True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name="fk_attempts_run_id", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("run_id", "number"),
    )

    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        _micros("at", False),
        sa.Column("run_id", RUN_ID, nullable=False),
        sa.Column("job", NAME, nullable=False),
        sa.Column("source", STATE, nullable=True),
        sa.Column("target", STATE, nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_run_id", "events", ["run_id", "id"])

    op.create_table(
        "workers",
        sa.Column("id", NAME, nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("pools", sa.Text(), nullable=False),
        sa.Column("task_types", sa.Text(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("cores", sa.Float(), nullable=False),
        sa.Column("memory", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("state", STATE, nullable=False),
        _micros("started_at", True),
        _micros("last_heartbeat", True),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("workers")
    op.drop_index("ix_events_run_id", table_name="events")
    op.drop_table("events")
    op.drop_table("attempts")
    for name in (
        "ix_runs_flow_id",
        "ix_runs_state_id",
        "ix_runs_job_id",
        "ix_runs_active",
        "ix_runs_leased",
        "ix_runs_due",
        "ix_runs_outbox",
        "ix_runs_queued",
        "uq_runs_job_idempotency_key",
        "uq_runs_job_scheduled_for",
    ):
        op.drop_index(name, table_name="runs")
    op.drop_table("runs")
    op.drop_index("ix_jobs_next_fire_at", table_name="jobs")
    op.drop_table("jobs")
