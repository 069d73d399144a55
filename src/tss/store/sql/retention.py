"""The SQL of retention, shared by SQLite and PostgreSQL (``?`` placeholders; PostgreSQL
numbers them): pruning runs a batch at a time, the fire ledger, and the other kinds of rows.

A prune of a job's runs walks ``ix_runs_job_id`` from the job's oldest run, below an id bound
(the lower of the job's ``keep_last``-th newest run and :func:`tss.core.retention.id_bound`
of the cutoff): it reads what it deletes and, in steady state, little else. Each other kind
is one ``DELETE ... WHERE key IN (SELECT key ... ORDER BY age LIMIT n)`` on an index by age.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from tss.core.retention import SETTLED_ALERTS, PrunedFire, RowKind, id_bound
from tss.core.states import TERMINAL_STATES, RunState
from tss.core.timeutil import from_micros, to_micros

#: an id above every id :func:`tss.core.ids.new_id` makes (hex digits sort below ``g`` in
#: every collation)
NO_BOUND = "g"

_ENDED = ", ".join(sorted(f"'{state.value}'" for state in TERMINAL_STATES))
#: the runs of a prune (parameters: job, id bound, ended before); the same words count them
_PRUNABLE = (
    f"FROM runs AS r WHERE job = ? AND id < ? AND state IN ({_ENDED}) AND finished_at < ?"
    " AND (flow_id IS NULL OR NOT EXISTS (SELECT 1 FROM runs AS f WHERE"
    f" f.flow_id = r.flow_id AND f.state NOT IN ({_ENDED})))"
)
#: up to N runs to prune, oldest first (parameters: job, id bound, ended before, limit)
PRUNABLE = f"SELECT id {_PRUNABLE} ORDER BY id LIMIT ?"
#: how many runs a prune would delete in all
COUNT_PRUNABLE = f"SELECT count(*) {_PRUNABLE}"
#: the oldest of a job's ``keep_last`` newest runs (parameters: job, keep_last - 1): runs
#: below it may go
KEEP_BOUND = "SELECT id FROM runs WHERE job = ? ORDER BY id DESC LIMIT 1 OFFSET ?"
#: the fires of scheduled runs about to be pruned, into the ledger (the IN list in ``{}``);
#: a fire pruned twice (made again by a backfill) keeps its newest run's row
TO_LEDGER = (
    "INSERT INTO fire_ledger (job, scheduled_for, run_id, state, finished_at, reason)"
    " SELECT job, scheduled_for, id, state, finished_at, reason FROM runs"
    " WHERE \"trigger\" = 'schedule' AND scheduled_for IS NOT NULL AND id IN ({})"
    " ON CONFLICT (job, scheduled_for) DO UPDATE SET run_id = excluded.run_id,"
    " state = excluded.state, finished_at = excluded.finished_at, reason = excluded.reason"
)
#: the names of the jobs that have runs: a loose scan of ``ix_runs_job_id``, one index
#: look-up per job, never a read of the runs
RUN_JOBS = (
    "WITH RECURSIVE j(name) AS (SELECT min(job) FROM runs"
    " UNION ALL SELECT (SELECT min(job) FROM runs WHERE job > j.name) FROM j"
    " WHERE j.name IS NOT NULL) SELECT name FROM j WHERE name IS NOT NULL"
)
#: a job's pruned fires in a window (parameters: job, since, until, limit)
LEDGER = (
    "SELECT job, scheduled_for, run_id, state, finished_at, reason FROM fire_ledger"
    " WHERE job = ? AND scheduled_for >= ? AND scheduled_for < ? ORDER BY scheduled_for LIMIT ?"
)

_SETTLED = ", ".join(sorted(f"'{state}'" for state in SETTLED_ALERTS))


class RowSql(NamedTuple):
    """How one kind of row is pruned: the rows older than ``?`` (``where``), deleted
    ``LIMIT ?`` at a time oldest first (``delete``), or counted (``counting``)."""

    delete: str
    counting: str


def _kind(table: str, key: str, where: str, order: str) -> RowSql:
    columns = key.strip("()")
    return RowSql(
        f"DELETE FROM {table} WHERE {key} IN"
        f" (SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} LIMIT ?)",
        f"SELECT count(*) FROM {table} WHERE {where}",
    )


#: every kind of row besides runs (parameter: before, in microseconds; then the limit)
ROWS: dict[RowKind, RowSql] = {
    "alerts": _kind("alerts", "id", f"created_at < ? AND state IN ({_SETTLED})", "created_at, id"),
    "silences": _kind("silences", "job", '"until" < ?', '"until"'),
    "ledger": _kind("fire_ledger", "(job, scheduled_for)", "scheduled_for < ?", "scheduled_for"),
    "audit": _kind("audit", "id", "at < ?", "at, id"),
}


def bound(before_us: int, keep: str | None) -> str:
    """The id bound of a prune: below the job's kept runs (``keep``, None: no run is kept
    by count) and :func:`~tss.core.retention.id_bound` of the cutoff."""
    limit = NO_BOUND if before_us >= 2**62 else id_bound(from_micros(before_us))
    return limit if keep is None else min(limit, keep)


def ledger_params(
    job: str, since: datetime, until: datetime, limit: int
) -> tuple[str, int, int, int]:
    """The parameters of :data:`LEDGER`."""
    return job, to_micros(since), to_micros(until), limit


def pruned_fire(row: tuple[str, int, str, str, int | None, str | None]) -> PrunedFire:
    job, at, run_id, state, finished, reason = row
    end: datetime | None = None if finished is None else from_micros(finished)
    return PrunedFire(job, from_micros(at), run_id, RunState(state), end, reason)
