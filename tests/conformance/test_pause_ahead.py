"""Pausing, resuming, editing and deleting a job whose next fire was already made ahead of
its time (``scheduler.lookahead``): the fire happens once, on time, or as the misfire policy
says; it is never lost silently, never doubled, and never comes from an old definition."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tss.core.firing import JobFiring, fire_job
from tss.core.models import Job, Run, RunFilter
from tss.core.states import RunState
from tss.store.base import Store

from .support import seconds, spec

#: the lookahead these tests fire with (seconds); fires are due well within it
AHEAD = 1.0


def ahead(job: Job, now: datetime, active: int) -> JobFiring:
    return fire_job(job, now, active, lookahead=AHEAD)


async def tick(store: Store) -> None:
    """One scheduler pass: fire what is due within the lookahead."""
    await store.fire_due_jobs(ahead, limit=10, actor="scheduler", horizon=AHEAD)


async def live_fires(store: Store, job: str) -> list[Run]:
    """The job's scheduled runs that were not withdrawn (cancelled), oldest fire first."""
    page = await store.list_runs(RunFilter(job=job), limit=1000)
    runs = [r for r in page.items if r.trigger == "schedule" and r.state is not RunState.CANCELLED]
    return sorted(runs, key=lambda run: run.scheduled_for or run.created_at)


async def made_ahead(store: Store, name: str = "j", **schedule: object) -> datetime:
    """A job every minute whose next fire (returned) is half a second away, fired ahead."""
    fire = await store.now() + seconds(0.5)
    await store.create_job(spec(name, schedule={"every": 60, **schedule}), fire)
    await tick(store)
    [run] = await live_fires(store, name)
    assert (run.state, run.scheduled_for) == (RunState.SCHEDULED, fire)
    return fire


async def test_pause_then_resume_before_the_fire_fires_it_once(store: Store) -> None:
    fire = await made_ahead(store)
    await store.set_paused("j", True)
    assert await live_fires(store, "j") == []
    await tick(store)  # paused: nothing fires
    assert await live_fires(store, "j") == []
    await store.set_paused("j", False)
    assert (await store.get_job("j")).next_fire_at == fire
    await tick(store)
    await tick(store)
    [run] = await live_fires(store, "j")
    assert (run.state, run.scheduled_for, run.not_before) == (RunState.SCHEDULED, fire, fire)
    assert (await store.get_job("j")).next_fire_at == fire + seconds(60)


async def test_a_pause_across_the_fire_follows_the_misfire_policy(
    store: Store, advance: Callable[[float], None]
) -> None:
    skipped = await made_ahead(store, "skipped", misfire="skip", misfire_grace=0.1)
    caught_up = await made_ahead(store, "caught-up", misfire="run_once", misfire_grace=0.1)
    on_time = await made_ahead(store, "on-time", misfire="skip", misfire_grace=30)
    for name in ("skipped", "caught-up", "on-time"):
        await store.set_paused(name, True)
    advance(0.8)  # past the fires, and past a grace of 0.1 s
    for name in ("skipped", "caught-up", "on-time"):
        await store.set_paused(name, False)
    await tick(store)
    assert await live_fires(store, "skipped") == []
    assert (await store.get_job("skipped")).next_fire_at == skipped + seconds(60)
    [late] = await live_fires(store, "caught-up")
    assert (late.scheduled_for, late.state) == (caught_up, RunState.QUEUED)
    [run] = await live_fires(store, "on-time")  # late, but within its grace
    assert (run.scheduled_for, run.state) == (on_time, RunState.QUEUED)


async def test_pausing_a_fire_announced_ahead_and_resuming_fires_it_once(store: Store) -> None:
    fire = await made_ahead(store)
    [early] = await store.promote_due_runs(limit=10, actor="scheduler", ahead=AHEAD)
    assert (early.state, early.not_before) == (RunState.QUEUED, fire)
    await store.set_paused("j", True)
    assert (await store.get_run(early.id)).state is RunState.CANCELLED
    await store.set_paused("j", False)
    await tick(store)
    [run] = await live_fires(store, "j")
    assert run.id != early.id and run.scheduled_for == fire


async def test_an_edit_within_the_window_fires_the_new_definition_once(store: Store) -> None:
    fire = await made_ahead(store)
    old = await store.get_job("j")
    edited = spec("j", schedule={"every": 60}, params={"v": 2})
    await store.update_job(edited, old.next_fire_at)  # the schedule is the same
    await tick(store)
    [run] = await live_fires(store, "j")
    assert (run.scheduled_for, run.params) == (fire, {"v": 2})
    assert (await store.get_job("j")).next_fire_at == fire + seconds(60)


async def test_a_new_schedule_within_the_window_drops_the_old_fire(store: Store) -> None:
    fire = await made_ahead(store)
    new_fire = fire + seconds(0.2)
    await store.update_job(spec("j", schedule={"every": 30}), new_fire)
    await tick(store)
    [run] = await live_fires(store, "j")
    assert run.scheduled_for == new_fire
    assert (await store.get_job("j")).next_fire_at == new_fire + seconds(30)


async def test_a_delete_within_the_window_leaves_no_fire(store: Store) -> None:
    fire = await made_ahead(store)
    await store.delete_job("j")
    await tick(store)
    assert await live_fires(store, "j") == []
    # The same job made again fires at that time: the withdrawn fire does not hold it.
    await store.create_job(spec("j", schedule={"every": 60}), fire)
    await tick(store)
    [run] = await live_fires(store, "j")
    assert run.scheduled_for == fire
