"""The fire ledger's store side (every backend): a job's schedule fires read by window in
fire order, and backfill records kept, listed and updated."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tss.core.ledger import Backfill
from tss.core.states import RunState
from tss.errors import Conflict
from tss.store.base import Store

from .support import ACTOR, new_run


async def test_fires_of_a_window_in_fire_order(store: Store) -> None:
    now = (await store.now()).replace(microsecond=0)
    fires = [now - timedelta(minutes=n) for n in (5, 1, 3, 2, 4)]  # made out of order
    made = [new_run(trigger="schedule", scheduled_for=f) for f in fires]
    made.append(new_run(trigger="manual"))  # not a fire
    made.append(new_run("job-b", trigger="schedule", scheduled_for=fires[0]))  # another job
    made.append(new_run(trigger="schedule", scheduled_for=now, state=RunState.SKIPPED,
                        reason="max_active_runs (1) reached"))  # fmt: skip
    await store.create_runs(made, actor=ACTOR)
    got = await store.list_fires("job-a", now - timedelta(minutes=4), now + timedelta(seconds=1),
                                 limit=10)  # fmt: skip
    assert [r.scheduled_for for r in got] == [now - timedelta(minutes=n) for n in (4, 3, 2, 1, 0)]
    assert got[-1].state is RunState.SKIPPED and got[-1].reason == "max_active_runs (1) reached"
    # the window is [since, until): a fire at until is out; limit keeps the oldest
    got = await store.list_fires("job-a", now - timedelta(minutes=5), now - timedelta(minutes=1),
                                 limit=2)  # fmt: skip
    assert [r.scheduled_for for r in got] == [
        now - timedelta(minutes=5),
        now - timedelta(minutes=4),
    ]
    assert await store.list_fires("job-a", now, now, limit=10) == []
    assert await store.list_fires("nobody", now - timedelta(days=1), now, limit=10) == []


async def test_backfills_are_kept_listed_and_updated(store: Store) -> None:
    now = await store.now()
    fires = tuple(now - timedelta(hours=n) for n in (3, 2, 1))
    first = Backfill("bf-1", "job-a", fires, 0, 2, "token:admin", now - timedelta(seconds=5))
    second = Backfill("bf-2", "job-a", fires[:1], 1, None, "cli", now, "done")
    other = Backfill("bf-3", "job-b", fires, 0, 1, "cli", now)
    for backfill in (first, second, other):
        await store.add_backfill(backfill)
    with pytest.raises(Conflict) as caught:
        await store.add_backfill(first)
    assert caught.value.field == "id"
    listed = await store.list_backfills("job-a")
    assert [b.id for b in listed] == ["bf-2", "bf-1"]
    assert listed[1] == first and listed[0] == second
    assert [b.id for b in await store.list_backfills("job-a", limit=1)] == ["bf-2"]
    assert [b.id for b in await store.active_backfills()] == ["bf-1", "bf-3"]
    await store.update_backfill("bf-1", made=2, state="active")
    await store.update_backfill("bf-3", made=3, state="done")
    await store.update_backfill("nope", made=1, state="done")  # ignored
    active = await store.active_backfills()
    assert [(b.id, b.made) for b in active] == [("bf-1", 2)]
    assert (await store.list_backfills("job-b"))[0].state == "done"


async def test_active_runs_of_a_job(store: Store) -> None:
    now = (await store.now()).replace(microsecond=0)
    made = [
        new_run(trigger="schedule", scheduled_for=now - timedelta(minutes=1)),
        new_run(state=RunState.SCHEDULED, trigger="schedule", scheduled_for=now,
                not_before=now + timedelta(hours=1)),
        new_run(state=RunState.SKIPPED, trigger="schedule",
                scheduled_for=now - timedelta(minutes=2), reason="max_active_runs (1) reached"),
        new_run("job-b"),
    ]  # fmt: skip
    created = [run for run, _ in await store.create_runs(made, actor=ACTOR)]
    [claimed] = await store.claim_runs([created[0].id], worker_id="w1", lease=30)
    active = await store.active_runs_of("job-a")
    assert sorted(r.id for r in active) == sorted([claimed.id, created[1].id])
    assert {r.state for r in active} == {RunState.RUNNING, RunState.SCHEDULED}
    assert await store.active_runs_of("nobody") == []


async def test_a_backfill_is_read_by_id_and_its_end_is_final(store: Store) -> None:
    now = await store.now()
    fires = tuple(now - timedelta(hours=n) for n in (3, 2, 1))
    going = Backfill("bf-go", "job-a", fires, 1, 1, "token:admin", now)
    await store.add_backfill(going)
    assert await store.get_backfill("bf-go") == going
    assert await store.get_backfill("nope") is None
    await store.update_backfill("bf-go", made=1, state="stopped")
    # a scheduler step that read it before the stop does not set it going again
    await store.update_backfill("bf-go", made=2, state="active")
    await store.update_backfill("bf-go", made=3, state="done")
    stopped = await store.get_backfill("bf-go")
    assert stopped is not None and (stopped.state, stopped.made) == ("stopped", 1)
    assert [b.id for b in await store.active_backfills()] == []
    assert (await store.list_backfills("job-a"))[0].state == "stopped"
