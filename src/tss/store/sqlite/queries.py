"""The SQLite store's own statements: the shared ones (:mod:`tss.store.sql.queries`) with
the indexes SQLite's planner should use named.

Without statistics SQLite's planner favours the ``(state, id)`` index for every query on a
state; the partial indexes made for these queries are far smaller, so name them.
"""

from __future__ import annotations

import functools

from tss.store.sql import queries as shared
from tss.store.sql.queries import (
    ATTEMPT_COLUMNS,
    JOBS,
    LIVE_WORKER,
    RUN_FIELDS,
    RUNS,
    placeholders,
)
from tss.store.sql.schema import ACTIVE, QUEUED, RUNNING, WAITING

QUEUED_RUNS = f"{RUNS} INDEXED BY ix_runs_queued WHERE {QUEUED}"
OUTBOX = f"{RUNS} INDEXED BY ix_runs_outbox WHERE {QUEUED}"
DUE = f"{RUNS} INDEXED BY ix_runs_due WHERE {WAITING}"
LEASED = f"{RUNS} INDEXED BY ix_runs_leased WHERE {RUNNING}"
ACTIVE_RUNS = f"FROM runs INDEXED BY ix_runs_active WHERE {ACTIVE}"
#: a job's newest run (ids sort by creation), given the job: ``ix_runs_job_id``
NEWEST_RUN_ID = "(SELECT r.id FROM runs AS r WHERE r.job = ? ORDER BY r.id DESC LIMIT 1)"
#: the partial unique index each look-up of an existing run goes through
UNIQUE_WHERE = {
    "idempotency_key": "idempotency_key IS NOT NULL",
    "scheduled_for": "\"trigger\" = 'schedule'",
}

FETCH_QUEUED = f"{QUEUED_RUNS} AND pool IN ({{}}) ORDER BY priority DESC, queued_at, id LIMIT ?"


@functools.lru_cache(maxsize=256)
def claim_heads(pools: int, types: int | None, labels: int) -> str:
    """:data:`FETCH_QUEUED` of ``pools`` pools for a worker that has ``types`` task types
    (None: any) and ``labels`` labels: runs of other types, or requiring a label it does not
    have, are passed over in the query, so they never hold back the runs behind them.
    Parameters: the pools, the types, the labels, the limit.

    ``json_extract`` costs about 0.15 µs a row here (an ``instr`` on the text, twice that);
    the correlated ``json_each`` only runs for the rare run that requires labels. A policy
    that is not JSON at all passes (``json_valid``): the worker that claims it fails it
    with the reason, as for any unreadable policy, instead of the query failing."""
    may = []
    if types is not None:
        may.append(f"json_extract(policy, '$.type') IN ({placeholders(types)})")
    # Every required label is among the worker's (with none: the run must require none).
    may.append(
        "(json_extract(policy, '$.requires') IS NULL OR NOT EXISTS (SELECT 1 FROM"
        f" json_each(policy, '$.requires') WHERE value NOT IN ({placeholders(labels)})))"
    )
    where = [f"pool IN ({placeholders(pools)})", f"(NOT json_valid(policy) OR {' AND '.join(may)})"]
    return f"{QUEUED_RUNS} AND {' AND '.join(where)} ORDER BY priority DESC, queued_at, id LIMIT ?"


FIND_UNPUBLISHED = (
    f"SELECT * FROM ({OUTBOX} AND published_at IS NULL AND queued_at <= ?"
    f" UNION ALL {OUTBOX} AND published_at <= ?) ORDER BY queued_at, id LIMIT ?"
)
PROMOTE_SELECT = (
    f"SELECT * FROM ({DUE} AND not_before <= ? UNION ALL {DUE} AND not_before IS NULL)"
    " ORDER BY coalesce(not_before, created_at), id LIMIT ?"
)
EXPIRED = (
    f"SELECT * FROM ({LEASED} AND lease_until <= ? UNION ALL {LEASED} AND lease_until IS NULL)"
    " ORDER BY coalesce(lease_until, updated_at), id LIMIT ?"
)
_TIMEOUT = "json_extract(policy, '$.timeout')"
OVERDUE = (
    f"{LEASED} AND started_at IS NOT NULL AND {_TIMEOUT} IS NOT NULL"
    f" AND started_at + CAST(round(({_TIMEOUT} + ?) * 1000000) AS INTEGER) < ?"
    " ORDER BY started_at, id LIMIT ?"
)
#: the earliest time anything becomes due; parameters: horizon and ahead (microseconds)
NEXT_WAKEUP = (
    "SELECT (SELECT min(next_fire_at) - ? FROM jobs WHERE paused = 0),"
    f" (SELECT min(not_before) - ? FROM runs INDEXED BY ix_runs_due WHERE {WAITING}),"
    " (SELECT min(created_at) FROM runs INDEXED BY ix_runs_due"
    f" WHERE {WAITING} AND not_before IS NULL)"
)
#: parameters: bucket width (microseconds), since. Integer division floors here: times are
#: after the epoch. Served by the partial index ix_runs_finished_at (the comparison implies
#: finished_at IS NOT NULL).
THROUGHPUT = (
    "SELECT finished_at / ? AS slot, state, count(*) FROM runs"
    " WHERE finished_at >= ? GROUP BY slot, state ORDER BY slot, state"
)
JOB_INSERT = (
    "INSERT INTO jobs (name, spec, type, pool, tags, paused, next_fire_at, created_at,"
    " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
)
JOB_UPDATE = (
    "UPDATE jobs SET spec = ?, type = ?, pool = ?, tags = ?, paused = ?, next_fire_at = ?,"
    " updated_at = ?, version = version + 1 WHERE name = ?"
)
JOB_PAUSE = (
    "UPDATE jobs SET spec = ?, paused = ?, updated_at = ?, next_fire_at = ?, pause = ?,"
    " pause_until = ? WHERE name = ?"
)
#: an update left a job unpaused: it keeps no pause
PAUSE_CLEAR = (
    "UPDATE jobs SET pause = NULL, pause_until = NULL"
    " WHERE name = ? AND paused = 0 AND pause IS NOT NULL"
)
#: the paused jobs whose pause has ended (``ix_jobs_pause_until``)
PAUSES_DUE = (
    f"{JOBS} WHERE pause_until IS NOT NULL AND pause_until <= ? AND paused = 1"
    " ORDER BY pause_until, name LIMIT ?"
)
FIRE_DUE = f"{JOBS} WHERE paused = 0 AND next_fire_at <= ? ORDER BY next_fire_at, name LIMIT ?"
ADVANCE = "UPDATE jobs SET next_fire_at = ? WHERE name = ? AND next_fire_at IS ?"
PROMOTE = (
    "UPDATE runs SET state = 'queued', updated_at = ?, queued_at = ?, published_at = NULL"
    " WHERE id = ?"
)
CLAIM = (
    "UPDATE runs SET state = 'running', attempt = attempt + 1, started_at = ?, worker_id = ?,"
    " lease_until = ?, updated_at = ? WHERE id IN ({})"
    f" AND {QUEUED} RETURNING {RUN_FIELDS}"
)
ATTEMPT_START = (
    f"INSERT INTO attempts ({ATTEMPT_COLUMNS})"
    " VALUES (?, ?, ?, 'running', ?, NULL, NULL, NULL, '', '')"
)
CANCEL_RUN = (
    "UPDATE runs SET state = 'cancelled', updated_at = ?, finished_at = ?, lease_until = NULL,"
    " reason = ? WHERE id = ?"
)
CANCEL_ATTEMPT = (
    "UPDATE attempts SET state = 'cancelled', finished_at = ?"
    " WHERE run_id = ? AND number = ? AND finished_at IS NULL"
)
FAIL_RUN = (
    "UPDATE runs SET state = 'failed', updated_at = ?, finished_at = ?, error = ?, reason = ?"
    " WHERE id = ?"
)
SAVE_LOGS = (
    "UPDATE attempts SET stdout = ?, stderr = ?"
    " WHERE run_id = ? AND number = ? AND finished_at IS NULL"
)
LOGS = (
    "SELECT stdout, stderr FROM attempts WHERE run_id = ? AND (? IS NULL OR number = ?)"
    " ORDER BY number DESC LIMIT 1"
)
MARK_DEAD = (
    f"UPDATE workers SET state = 'dead' WHERE {LIVE_WORKER}"
    " AND (coalesce(last_heartbeat, started_at) IS NULL"
    " OR coalesce(last_heartbeat, started_at) <= ?) RETURNING id"
)

# -- alerts, leases, silences: the shared statements with the store's now as a parameter -----

#: parameters: now, limit
DUE_ALERTS = shared.DUE_ALERTS.format(now="?", ident="id")
#: parameters: name, holder, now, ttl (microseconds), new state, now
LEASE_TAKE = shared.LEASE_TAKE.format(now="?")
#: parameters: now
SILENCES = shared.SILENCES.format(now="?", job="job")
