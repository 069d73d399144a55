"""Every statement the SQL stores share, by name, with ``?`` placeholders (the PostgreSQL
store numbers them: :func:`tss.store.postgres.queries.numbered`). Column lists are the
fields of the named rows in :mod:`tss.store.sql.rows`, so a row and its ``SELECT`` agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from tss.core.models import JobFilter, RunFilter
from tss.core.states import RunState
from tss.core.timeutil import to_micros
from tss.core.workers import LIVE_WORKER_STATES
from tss.store.encoding import RunRow
from tss.store.paging import (
    FLOWS,
    alert_after,
    check_alert_listing,
    check_offset,
    prefix_end,
    run_after,
)
from tss.store.sql import rows
from tss.store.sql.schema import PENDING

#: a worker expected to heartbeat (one silent too long is marked dead), from core.workers
LIVE_WORKER = "state IN ({})".format(", ".join(f"'{s}'" for s in LIVE_WORKER_STATES))


def placeholders(count: int) -> str:
    return ",".join("?" * count)


def columns(row: type[NamedTuple], table: str | None = None) -> str:
    """The column list of ``row``'s fields (``trigger`` quoted: a keyword), qualified with
    ``table`` if given."""
    names = ['"trigger"' if name == "trigger" else name for name in row._fields]
    return ", ".join(names if table is None else [f"{table}.{name}" for name in names])


# -- jobs ------------------------------------------------------------------------------------

JOB_COLUMNS = columns(rows.JobRow)
JOBS = f"SELECT {JOB_COLUMNS} FROM jobs"
#: the state of a job's newest run, as a correlated subquery (served by ``ix_runs_job_id``)
LAST_STATE = "(SELECT r.state FROM runs AS r WHERE r.job = jobs.name ORDER BY r.id DESC LIMIT 1)"


def job_where(
    job_filter: JobFilter | None,
    *,
    name: str = "name",
    has_tag: str,
    flag: Callable[[bool], Any] = int,
) -> tuple[list[str], list[Any]]:
    """SQL conditions and parameters for a :class:`JobFilter` (what its ``matches`` says).
    The dialects differ in how the name column is compared (``name``), how a tag is found
    in the JSON list (``has_tag``, with one ``?``) and how a boolean is passed (``flag``)."""
    where, params = list[str](), list[Any]()
    if job_filter is None:
        return where, params
    prefix = job_filter.prefix
    if prefix:
        # Both bounds, so the name index yields exactly the matching range.
        upper = prefix_end(prefix)
        where.append(f"{name} >= ? AND substr(name, 1, ?) = ?")
        params += [prefix, len(prefix), prefix]
        if upper is not None:
            where.append(f"{name} < ?")
            params.append(upper)
    if job_filter.tag is not None:
        where.append(has_tag)
        params.append(job_filter.tag)
    if job_filter.pool is not None:
        where.append("pool = ?")
        params.append(job_filter.pool)
    if job_filter.paused is not None:
        where.append("paused = ?")
        params.append(flag(job_filter.paused))
    if job_filter.last_state is not None:
        where.append(f"{LAST_STATE} = ?")
        params.append(RunState(job_filter.last_state).value)
    return where, params


# -- runs ------------------------------------------------------------------------------------

RUN_FIELDS = columns(RunRow)
RUN_COLUMNS = columns(RunRow, "runs")
#: every column of a run, as ``run_of`` reads them
RUNS = f"SELECT {RUN_COLUMNS} FROM runs"
RUN_INSERT = f"INSERT INTO runs ({RUN_FIELDS}) VALUES ({placeholders(len(RunRow._fields))})"
#: the fires of job ``?`` made ahead of their time as of ``?`` (microseconds): what
#: :func:`tss.core.firing.made_ahead` says, in SQL
AHEAD = (
    f"{RUNS} WHERE job = ? AND \"trigger\" = 'schedule' AND (state = 'scheduled'"
    " OR (state = 'queued' AND not_before > ?))"
)
FINISH_COLUMNS = columns(rows.FinishRow)
FINISH_RUN = (
    "UPDATE runs SET state = ?, updated_at = ?, finished_at = ?, not_before = ?, queued_at = ?,"
    " published_at = ?, lease_until = NULL, error = ?, result = ?, reason = ?,"
    " handbacks = handbacks + ? WHERE id = ?"
)
FINISH_ATTEMPT = (
    "UPDATE attempts SET state = ?, finished_at = ?, error = ?, result = ?, stdout = ?,"
    " stderr = ? WHERE run_id = ? AND number = ?"
)


def run_where(run_filter: RunFilter | None) -> tuple[list[str], list[Any]]:
    """SQL conditions (joined with AND) and their parameters for a run filter (what its
    ``matches`` says)."""
    where, params = ["1 = 1"], list[Any]()
    if run_filter is None:
        return where, params
    if run_filter.job is not None:
        where.append("job = ?")
        params.append(run_filter.job)
    if run_filter.states:
        where.append(f"state IN ({placeholders(len(run_filter.states))})")
        params.extend(RunState(state).value for state in run_filter.states)
    if run_filter.since is not None:
        where.append("created_at >= ?")
        params.append(to_micros(run_filter.since))
    if run_filter.until is not None:
        where.append("created_at < ?")
        params.append(to_micros(run_filter.until))
    if run_filter.flow_id is not None:
        where.append("flow_id = ?")
        params.append(run_filter.flow_id)
    return where, params


def run_page_query(
    run_filter: RunFilter | None, *, limit: int, cursor: str | None, offset: int
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of ``Store.list_runs``: newest first, one row
    more than ``limit`` to tell whether another page follows.

    :raises ValidationError: a malformed cursor or a negative offset.
    """
    before, offset = run_after(cursor), check_offset(offset)
    where, params = run_where(run_filter)
    if before is not None:
        where, params = [*where, "id < ?"], [*params, before]
    # No total: counting a run history of millions on every page would not do.
    sql = f"{RUNS} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ? OFFSET ?"
    return sql, [*params, max(limit, 0) + 1, offset]


# -- attempts, events, workers, tokens, sessions ---------------------------------------------

ATTEMPT_COLUMNS = columns(rows.AttemptRow)
EVENT_COLUMNS = columns(rows.EventRow)
EVENT_INSERT = (
    f"INSERT INTO events ({columns(rows.NewEvent)})"
    f" VALUES ({placeholders(len(rows.NewEvent._fields))})"
)
WORKER_COLUMNS = columns(rows.WorkerRow)
WORKER_UPSERT = (
    f"INSERT INTO workers ({WORKER_COLUMNS})"
    f" VALUES ({placeholders(len(rows.WorkerRow._fields))})"
    " ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in rows.WorkerRow._fields[1:])
)
TOKEN_COLUMNS = columns(rows.TokenRow)
TOKENS = f"SELECT {TOKEN_COLUMNS} FROM tokens"
TOKEN_INSERT = f"INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ({placeholders(8)})"
SESSION_COLUMNS = columns(rows.SessionRow)
SESSION_INSERT = f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?)"
#: expired sessions are never read again: dropped whenever a new one is made (``{now}``:
#: the store clock in microseconds, or the SQL that says it)
SESSION_PURGE = "DELETE FROM sessions WHERE expires_at <= {now}"
SESSION_SELECT = f"SELECT {SESSION_COLUMNS} FROM sessions WHERE id_hash = ?"
SESSION_DELETE = "DELETE FROM sessions WHERE id_hash = ?"

# -- alerts, leases, silences ----------------------------------------------------------------

ALERT_COLUMNS = columns(rows.AlertRow)
ALERTS = f"SELECT {ALERT_COLUMNS} FROM alerts"
#: a new alert; one whose id is stored already is left as it is
ALERT_INSERT = (
    f"INSERT INTO alerts ({ALERT_COLUMNS}) VALUES ({placeholders(len(rows.AlertRow._fields))})"
    " ON CONFLICT (id) DO NOTHING"
)
#: pending alerts due by ``{now}``, oldest first, then by id (compared as ``{ident}``), up
#: to ``?`` (``ix_alerts_due``)
DUE_ALERTS = f"{ALERTS} WHERE {PENDING} AND next_at <= {{now}} ORDER BY next_at, {{ident}} LIMIT ?"
#: AlertUpdateRow parameters; a NULL next_at keeps the stored one
ALERT_SETTLE = (
    "UPDATE alerts SET state = ?, attempts = ?, next_at = coalesce(?, next_at), error = ?,"
    " sent_at = ? WHERE id = ?"
)
#: take the lease ``?`` for holder ``?`` until ``{now}`` plus ``?`` microseconds (a new one
#: with the state ``?``) unless another holder has it and it has not expired by ``{now}``;
#: returns the saved state, or no row when another holder has it
LEASE_TAKE = (
    "INSERT INTO leases (name, holder, expires_at, state) VALUES (?, ?, {now} + ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
    " expires_at = excluded.expires_at"
    " WHERE leases.holder = excluded.holder OR leases.expires_at <= {now} RETURNING state"
)
#: save the state ``?`` with the lease ``?`` if holder ``?`` has it
LEASE_SAVE = "UPDATE leases SET state = ? WHERE name = ? AND holder = ?"
SILENCE_COLUMNS = columns(rows.SilenceRow)
SILENCE_UPSERT = (
    f"INSERT INTO silences ({SILENCE_COLUMNS})"
    f" VALUES ({placeholders(len(rows.SilenceRow._fields))})"
    " ON CONFLICT (job) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in rows.SilenceRow._fields[1:])
)
#: silences not over by ``{now}``, by job (compared as ``{job}``)
SILENCES = f"SELECT {SILENCE_COLUMNS} FROM silences WHERE until > {{now}} ORDER BY {{job}}"
SILENCE_DELETE = "DELETE FROM silences WHERE job = ?"


def alert_page_query(
    job: str | None,
    state: str | None,
    channel: str | None,
    limit: int,
    cursor: str | None,
    *,
    ident: str = "id",
) -> tuple[str, list[Any]]:
    """The SQL and parameters of one page of ``list_alerts``: newest ``created_at`` first,
    then highest id (compared as ``ident``, e.g. ``id COLLATE "C"``), one row more than
    ``limit`` to tell whether another page follows.

    :raises ValidationError: a malformed cursor, a limit outside 1..1000, an unknown state.
    """
    check_alert_listing(limit, state)
    after = alert_after(cursor)
    where, params = ["1 = 1"], list[Any]()
    for column, value in (("job", job), ("state", state), ("channel", channel)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if after is not None:
        where.append(f"(created_at, {ident}) < (?, ?)")
        params += after
    order = f"created_at DESC, {ident} DESC"
    return f"{ALERTS} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?", [*params, limit + 1]


# -- flows -----------------------------------------------------------------------------------

#: the edges of one job are replaced whenever its definition is stored
EDGES_DELETE = "DELETE FROM job_deps WHERE child = ?"
EDGES_INSERT = "INSERT INTO job_deps (parent, child) VALUES (?, ?)"
#: whether any job depends on another at all (most stores: none, and firing skips flows)
ANY_EDGE = "SELECT EXISTS (SELECT 1 FROM job_deps)"
#: the specs of every job downstream of the job ``?``
DOWNSTREAM = (
    "WITH RECURSIVE down(name) AS (SELECT child FROM job_deps WHERE parent = ?"
    " UNION SELECT d.child FROM job_deps AS d JOIN down ON d.parent = down.name)"
    " SELECT jobs.spec FROM jobs JOIN down ON jobs.name = down.name"
)
#: the FlowRow of the runs of some flows (the IN list or ANY goes after it)
FLOW_COLUMNS = (
    "id, job, state, CASE WHEN state = 'waiting' THEN policy END, retry_of, pool, flow_id"
)
#: the MemberRow of the runs of some flows (the IN list or ANY goes after it)
MEMBERS = f"SELECT {columns(rows.MemberRow)} FROM runs WHERE flow_id IS NOT NULL AND "
#: parameters: state, updated_at, queued_at, finished_at, reason, id
SETTLE_RUN = (
    "UPDATE runs SET state = ?, updated_at = ?, queued_at = ?, published_at = NULL,"
    " finished_at = ?, reason = ? WHERE id = ? AND state = 'waiting'"
)

#: the history of deleted runs, child rows first (the IN list goes in ``{}``;
#: :mod:`tss.store.sql.retention` picks the runs)
FORGET = (
    "DELETE FROM events WHERE run_id IN ({})",
    "DELETE FROM attempts WHERE run_id IN ({})",
    "DELETE FROM runs WHERE id IN ({})",
)


def roots_query(limit: int, cursor: str | None) -> tuple[str, list[Any]]:
    """The SQL and parameters of the runs that started flows (their ``flow_id`` is their
    id), newest first, one more than ``limit``. It walks the partial index on ``flow_id``,
    so it reads flow runs only, never the rest of the history.

    :raises ValidationError: a malformed cursor, or one made for another listing.
    """
    before = run_after(cursor, FLOWS)
    sql = f"{RUNS} WHERE flow_id IS NOT NULL AND flow_id = id"
    params: list[Any] = []
    if before is not None:
        sql, params = sql + " AND flow_id < ?", [before]
    return sql + " ORDER BY flow_id DESC LIMIT ?", [*params, max(limit, 0) + 1]
