"""The PostgreSQL store's writes that several of its methods share: inserting runs (with
their events and NOTIFYs, and moving fired jobs on) and cancelling runs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tss.core.models import NewRun, Run
from tss.core.states import RunState, can_transition
from tss.core.timeutil import from_micros
from tss.errors import Conflict
from tss.store import _codec as c
from tss.store import _pg_sql as q
from tss.store.base import WAKE_CHANNEL

R = RunState
Conn = Any  # an asyncpg connection (asyncpg ships no type information)


def wake_if_scheduled(alias: str) -> str:
    """A column that wakes the schedulers when the job row ``alias`` has a next fire."""
    return (
        f"CASE WHEN {alias}.next_fire_at IS NOT NULL AND NOT {alias}.paused"
        f" THEN pg_notify('{WAKE_CHANNEL}', '') END"
    )


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
            raise Conflict(f"a run with id {new.id!r} exists already", field="id")
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
    now = from_micros(now_us)
    return [
        replace(r, state=R.CANCELLED, updated_at=now, finished_at=now, lease_until=None, reason=why)
        for r in runs
    ]
