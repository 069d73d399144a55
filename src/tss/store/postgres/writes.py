"""The PostgreSQL store's transaction bodies: each takes a connection in a transaction
(:meth:`~tss.store.postgres.connection.Pool.run` with ``tx=True``). Inserting runs (with
their events and NOTIFYs, and moving fired jobs on, and the waiting runs of the flows they
start), firing, finishing, cancelling and failing runs, deciding the waiting runs of flows,
and the job writes that withdraw fires made ahead."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from tss.core import flows
from tss.core.firing import REPLACED, refires_withdrawn, rewound
from tss.core.history import VersionChange
from tss.core.models import ErrorInfo, Job, JobSpec, NewRun, Outcome, PauseInfo, Run
from tss.core.states import RunState, can_transition
from tss.core.timeutil import from_micros
from tss.core.workers import Room
from tss.errors import Conflict, NotFound
from tss.store.base import RUNS_CHANNEL
from tss.store.encoding import (
    dumps,
    error_text,
    fire_key,
    micros,
    run_of,
    seconds_us,
    spec_text,
    when,
)
from tss.store.postgres import queries
from tss.store.postgres.connection import clean, columns
from tss.store.postgres.queries import numbered
from tss.store.sql import history, plans, rows
from tss.store.sql import queries as shared
from tss.store.sql.rows import NewEvent

R = RunState
Conn = Any  # an asyncpg connection (asyncpg ships no type information)
VERSION_INSERT = numbered(history.VERSION_INSERT)


async def insert_with_flows(
    conn: Conn,
    news: list[NewRun],
    actor: str,
    now_us: int,
    *,
    advances: list[tuple[str, int | None, int | None]] | None = None,
) -> list[tuple[Run, bool]]:
    """:func:`insert_runs`, and for each run inserted that starts a flow the waiting runs
    of its flow (:mod:`tss.core.flows`); runs that join a flow under way are decided."""
    specs = await downstream(conn, news)
    news = flows.with_flows(news, specs)
    out = await insert_runs(conn, news, actor, now_us, advances=advances)
    members = flows.members_of(news, {run.id for run, fresh in out if fresh}, specs)
    if members:
        await insert_runs(conn, members, actor, now_us)
    await settle(conn, {n.flow_id for n in news if n.flow_id and n.flow_id != n.id}, actor, now_us)
    return out


async def downstream(conn: Conn, news: list[NewRun]) -> dict[str, dict[str, JobSpec]]:
    """The specs of the jobs downstream of each job that may start a flow in ``news``."""
    roots = sorted({new.job for new in news if flows.starts_flow(new)})
    if not roots or not await conn.fetchval(shared.ANY_EDGE):
        return {}
    sql = "SELECT DISTINCT parent FROM job_deps WHERE parent = ANY($1::text[])"
    found = {}
    for (root,) in await conn.fetch(sql, roots):
        specs = plans.specs_of(await conn.fetch(numbered(shared.DOWNSTREAM), root))
        if specs:
            found[root] = specs
    return found


#: a lock per flow, held to the end of the transaction, so two transactions that end runs
#: of one flow decide its waiting runs one after the other, each seeing the other's ends
_FLOW_LOCKS = (
    "SELECT pg_advisory_xact_lock(7105, hashtext(fid))"
    " FROM (SELECT unnest($1::text[]) AS fid ORDER BY 1) AS ordered"
)
_FLOW_ROWS = f"SELECT {shared.FLOW_COLUMNS} FROM runs WHERE flow_id = ANY($1::text[])"
_SETTLE_TYPES = ("text", "bigint", "bigint", "bigint", "text", "text")
_SETTLE_WRITE = (
    "WITH r AS (UPDATE runs SET state = u.state, updated_at = u.updated_at,"
    " queued_at = u.queued_at, published_at = NULL, finished_at = u.finished_at,"
    f" reason = u.reason FROM {queries.unnest(_SETTLE_TYPES)} AS u(state, updated_at, queued_at,"
    " finished_at, reason, id) WHERE runs.id = u.id AND runs.state = 'waiting'"
    " RETURNING runs.state, runs.pool),"
    f" e AS ({queries.event_insert(7)})"
    f" SELECT CASE r.state WHEN 'queued' THEN pg_notify('{RUNS_CHANNEL}', r.pool) END FROM r"
)


async def settle(conn: Conn, flow_ids: set[str], actor: str, now_us: int) -> None:
    """Decide the waiting runs of these flows, in the caller's transaction; runs that become
    queued are announced on their pool's channel (NOTIFY)."""
    if not flow_ids:
        return
    ids = sorted(flow_ids)
    await conn.execute(_FLOW_LOCKS, ids)
    updates, events, _ = plans.plan_settle(await conn.fetch(_FLOW_ROWS, ids), now_us, actor)
    if updates:
        args = [*columns(updates, 6, text=(4,)), *columns(events, 8, text=(5,))]
        await conn.fetch(_SETTLE_WRITE, *args)


async def insert_runs(
    conn: Conn,
    news: list[NewRun],
    actor: str,
    now_us: int,
    *,
    advances: list[tuple[str, int | None, int | None]] | None = None,
) -> list[tuple[Run, bool]]:
    """Insert runs, their events and NOTIFYs in one statement (and move fired jobs on). A run
    whose fire or idempotency key is taken, by a stored run or an earlier one of ``news``, is
    not inserted: the run that holds it is returned with ``False``."""
    out, rows, _ = plans.plan_inserts(news, {}, {}, now_us, actor)
    args = [*columns(rows, len(queries.RUN_TYPES), text=queries.RUN_TEXT), actor, advances is None]
    if advances is not None:
        args += columns(advances, 3)
    sql = queries.insert_runs(advances is not None)
    inserted = {run_id for run_id, _notice in await conn.fetch(sql, *args)}
    if len(inserted) == len(rows):
        return out
    return await with_holders(conn, news, out, [row.id for row in rows if row.id not in inserted])


async def with_holders(
    conn: Conn, news: list[NewRun], out: list[tuple[Run, bool]], lost_ids: list[str]
) -> list[tuple[Run, bool]]:
    """``out`` with each run of ``lost_ids`` (planned, then not inserted: someone else
    committed its idempotency key or fire since) replaced by the stored run that holds it.

    :raises Conflict: a run was not inserted and nothing holds its key (its id was taken).
    """
    by_id = {new.id: new for new in news}
    lost = [by_id[run_id] for run_id in lost_ids]
    keyed = [(n.job, n.idempotency_key) for n in lost if n.idempotency_key is not None]
    fires = [fk for n in lost if (fk := fire_key(n))]
    args = [*columns(keyed, 2), *columns(fires, 2)]
    found = [run_of(row) for row in await conn.fetch(queries.EXISTING, *args)]
    by_key = {(r.job, r.idempotency_key): r for r in found if r.idempotency_key is not None}
    by_fire = {(r.job, micros(r.scheduled_for)): r for r in found if r.trigger == "schedule"}
    holders: dict[str, Run] = {}
    for new in lost:
        key = (new.job, new.idempotency_key) if new.idempotency_key is not None else None
        fire = fire_key(new)
        holder = (by_key.get(key) if key else None) or (by_fire.get(fire) if fire else None)
        if holder is None:
            raise Conflict.run_exists(new.id)
        holders[new.id] = holder
    return [
        (replace(holders[run.id], params=dict(holders[run.id].params)), False)
        if run.id in holders
        else (run, fresh)
        for run, fresh in out
    ]


async def cancel(conn: Conn, runs: list[Run], actor: str, why: str, now_us: int) -> list[Run]:
    """Cancel ``runs`` (locked by the caller) that may be cancelled; close their attempts."""
    runs = [run for run in runs if can_transition(run.state, R.CANCELLED)]
    if not runs:
        return []
    why_text = clean(why)
    live = [(r.id, r.attempt) for r in runs if r.state is R.RUNNING]
    events = [
        NewEvent(now_us, r.id, r.job, r.state.value, "cancelled", why_text, r.attempt, actor)
        for r in runs
    ]
    args = (now_us, why_text, [r.id for r in runs], *columns(live, 2), *columns(events, 8))
    await conn.execute(queries.CANCEL, *args)
    await settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
    now = from_micros(now_us)
    return [
        replace(r, state=R.CANCELLED, updated_at=now, finished_at=now, lease_until=None, reason=why)
        for r in runs
    ]


# -- jobs ------------------------------------------------------------------------------------


async def locked_job(conn: Conn, name: str) -> Job:
    """Job ``name``, its row locked to the end of the transaction.

    :raises NotFound: no such job.
    """
    found = await conn.fetch(queries.JOB_LOCK, name)
    if not found:
        raise NotFound.job(name)
    return rows.job_of(found[0])


async def update_job(
    conn: Conn,
    spec: JobSpec,
    next_fire_at: datetime | None,
    expected_version: int | None,
    actor: str = "user",
    change: VersionChange = "updated",
) -> Job:
    old = await locked_job(conn, spec.name)
    if expected_version is not None and expected_version != old.version:
        raise Conflict.stale_version(spec.name, old.version, expected_version)
    fire = next_fire_at
    withdrawn = await cancel_ahead(conn, spec.name, "job changed")
    if refires_withdrawn(old.spec, spec):
        fire = rewound(fire, withdrawn)
    parents = sorted({dep.job for dep in spec.depends_on})
    args = (*rows.job_values(spec), micros(fire), spec.name, parents)
    [(created_at, updated_at, version, _)] = await conn.fetch(queries.JOB_UPDATE, *args)
    await add_version(conn, spec.name, updated_at, actor, change, spec)
    return Job(spec, from_micros(created_at), from_micros(updated_at), when(micros(fire)), version,
               pause=old.pause if spec.paused else None)  # fmt: skip


async def set_paused(conn: Conn, name: str, paused: bool, pause: PauseInfo | None = None) -> Job:
    old = await locked_job(conn, name)
    spec = old.spec.model_copy(update={"paused": paused})
    fire = old.next_fire_at
    if paused:
        fire = rewound(fire, await cancel_ahead(conn, name, "job paused"))
    values = rows.pause_values(pause if paused else None)
    args = (spec_text(spec), paused, name, micros(fire), *values)
    [(updated_at, _)] = await conn.fetch(queries.JOB_PAUSE, *args)
    at = from_micros(updated_at)
    return replace(old, spec=spec, updated_at=at, next_fire_at=fire, pause=rows.pause_of(values[0]))


async def resume_due_pauses(conn: Conn, limit: int) -> list[Job]:
    """Resume the paused jobs whose pause has ended, each locked: a job another
    transaction is resuming is skipped, one it resumed no longer matches."""
    due = [rows.job_of(row) for row in await conn.fetch(queries.PAUSES_DUE, max(limit, 0))]
    resumed = []
    for job in due:
        spec = job.spec.model_copy(update={"paused": False})
        args = (spec_text(spec), False, job.name, micros(job.next_fire_at), None, None)
        [(updated_at, _)] = await conn.fetch(queries.JOB_PAUSE, *args)
        resumed.append(replace(job, spec=spec, updated_at=from_micros(updated_at), pause=None))
    return resumed


async def delete_job(conn: Conn, name: str, actor: str = "user") -> None:
    if await conn.execute("DELETE FROM jobs WHERE name = $1", name) == "DELETE 0":
        raise NotFound.job(name)
    await conn.execute("DELETE FROM job_deps WHERE child = $1", name)
    await cancel_ahead(conn, name, "job deleted")
    await add_version(conn, name, await conn.fetchval(queries.CLOCK), actor, "deleted", None)


async def add_version(
    conn: Conn, name: str, at_us: int, actor: str, change: VersionChange, spec: JobSpec | None
) -> None:
    """Record a job's new version, in the transaction of the change."""
    values = history.version_values(name, at_us, actor, change, spec)
    await conn.execute(VERSION_INSERT, *values)


async def cancel_ahead(conn: Conn, name: str, why: str) -> list[datetime | None]:
    """Withdraw the fires of a job made ahead of their time (:func:`tss.core.firing.made_ahead`):
    cancel them and free their fire (clear ``scheduled_for``), so that the same fire can be
    made again. Returns their times."""
    now_us = await conn.fetchval(queries.CLOCK)
    runs = [run_of(row) for row in await conn.fetch(queries.AHEAD, name, now_us)]
    if runs:
        await cancel(conn, runs, "user", why, now_us)
        await conn.execute(queries.FREE_FIRES, [run.id for run in runs])
    return [run.scheduled_for for run in runs]


# -- firing, claiming, finishing -------------------------------------------------------------


async def fire_due_jobs(
    conn: Conn, planner: Any, limit: int, actor: str, horizon: float
) -> tuple[list[Run], int]:
    found = await conn.fetch(queries.FIRE_SELECT, seconds_us(horizon), max(limit, 0))
    due = [queries.DueJob._make(row) for row in found]
    if not due:
        return [], 0
    now_us = due[0].now_us
    now, news, advances = from_micros(now_us), list[NewRun](), []
    for row in due:
        job = rows.job_of(row.job)
        firing = planner(job, now, row.active)
        if firing.cancel_active and row.active:
            active = [run_of(r) for r in await conn.fetch(queries.ACTIVE_RUNS, job.name)]
            await cancel(conn, active, actor, REPLACED, now_us)
        news += firing.runs
        expected = micros(firing.expected_next_fire_at)
        advances.append((job.name, micros(firing.next_fire_at), expected))
    created = await insert_with_flows(conn, news, actor, now_us, advances=advances)
    return [run for run, fresh in created if fresh and run.state is R.QUEUED], len(due)


def claim_filter(
    types: frozenset[str] | None, labels: frozenset[str]
) -> tuple[list[str] | None, str]:
    """The task types and labels of a claim as ``CLAIM_NEXT_LOCK`` takes them: a ``text[]``
    (None: any type) and a ``jsonb`` array."""
    return None if types is None else sorted(types), dumps(sorted(labels))


async def claim_next(
    conn: Conn,
    pools: list[str],
    limit: int,
    worker_id: str,
    lease: float,
    room: Room,
    types: frozenset[str] | None,
    labels: frozenset[str],
) -> list[Run]:
    candidates = await conn.fetch(
        queries.CLAIM_NEXT_LOCK, pools, limit, *claim_filter(types, labels)
    )
    chosen = room.fit((run_id, cores, memory) for run_id, cores, memory in candidates)
    if not chosen:
        return []
    found = await conn.fetch(queries.CLAIM, chosen, worker_id, seconds_us(lease))
    claimed = {run.id: run for run in map(run_of, found)}
    return [claimed[run_id] for run_id in chosen if run_id in claimed]


async def finish(conn: Conn, outcomes: list[Outcome], actor: str) -> list[bool]:
    found = await conn.fetch(queries.FINISH_SELECT, list({o.run_id for o in outcomes}))
    selected = [queries.FinishSelected._make(row) for row in found]
    if not selected:
        return [False] * len(outcomes)
    current = {row.id: row.current for row in selected}
    now_us = selected[0].now_us
    plan = plans.plan_finish(outcomes, current, now_us, actor)
    accepted, runs, attempts, events = plan
    if runs:
        args = columns(runs, 11, text=(8,))
        args += columns(attempts, 8, text=(4, 5))
        args += columns(events, 8, text=(5,))
        await conn.fetch(queries.FINISH_WRITE, *args)
        await settle(conn, plans.ended_flows(outcomes, accepted, current), actor, now_us)
    return accepted


async def fail_queued(conn: Conn, ids: list[str], actor: str, error: ErrorInfo) -> list[Run]:
    found = {run.id: run for run in map(run_of, await conn.fetch(queries.QUEUED_LOCK, ids))}
    runs = [found[run_id] for run_id in ids if run_id in found]
    if not runs:
        return []
    now_us, why = await conn.fetchval(queries.CLOCK), clean(error.message)
    events = [
        NewEvent(now_us, r.id, r.job, "queued", "failed", why, r.attempt, actor) for r in runs
    ]
    text = clean(error_text(error))
    args = (now_us, why, text, [r.id for r in runs], *columns(events, 8))
    await conn.execute(queries.FAIL_QUEUED, *args)
    await settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
    now = from_micros(now_us)
    return [
        replace(r, state=RunState.FAILED, updated_at=now, finished_at=now, error=error,
                reason=error.message)
        for r in runs
    ]  # fmt: skip
