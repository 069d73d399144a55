"""The SQLite store's transaction bodies: each runs on the store's thread inside one
transaction that :class:`~tss.store.sqlite.connection.SQLiteConnection` opened, and takes
the store's now (``now_us``, microseconds) read inside that transaction.

Each batch is one statement (``executemany`` or ``IN (...)``), never a round trip per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from sqlite3 import IntegrityError
from typing import Any

import orjson

from tss.core import flows
from tss.core.alerts import Alert
from tss.core.fencing import holds
from tss.core.firing import REPLACED, refires_withdrawn, rewound
from tss.core.history import VersionChange
from tss.core.models import ErrorInfo, Job, JobSpec, NewRun, Outcome, Page, Run, Token
from tss.core.records import DashboardSession, PauseInfo
from tss.core.states import RunState, can_transition
from tss.core.timeutil import from_micros
from tss.core.workers import Room
from tss.errors import Conflict, NotFound
from tss.store.encoding import (
    RunRow,
    chunks,
    error_text,
    fire_key,
    micros,
    run_of,
    seconds_us,
    spec_text,
)
from tss.store.encoding import when as time_of
from tss.store.paging import JobOrder
from tss.store.roles import check_definition
from tss.store.sql import history, plans, rows
from tss.store.sql import queries as shared
from tss.store.sql.history import version_values
from tss.store.sqlite import queries
from tss.store.sqlite.connection import Connection, changes, execute, many, rows_in
from tss.store.sqlite.connection import rows as fetch

# -- jobs ------------------------------------------------------------------------------------


def create_job(
    conn: Connection,
    now_us: int,
    spec: JobSpec,
    fire_us: int | None,
    actor: str = "user",
    change: VersionChange = "created",
) -> Job:
    try:
        execute(
            conn, queries.JOB_INSERT, (spec.name, *rows.job_values(spec), fire_us, now_us, now_us)
        )
    except IntegrityError as exc:
        raise Conflict.job_exists(spec.name) from exc
    many(conn, shared.EDGES_INSERT, plans.edges(spec))
    execute(conn, history.VERSION_INSERT, version_values(spec.name, now_us, actor, change, spec))
    return Job(spec, from_micros(now_us), from_micros(now_us), time_of(fire_us), 1)


def update_job(
    conn: Connection,
    now_us: int,
    spec: JobSpec,
    fire_us: int | None,
    want: int | None,
    actor: str = "user",
    change: VersionChange = "updated",
) -> Job:
    old = get_job(conn, spec.name)
    if want is not None and want != old.version:
        raise Conflict.stale_version(spec.name, old.version, want)
    withdrawn = cancel_ahead(conn, now_us, spec.name, "job changed")
    if refires_withdrawn(old.spec, spec):
        fire_us = micros(rewound(time_of(fire_us), withdrawn))
    execute(conn, queries.JOB_UPDATE, (*rows.job_values(spec), fire_us, now_us, spec.name))
    if not spec.paused and old.pause is not None:
        execute(conn, queries.PAUSE_CLEAR, (spec.name,))
    execute(conn, shared.EDGES_DELETE, (spec.name,))
    many(conn, shared.EDGES_INSERT, plans.edges(spec))
    execute(conn, history.VERSION_INSERT, version_values(spec.name, now_us, actor, change, spec))
    return Job(spec, old.created_at, from_micros(now_us), time_of(fire_us), old.version + 1,
               pause=old.pause if spec.paused else None)  # fmt: skip


def get_job(conn: Connection, name: str) -> Job:
    found = fetch(conn, f"{shared.JOBS} WHERE name = ?", (name,))
    if not found:
        raise NotFound.job(name)
    return rows.job_of(found[0])


def list_jobs(
    conn: Connection,
    where: list[str],
    params: list[Any],
    order: JobOrder,
    after: tuple[Any, ...] | None,
    limit: int,
    offset: int,
) -> Page:
    limit = max(limit, 0)
    # No WHERE at all when unfiltered: SQLite counts a whole table much faster then.
    filtered = f" WHERE {' AND '.join(where)}" if where else ""
    total = fetch(conn, f"SELECT count(*) FROM jobs{filtered}", params)[0][0]
    if after is not None:
        where, params = [*where, order.seek], [*params, *after]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = f"{shared.JOBS}{clause} ORDER BY {order.order_by} LIMIT ? OFFSET ?"
    found = fetch(conn, sql, [*params, limit + 1, offset])
    jobs = [rows.job_of(row) for row in found[:limit]]
    return Page(jobs, order.cursor(jobs[-1]) if len(found) > limit and jobs else None, total)


def last_runs(conn: Connection, names: list[str]) -> dict[str, Run]:
    """One indexed look-up per name (``ix_runs_job_id``), a statement per chunk."""
    found: dict[str, Run] = {}
    for part in chunks(names):
        sql = f"{shared.RUNS} WHERE id IN ({', '.join([queries.NEWEST_RUN_ID] * len(part))})"
        found.update((run.job, run) for run in map(run_of, fetch(conn, sql, part)))
    return {name: found[name] for name in names if name in found}


def delete_job(conn: Connection, now_us: int, name: str, actor: str = "user") -> None:
    if not execute(conn, "DELETE FROM jobs WHERE name = ?", (name,)):
        raise NotFound.job(name)
    execute(conn, shared.EDGES_DELETE, (name,))
    cancel_ahead(conn, now_us, name, "job deleted")
    execute(conn, history.VERSION_INSERT, version_values(name, now_us, actor, "deleted", None))


def cancel_ahead(conn: Connection, now_us: int, name: str, why: str) -> list[datetime | None]:
    """Withdraw the fires of a job made ahead of their time (:func:`tss.core.firing.made_ahead`):
    cancel them and free their fire (clear ``scheduled_for``), so that the same fire can be
    made again. Returns their times."""
    runs = [run_of(row) for row in fetch(conn, shared.AHEAD, (name, now_us))]
    if runs:
        cancel(conn, now_us, runs, "user", why)
        many(conn, "UPDATE runs SET scheduled_for = NULL WHERE id = ?", [(r.id,) for r in runs])
    return [run.scheduled_for for run in runs]


def set_paused(
    conn: Connection, now_us: int, name: str, paused: bool, pause: PauseInfo | None = None
) -> Job:
    old = get_job(conn, name)
    spec = old.spec.model_copy(update={"paused": paused})
    next_fire_at = old.next_fire_at
    if paused:
        next_fire_at = rewound(next_fire_at, cancel_ahead(conn, now_us, name, "job paused"))
    kept = pause if paused else None
    params = (spec_text(spec), paused, now_us, micros(next_fire_at), *rows.pause_values(kept), name)
    execute(conn, queries.JOB_PAUSE, params)
    stored = rows.pause_of(rows.pause_values(kept)[0])
    return replace(
        old, spec=spec, updated_at=from_micros(now_us), next_fire_at=next_fire_at, pause=stored
    )


def pauses_due(conn: Connection, now_us: int) -> bool:
    """Whether a paused job's pause has ended (read only)."""
    return bool(fetch(conn, queries.PAUSES_DUE, (now_us, 1)))


def resume_due_pauses(conn: Connection, now_us: int, limit: int) -> list[Job]:
    """Resume the paused jobs whose pause has ended: the write lock is held, so no other
    process resumes the same ones."""
    due = [rows.job_of(row) for row in fetch(conn, queries.PAUSES_DUE, (now_us, max(limit, 0)))]
    resumed = []
    for job in due:
        spec = job.spec.model_copy(update={"paused": False})
        params = (spec_text(spec), False, now_us, micros(job.next_fire_at), None, None, job.name)
        execute(conn, queries.JOB_PAUSE, params)
        resumed.append(replace(job, spec=spec, updated_at=from_micros(now_us), pause=None))
    return resumed


# -- scheduling ------------------------------------------------------------------------------


def fire_due_jobs(
    conn: Connection, now_us: int, planner: Any, limit: int, actor: str, horizon: float
) -> tuple[list[Run], int]:
    """Claim, plan, insert and advance in one write transaction: while it holds the write
    lock no other instance or process can claim the same jobs."""
    until_us = now_us + seconds_us(horizon)
    due = [rows.job_of(row) for row in fetch(conn, queries.FIRE_DUE, (until_us, max(limit, 0)))]
    if not due:
        return [], 0
    sql = f"SELECT job, count(*) {queries.ACTIVE_RUNS} AND job IN ({{}}) GROUP BY job"
    counts: dict[str, int] = dict(rows_in(conn, sql, [job.name for job in due]))
    now, news, advances = from_micros(now_us), list[NewRun](), []
    for job in due:
        firing = planner(job, now, counts.get(job.name, 0))
        if firing.cancel_active and counts.get(job.name):
            sql = f"SELECT {shared.RUN_COLUMNS} {queries.ACTIVE_RUNS} AND job = ?"
            active = [run_of(row) for row in fetch(conn, sql, (job.name,))]
            cancel(conn, now_us, active, actor, REPLACED)
        news += firing.runs
        expected = micros(firing.expected_next_fire_at)
        advances.append((micros(firing.next_fire_at), job.name, expected))
    created = insert_runs(conn, now_us, news, actor)
    many(conn, queries.ADVANCE, advances)
    return [run for run, fresh in created if fresh and run.state is RunState.QUEUED], len(due)


def promote(conn: Connection, now_us: int, limit: int, actor: str, ahead: float) -> list[Run]:
    until = now_us + seconds_us(ahead)
    runs = [run_of(row) for row in fetch(conn, queries.PROMOTE_SELECT, (until, max(limit, 0)))]
    many(conn, queries.PROMOTE, [(now_us, now_us, run.id) for run in runs])
    events = [
        rows.NewEvent(now_us, r.id, r.job, r.state.value, "queued", "due", r.attempt, actor)
        for r in runs
    ]
    many(conn, shared.EVENT_INSERT, events)
    now = from_micros(now_us)
    return [replace(r, state=RunState.QUEUED, updated_at=now, queued_at=now) for r in runs]


# -- runs ------------------------------------------------------------------------------------


def insert_runs_of(
    conn: Connection, now_us: int, job: Job, news: list[NewRun], actor: str
) -> list[tuple[Run, bool]]:
    """:func:`insert_runs` if ``job`` is still the stored definition (read under the write
    lock, so it cannot change before the insert).

    :raises NotFound: the job is gone.
    :raises Conflict: it changed, or was deleted and made again (``field="version"``).
    """
    check_definition(get_job(conn, job.name), job)
    return insert_runs(conn, now_us, news, actor)


def insert_runs(
    conn: Connection, now_us: int, news: list[NewRun], actor: str
) -> list[tuple[Run, bool]]:
    """Insert runs but those whose idempotency key or fire exists: the write lock is held,
    so what the two look-ups find cannot change before the insert. A run that starts a
    flow brings the waiting runs of its flow (:mod:`tss.core.flows`)."""
    specs = downstream_of(conn, news)
    news = flows.with_flows(news, specs)
    out = _insert_plain(conn, news, actor, now_us)
    members = flows.members_of(news, {run.id for run, fresh in out if fresh}, specs)
    if members:
        _insert_plain(conn, members, actor, now_us)
    joined = {n.flow_id for n in news if n.flow_id is not None and n.flow_id != n.id}
    settle(conn, now_us, joined, actor)
    return out


def _insert_plain(
    conn: Connection, news: list[NewRun], actor: str, now_us: int
) -> list[tuple[Run, bool]]:
    keyed = [(n.job, n.idempotency_key) for n in news if n.idempotency_key is not None]
    by_key = _existing(conn, "idempotency_key", keyed)
    by_fire = _existing(conn, "scheduled_for", [k for n in news if (k := fire_key(n))])
    out, new_rows, events = plans.plan_inserts(news, by_key, by_fire, now_us, actor)
    before = changes(conn)
    try:
        many(conn, shared.RUN_INSERT, new_rows)
    except IntegrityError as exc:
        # executemany inserts row by row: the change count says which row failed
        failed = min(max(changes(conn) - before, 0), len(new_rows) - 1)
        raise Conflict.run_exists(new_rows[failed].id) from exc
    many(conn, shared.EVENT_INSERT, events)
    return out


def _existing(
    conn: Connection, column: str, pairs: Sequence[tuple[str, Any]]
) -> dict[plans.Key, Run]:
    """The stored runs whose ``(job, column)`` is among ``pairs``, by that pair (``column`` is
    ``idempotency_key`` or ``scheduled_for``: the two unique partial indexes)."""
    found: dict[plans.Key, Run] = {}
    where = queries.UNIQUE_WHERE[column]
    for part in chunks(list(dict.fromkeys(pairs)), 400):
        jobs, values = {job for job, _ in part}, {value for _, value in part}
        sql = f"{shared.RUNS} WHERE {where} AND job IN ({shared.placeholders(len(jobs))})"
        sql += f" AND {column} IN ({shared.placeholders(len(values))})"
        for values_row in fetch(conn, sql, [*jobs, *values]):
            row = RunRow._make(values_row)
            found[row.job, getattr(row, column)] = run_of(row)
    return found


def downstream_of(conn: Connection, news: list[NewRun]) -> dict[str, dict[str, JobSpec]]:
    """The specs of the jobs downstream of each job that may start a flow in ``news``."""
    roots = sorted({new.job for new in news if flows.starts_flow(new)})
    if not roots or not fetch(conn, shared.ANY_EDGE)[0][0]:
        return {}
    sql = "SELECT DISTINCT parent FROM job_deps WHERE parent IN ({})"
    parents = {row[0] for row in rows_in(conn, sql, roots)}
    found = {root: plans.specs_of(fetch(conn, shared.DOWNSTREAM, (root,))) for root in parents}
    return {root: specs for root, specs in found.items() if specs}


def settle(conn: Connection, now_us: int, flow_ids: set[str], actor: str) -> None:
    """Decide the waiting runs of these flows (in the caller's transaction)."""
    if not flow_ids:
        return
    sql = f"SELECT {shared.FLOW_COLUMNS} FROM runs WHERE flow_id IS NOT NULL AND flow_id IN ({{}})"
    updates, events, _ = plans.plan_settle(rows_in(conn, sql, sorted(flow_ids)), now_us, actor)
    many(conn, shared.SETTLE_RUN, updates)
    many(conn, shared.EVENT_INSERT, events)


def get_run(conn: Connection, run_id: str) -> Run:
    found = fetch(conn, f"{shared.RUNS} WHERE id = ?", (run_id,))
    if not found:
        raise NotFound.run(run_id)
    return run_of(found[0])


def claim(
    conn: Connection, now_us: int, ids: Sequence[str], worker_id: str, lease: float
) -> list[Run]:
    lease_until = now_us + seconds_us(lease)
    found = rows_in(conn, queries.CLAIM, ids, now_us, worker_id, lease_until, now_us)
    claimed = {run.id: run for run in map(run_of, found)}
    runs = [claimed[run_id] for run_id in dict.fromkeys(ids) if run_id in claimed]
    many(conn, queries.ATTEMPT_START, [(r.id, r.attempt, worker_id, now_us) for r in runs])
    events = [
        rows.NewEvent(now_us, r.id, r.job, "queued", "running", None, r.attempt, worker_id)
        for r in runs
    ]
    many(conn, shared.EVENT_INSERT, events)
    return runs


def claim_next(
    conn: Connection,
    now_us: int,
    pools: list[str],
    limit: int,
    worker_id: str,
    lease: float,
    room: Room,
    types: frozenset[str] | None,
    labels: frozenset[str],
) -> list[Run]:
    """The head of the pools' queues, of the runs this worker can take (``types``,
    ``labels``: :func:`queries.claim_heads`), fitted to ``room``, claimed: in the write
    transaction, so no other writer takes them in between (SQLite has one writer at a
    time)."""
    kinds = None if types is None else sorted(types)
    sql = queries.claim_heads(len(pools), None if kinds is None else len(kinds), len(labels))
    heads = [run_of(row) for row in fetch(conn, sql, (*pools, *(kinds or ()), *labels, limit))]
    chosen = room.fit_runs(heads)
    return claim(conn, now_us, chosen, worker_id, lease)


def finish_and_claim(
    conn: Connection,
    now_us: int,
    outcomes: list[Outcome],
    actor: str,
    pools: list[str],
    limit: int,
    worker_id: str,
    lease: float,
    room: Room,
    types: frozenset[str] | None,
    labels: frozenset[str],
) -> tuple[list[bool], list[Run]]:
    """:func:`finish` then :func:`claim_next`, in one transaction."""
    accepted = finish(conn, now_us, outcomes, actor)
    claimed = claim_next(conn, now_us, pools, limit, worker_id, lease, room, types, labels)
    return accepted, claimed


def heartbeat(
    conn: Connection, now_us: int, worker_id: str, held: list[tuple[str, int]], lease: float
) -> list[str]:
    sql = "UPDATE workers SET last_heartbeat = ?, running = ? WHERE id = ?"
    execute(conn, sql, (now_us, len(held), worker_id))
    sql = "SELECT id, state, attempt FROM runs WHERE id IN ({})"
    current = {run_id: (state, n) for run_id, state, n in rows_in(conn, sql, [i for i, _ in held])}
    ok = [run_id in current and holds(*current[run_id], n) for run_id, n in held]
    kept = [run_id for (run_id, _), holding in zip(held, ok, strict=True) if holding]
    sql = "UPDATE runs SET lease_until = ?, updated_at = ? WHERE id IN ({})"
    rows_in(conn, sql, kept, now_us + seconds_us(lease), now_us)
    return [run_id for (run_id, _), holding in zip(held, ok, strict=True) if not holding]


def finish(conn: Connection, now_us: int, outcomes: list[Outcome], actor: str) -> list[bool]:
    """One read of every run's state, attempt and lease; the fencing in Python; then one
    batched write each of runs, attempts and events."""
    sql = f"SELECT {shared.FINISH_COLUMNS} FROM runs WHERE id IN ({{}})"
    found = rows_in(conn, sql, [o.run_id for o in outcomes])
    current = {row.id: row for row in map(rows.FinishRow._make, found)}
    accepted, runs, attempts, events = plans.plan_finish(outcomes, current, now_us, actor)
    many(conn, shared.FINISH_RUN, runs)
    many(conn, shared.FINISH_ATTEMPT, attempts)
    many(conn, shared.EVENT_INSERT, events)
    settle(conn, now_us, plans.ended_flows(outcomes, accepted, current), actor)
    return accepted


def cancel_ids(
    conn: Connection, now_us: int, ids: Sequence[str], actor: str, reason: str
) -> list[Run]:
    found = {
        run.id: run for run in map(run_of, rows_in(conn, f"{shared.RUNS} WHERE id IN ({{}})", ids))
    }
    runs = [found[run_id] for run_id in dict.fromkeys(ids) if run_id in found]
    return cancel(conn, now_us, runs, actor, reason)


def cancel(conn: Connection, now_us: int, runs: list[Run], actor: str, why: str) -> list[Run]:
    """Cancel ``runs`` that may be cancelled; close their attempts; decide their flows."""
    runs = [run for run in runs if can_transition(run.state, RunState.CANCELLED)]
    many(conn, queries.CANCEL_RUN, [(now_us, now_us, why, run.id) for run in runs])
    live = [(now_us, r.id, r.attempt) for r in runs if r.state is RunState.RUNNING]
    many(conn, queries.CANCEL_ATTEMPT, live)
    events = [
        rows.NewEvent(now_us, r.id, r.job, r.state.value, "cancelled", why, r.attempt, actor)
        for r in runs
    ]
    many(conn, shared.EVENT_INSERT, events)
    settle(conn, now_us, {r.flow_id for r in runs if r.flow_id is not None}, actor)
    now = from_micros(now_us)
    return [
        replace(r, state=RunState.CANCELLED, updated_at=now, finished_at=now, lease_until=None,
                reason=why)
        for r in runs
    ]  # fmt: skip


def fail_queued(
    conn: Connection, now_us: int, ids: Sequence[str], actor: str, error: ErrorInfo
) -> list[Run]:
    sql = f"{shared.RUNS} WHERE state = 'queued' AND id IN ({{}})"
    found = {run.id: run for run in map(run_of, rows_in(conn, sql, ids))}
    runs = [found[run_id] for run_id in dict.fromkeys(ids) if run_id in found]
    why, text = error.message, error_text(error)
    many(conn, queries.FAIL_RUN, [(now_us, now_us, text, why, run.id) for run in runs])
    events = [
        rows.NewEvent(now_us, r.id, r.job, "queued", "failed", why, r.attempt, actor) for r in runs
    ]
    many(conn, shared.EVENT_INSERT, events)
    settle(conn, now_us, {r.flow_id for r in runs if r.flow_id is not None}, actor)
    now = from_micros(now_us)
    return [
        replace(r, state=RunState.FAILED, updated_at=now, finished_at=now, error=error, reason=why)
        for r in runs
    ]


def get_logs(conn: Connection, run_id: str, attempt: int | None) -> tuple[str, str]:
    found = fetch(conn, queries.LOGS, (run_id, attempt, attempt))
    if found:
        [(stdout, stderr)] = found
        return stdout, stderr
    get_run(conn, run_id)
    raise NotFound.attempt(run_id, attempt)


# -- tokens and sessions ---------------------------------------------------------------------


def create_token(conn: Connection, token: Token) -> None:
    try:
        execute(conn, shared.TOKEN_INSERT, rows.token_values(token))
    except IntegrityError as exc:
        raise Conflict.token_exists(token.id) from exc


def revoke_tokens(conn: Connection, now_us: int, id_or_name: str) -> list[Token]:
    sql = "UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?)"
    sql += f" AND revoked_at IS NULL RETURNING {shared.TOKEN_COLUMNS}"
    found = fetch(conn, sql, (now_us, id_or_name, id_or_name))
    if not found and not fetch(
        conn, "SELECT 1 FROM tokens WHERE id = ? OR name = ?", (id_or_name, id_or_name)
    ):
        raise NotFound.token_named(id_or_name)
    return sorted(map(rows.token_of, found), key=lambda t: (t.created_at, t.id))


def create_session(conn: Connection, now_us: int, session: DashboardSession) -> None:
    execute(conn, shared.SESSION_PURGE.format(now=now_us))
    try:
        execute(conn, shared.SESSION_INSERT, rows.session_values(session))
    except IntegrityError as exc:
        raise Conflict.session_exists() from exc


# -- alerts and leases -----------------------------------------------------------------------


def add_alerts(conn: Connection, alerts: list[Alert]) -> list[bool]:
    """Insert the alerts whose id is not stored (nor earlier in ``alerts``): the write lock
    is held, so what the look-up finds cannot change before the insert."""
    sql = "SELECT id FROM alerts WHERE id IN ({})"
    stored = {row[0] for row in rows_in(conn, sql, [alert.id for alert in alerts])}
    added: list[bool] = []
    for alert in alerts:
        added.append(alert.id not in stored)
        stored.add(alert.id)
    fresh = [rows.alert_values(alert) for alert, new in zip(alerts, added, strict=True) if new]
    many(conn, shared.ALERT_INSERT, fresh)
    return added


def take_lease(
    conn: Connection, now_us: int, name: str, holder: str, ttl: float
) -> dict[str, Any] | None:
    params = (name, holder, now_us, seconds_us(ttl), "{}", now_us)
    found = fetch(conn, queries.LEASE_TAKE, params)
    if not found:
        return None
    state: dict[str, Any] = orjson.loads(found[0][0])
    return state
