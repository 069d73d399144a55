"""The PostgreSQL store's writes that several of its methods share: inserting runs (with
their events and NOTIFYs, and moving fired jobs on, and the waiting runs of the flows they
start), cancelling runs, and deciding the waiting runs of flows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tss.core import flows
from tss.core.models import JobSpec, NewRun, Run
from tss.core.states import RunState, can_transition
from tss.core.timeutil import from_micros
from tss.errors import Conflict
from tss.store import _codec as c
from tss.store import _pg_sql as q
from tss.store import _sql_flows as f
from tss.store.base import RUNS_CHANNEL, WAKE_CHANNEL

R = RunState
Conn = Any  # an asyncpg connection (asyncpg ships no type information)


def wake_if_scheduled(alias: str) -> str:
    """A column that wakes the schedulers when the job row ``alias`` has a next fire."""
    return (
        f"CASE WHEN {alias}.next_fire_at IS NOT NULL AND NOT {alias}.paused"
        f" THEN pg_notify('{WAKE_CHANNEL}', '') END"
    )


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
    if not roots or not await conn.fetchval(f.ANY_EDGE):
        return {}
    sql = "SELECT DISTINCT parent FROM job_deps WHERE parent = ANY($1::text[])"
    found = {}
    for (root,) in await conn.fetch(sql, roots):
        specs = f.specs_of(await conn.fetch(q.numbered(f.DOWNSTREAM), root))
        if specs:
            found[root] = specs
    return found


#: a lock per flow, held to the end of the transaction, so two transactions that end runs
#: of one flow decide its waiting runs one after the other, each seeing the other's ends
_FLOW_LOCKS = (
    "SELECT pg_advisory_xact_lock(7105, hashtext(fid))"
    " FROM (SELECT unnest($1::text[]) AS fid ORDER BY 1) AS ordered"
)
_FLOW_ROWS = f"SELECT {f.FLOW_COLUMNS} FROM runs WHERE flow_id = ANY($1::text[])"
_SETTLE_TYPES = ("text", "bigint", "bigint", "bigint", "text", "text")
_SETTLE_WRITE = (
    "WITH r AS (UPDATE runs SET state = u.state, updated_at = u.updated_at,"
    " queued_at = u.queued_at, published_at = NULL, finished_at = u.finished_at,"
    f" reason = u.reason FROM {q.unnest(_SETTLE_TYPES)} AS u(state, updated_at, queued_at,"
    " finished_at, reason, id) WHERE runs.id = u.id AND runs.state = 'waiting'"
    " RETURNING runs.state, runs.pool),"
    f" e AS ({q.event_insert(7)})"
    f" SELECT CASE r.state WHEN 'queued' THEN pg_notify('{RUNS_CHANNEL}', r.pool) END FROM r"
)


async def settle(conn: Conn, flow_ids: set[str], actor: str, now_us: int) -> None:
    """Decide the waiting runs of these flows, in the caller's transaction; runs that become
    queued are announced on their pool's channel (NOTIFY)."""
    if not flow_ids:
        return
    ids = sorted(flow_ids)
    await conn.execute(_FLOW_LOCKS, ids)
    updates, events, _ = f.plan_settle(await conn.fetch(_FLOW_ROWS, ids), now_us, actor)
    if updates:
        args = [*q.columns(updates, 6, text=(4,)), *q.columns(events, 8, text=(5,))]
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
    out, rows, _ = c.plan_inserts(news, {}, {}, now_us, actor)
    args = [*q.columns(rows, len(q.RUN_TYPES), text=q.RUN_TEXT), actor, advances is None]
    if advances is not None:
        args += q.columns(advances, 3)
    inserted = {row[0] for row in await conn.fetch(q.insert_runs(advances is not None), *args)}
    if len(inserted) == len(rows):
        return out
    # Someone else holds some of those keys or fires (they committed since we planned).
    by_id = {new.id: new for new in news}
    lost = [by_id[row[0]] for row in rows if row[0] not in inserted]
    keyed = [(n.job, n.idempotency_key) for n in lost if n.idempotency_key is not None]
    fires = [fk for n in lost if (fk := c.fire_key(n))]
    args = [*q.columns(keyed, 2), *q.columns(fires, 2)]
    found = [c.run_of(row) for row in await conn.fetch(q.EXISTING, *args)]
    by_key = {(r.job, r.idempotency_key): r for r in found if r.idempotency_key is not None}
    by_fire = {(r.job, c.micros(r.scheduled_for)): r for r in found if r.trigger == "schedule"}
    holders: dict[str, Run] = {}
    for new in lost:
        key = (new.job, new.idempotency_key) if new.idempotency_key is not None else None
        fire = c.fire_key(new)
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
    why_text = q.clean(why)
    live = [(r.id, r.attempt) for r in runs if r.state is R.RUNNING]
    events = [
        (now_us, r.id, r.job, r.state.value, "cancelled", why_text, r.attempt, actor) for r in runs
    ]
    args = (now_us, why_text, [r.id for r in runs], *q.columns(live, 2), *q.columns(events, 8))
    await conn.execute(q.CANCEL, *args)
    await settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
    now = from_micros(now_us)
    return [
        replace(r, state=R.CANCELLED, updated_at=now, finished_at=now, lease_until=None, reason=why)
        for r in runs
    ]
