"""The SQL schema shared by the SQL stores (SQLite now, PostgreSQL later).

Times are ``BIGINT`` microseconds since the Unix epoch, UTC (:func:`tss.core.timeutil.to_micros`);
JSON values are ``TEXT`` written with orjson. Only portable SQLAlchemy types are used, and each
partial index carries its predicate for both dialects, so one migration serves both.

The migrations in ``migrations/versions`` must produce exactly this schema; a test compares
them (``alembic.autogenerate.compare_metadata``). Change both together.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()

#: a name: jobs, pools, workers
NAME = sa.String(200)
#: a run id (``tss.core.ids.new_id`` makes 32 hex digits; room for ids made elsewhere)
RUN_ID = sa.String(64)
#: a run or worker state
STATE = sa.String(16)
#: microseconds since the epoch, UTC
MICROS = sa.BigInteger()

#: the predicates of the partial indexes; queries repeat them word for word
QUEUED = "state = 'queued'"
RUNNING = "state = 'running'"
WAITING = "state IN ('scheduled', 'retrying')"
ACTIVE = "state IN ('queued', 'retrying', 'running', 'scheduled')"
#: an alert still to be delivered
PENDING = "state = 'pending'"


def _where(predicate: str) -> dict[str, Any]:
    """A partial index predicate, the same on SQLite and PostgreSQL."""
    return {"sqlite_where": sa.text(predicate), "postgresql_where": sa.text(predicate)}


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("spec", sa.Text(), nullable=False),
    sa.Column("type", sa.String(64), nullable=False),
    sa.Column("pool", NAME, nullable=False),
    sa.Column("tags", sa.Text(), nullable=False),
    sa.Column("paused", sa.Boolean(), nullable=False),
    sa.Column("next_fire_at", MICROS, nullable=True),
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("updated_at", MICROS, nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    # Who paused the job, why and until when (PauseInfo as JSON), set only while paused;
    # pause_until repeats its end time for the sweep that resumes such jobs.
    sa.Column("pause", sa.Text(), nullable=True),
    sa.Column("pause_until", MICROS, nullable=True),
)
# The scheduler's tick reads only what is due: cost grows with what is due, not with jobs.
sa.Index(
    "ix_jobs_next_fire_at",
    jobs.c.next_fire_at,
    sqlite_where=sa.text("paused = 0"),
    postgresql_where=sa.text("paused = false"),
)

# The pause sweep reads only the jobs paused until some time.
sa.Index("ix_jobs_pause_until", jobs.c.pause_until, **_where("pause_until IS NOT NULL"))

#: one row per ``depends_on`` entry: a run finds the jobs downstream of its job here.
job_deps = sa.Table(
    "job_deps",
    metadata,
    sa.Column("parent", NAME, nullable=False),
    sa.Column("child", NAME, nullable=False),
    sa.PrimaryKeyConstraint("parent", "child"),
)
sa.Index("ix_job_deps_child", job_deps.c.child)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", RUN_ID, primary_key=True),
    sa.Column("job", NAME, nullable=False),
    sa.Column("state", STATE, nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("params", sa.Text(), nullable=False),
    sa.Column("priority", sa.Integer(), nullable=False),
    sa.Column("pool", NAME, nullable=False),
    sa.Column("policy", sa.Text(), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("updated_at", MICROS, nullable=False),
    sa.Column("scheduled_for", MICROS, nullable=True),
    sa.Column("not_before", MICROS, nullable=True),
    sa.Column("queued_at", MICROS, nullable=True),
    sa.Column("published_at", MICROS, nullable=True),
    sa.Column("started_at", MICROS, nullable=True),
    sa.Column("finished_at", MICROS, nullable=True),
    sa.Column("lease_until", MICROS, nullable=True),
    sa.Column("worker_id", NAME, nullable=True),
    sa.Column("idempotency_key", sa.Text(), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("retry_of", RUN_ID, nullable=True),
    sa.Column("flow_id", RUN_ID, nullable=True),
    # Attempts handed back by a worker shutting down: they do not use up the run's tries.
    sa.Column("handbacks", sa.Integer(), nullable=False, server_default="0"),
)
# Exactly one run per fire (DESIGN.md 3.1).
sa.Index(
    "uq_runs_job_scheduled_for",
    runs.c.job,
    runs.c.scheduled_for,
    unique=True,
    **_where("\"trigger\" = 'schedule'"),
)
sa.Index(
    "uq_runs_job_idempotency_key",
    runs.c.job,
    runs.c.idempotency_key,
    unique=True,
    **_where("idempotency_key IS NOT NULL"),
)
# The indexes that serve the scheduler's and workers' queries are partial on the states they
# read, so they hold only live runs (small) and a run's history never touches them. States
# are spelled in SQL the same way the queries spell them: SQLite matches the terms exactly.
#: fetch_queued: queued runs of a pool, highest priority then oldest first, in index order.
sa.Index(
    "ix_runs_queued",
    runs.c.pool,
    runs.c.priority.desc(),
    runs.c.queued_at,
    runs.c.id,
    **_where(QUEUED),
)
#: find_unpublished: the outbox.
sa.Index("ix_runs_outbox", runs.c.published_at, runs.c.queued_at, **_where(QUEUED))
#: promote_due_runs and next_wakeup: scheduled and retrying runs by not_before.
sa.Index("ix_runs_due", runs.c.not_before, **_where(WAITING))
#: expired_runs: running runs by lease.
sa.Index("ix_runs_leased", runs.c.lease_until, **_where(RUNNING))
#: a job's active runs (concurrency, max_active_runs, replace) without reading its history.
sa.Index("ix_runs_active", runs.c.job, **_where(ACTIVE))
#: a job's history, newest first.
sa.Index("ix_runs_job_id", runs.c.job, runs.c.id)
#: runs in one state, newest first, and counts by state (index only).
sa.Index("ix_runs_state_id", runs.c.state, runs.c.id)
# the runs of one flow; most runs have none.
sa.Index(
    "ix_runs_flow_id",
    runs.c.flow_id,
    **_where("flow_id IS NOT NULL"),
)
#: throughput: runs that ended, by when; most of a large history has, but live runs stay out.
sa.Index("ix_runs_finished_at", runs.c.finished_at, **_where("finished_at IS NOT NULL"))

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column(
        "run_id",
        RUN_ID,
        sa.ForeignKey("runs.id", name="fk_attempts_run_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("worker_id", NAME, nullable=True),
    sa.Column("state", STATE, nullable=False),
    sa.Column("started_at", MICROS, nullable=False),
    sa.Column("finished_at", MICROS, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("stdout", sa.Text(), nullable=False),
    sa.Column("stderr", sa.Text(), nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    # INTEGER (not BIGINT) on SQLite so the column is the rowid; AUTOINCREMENT so an id is
    # never reused, even after a purge: readers page the feed with "after this id".
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", MICROS, nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("job", NAME, nullable=False),
    sa.Column("source", STATE, nullable=True),
    sa.Column("target", STATE, nullable=False),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sqlite_autoincrement=True,
)
sa.Index("ix_events_run_id", events.c.run_id, events.c.id)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", NAME, primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("pools", sa.Text(), nullable=False),
    sa.Column("task_types", sa.Text(), nullable=False),
    sa.Column("concurrency", sa.Integer(), nullable=False),
    sa.Column("cores", sa.Float(), nullable=False),
    sa.Column("memory", sa.BigInteger(), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("state", STATE, nullable=False),
    sa.Column("started_at", MICROS, nullable=True),
    sa.Column("last_heartbeat", MICROS, nullable=True),
    sa.Column("running", sa.Integer(), nullable=False),
    sa.Column("labels", sa.Text(), nullable=False, server_default="[]"),
)

# API tokens: only a hash of each secret is kept.
tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("secret_hash", sa.String(128), nullable=False),
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("expires_at", MICROS, nullable=True),
    sa.Column("revoked_at", MICROS, nullable=True),
    sa.Column("last_used_at", MICROS, nullable=True),
)
#: revoke_tokens by name (several tokens may share one).
sa.Index("ix_tokens_name", tokens.c.name)

# Dashboard sessions: only a hash of each session id is kept.
sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id_hash", sa.String(64), primary_key=True),
    sa.Column("token_id", sa.String(64), nullable=False),
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("expires_at", MICROS, nullable=False),
)
#: expired sessions are purged by expiry
sa.Index("ix_sessions_expires_at", sessions.c.expires_at)

# Alerts: one message to one channel each (the outbox of alerts); the id is made from the
# alert's cause, so raising one twice stores it once. ``details`` is a JSON object.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Text(), primary_key=True),
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
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("next_at", MICROS, nullable=False),
    sa.Column("sent_at", MICROS, nullable=True),
)
#: due_alerts: pending alerts by when they are next tried; delivered ones stay out.
sa.Index("ix_alerts_due", alerts.c.next_at, alerts.c.id, **_where(PENDING))
#: list_alerts: newest first (the index read backwards), and a job's alerts newest first.
sa.Index("ix_alerts_created_at", alerts.c.created_at, alerts.c.id)
sa.Index("ix_alerts_job", alerts.c.job, alerts.c.created_at, alerts.c.id)

# Leases by name (the alert keeper's), each with the state its holder saved (JSON object).
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("holder", NAME, nullable=False),
    sa.Column("expires_at", MICROS, nullable=False),
    sa.Column("state", sa.Text(), nullable=False),
)

# Silenced jobs: no alert is sent for ``job`` until ``until``.
silences = sa.Table(
    "silences",
    metadata,
    sa.Column("job", NAME, primary_key=True),
    sa.Column("until", MICROS, nullable=False),
    sa.Column("note", sa.Text(), nullable=False),
    sa.Column("by_actor", NAME, nullable=False),
    sa.Column("created_at", MICROS, nullable=False),
)

# Job versions: a job's definition (JSON, NULL for a deletion) after each change, written in
# the same transaction as the change. Kept when the job is deleted.
job_versions = sa.Table(
    "job_versions",
    metadata,
    sa.Column("job", NAME, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("at", MICROS, nullable=False),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("change", STATE, nullable=False),
    sa.Column("spec", sa.Text(), nullable=True),
)

# The audit log: one row per write (who, what, to what), ids never reused like ``events``.
# ``details`` is a JSON object.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("at", MICROS, nullable=False),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("target", NAME, nullable=False),
    sa.Column("details", sa.Text(), nullable=False),
    sqlite_autoincrement=True,
)
#: list_audit: newest first is the primary key read backwards; these serve its filters.
sa.Index("ix_audit_at", audit.c.at, audit.c.id)
sa.Index("ix_audit_actor", audit.c.actor, audit.c.id)
sa.Index("ix_audit_target", audit.c.target, audit.c.id)

# The fire ledger: what became of each scheduled fire whose run retention pruned (copied in
# the prune's transaction), so the ledger never calls a pruned fire missed. Kept for
# ``retention.ledger_max_age`` (pruned by ``scheduled_for``).
fire_ledger = sa.Table(
    "fire_ledger",
    metadata,
    sa.Column("job", NAME, nullable=False),
    sa.Column("scheduled_for", MICROS, nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("state", STATE, nullable=False),
    sa.Column("finished_at", MICROS, nullable=True),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint("job", "scheduled_for"),
)
#: the ledger's own retention: the oldest fires first, across jobs.
sa.Index("ix_fire_ledger_scheduled_for", fire_ledger.c.scheduled_for)


# Backfills of a job's past fires: which fires someone asked to make (``fires``: a JSON list
# of microseconds), how many of them were made so far, and whether it is still going.
backfills = sa.Table(
    "backfills",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("job", NAME, nullable=False),
    sa.Column("fires", sa.Text(), nullable=False),
    sa.Column("made", sa.Integer(), nullable=False),
    sa.Column("max_active", sa.Integer(), nullable=True),
    sa.Column("actor", NAME, nullable=False),
    sa.Column("created_at", MICROS, nullable=False),
    sa.Column("state", STATE, nullable=False),
)
#: a job's backfills, newest first; the ones still going (the scheduler's backfill step).
sa.Index("ix_backfills_job", backfills.c.job, backfills.c.created_at)
sa.Index("ix_backfills_active", backfills.c.created_at, **_where("state = 'active'"))
