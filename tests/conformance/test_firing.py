"""Firing due jobs: exactly one run per fire, misfire and concurrency policies, wake-ups."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from tss.core.firing import JobFiring, fire_job
from tss.core.models import Job, RunFilter
from tss.core.states import RunState
from tss.store.base import Planner, Store

from .conftest import Backend
from .support import ACTOR, new_run, queued, seconds, spec

EVERY = {"every": 60}


async def schedule_job(store: Store, name: str, next_fire_at: datetime, **fields: object) -> Job:
    schedule = {**EVERY, **fields.pop("schedule", {})}  # type: ignore[dict-item]
    return await store.create_job(spec(name, schedule=schedule, **fields), next_fire_at)


async def runs_of(store: Store, job: str) -> list:  # type: ignore[type-arg]
    page = await store.list_runs(RunFilter(job=job), limit=1000)
    return sorted(page.items, key=lambda run: run.scheduled_for or run.created_at)


async def test_a_due_job_fires_once_and_moves_on(store: Store) -> None:
    now = await store.now()
    due_at = (now - seconds(1)).replace(microsecond=0)
    await schedule_job(store, "tick", due_at, params={"n": 1}, priority=3, pool="io")
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert fired == 1
    [run] = created
    assert (run.job, run.state, run.trigger) == ("tick", RunState.QUEUED, "schedule")
    assert run.scheduled_for == due_at
    assert (run.params, run.priority, run.pool, run.attempt) == ({"n": 1}, 3, "io", 0)
    assert run.policy.type == "noop"
    assert await store.get_run(run.id) == run
    assert (await store.get_job("tick")).next_fire_at == due_at + seconds(60)
    assert await store.fire_due_jobs(fire_job, limit=10, actor="scheduler") == ([], 0)
    [event] = await store.list_events(run_id=run.id)
    assert (event.source, event.target, event.actor) == (None, RunState.QUEUED, "scheduler")


async def test_jobs_not_due_paused_or_unscheduled_do_not_fire(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "later", now + seconds(30))
    await schedule_job(store, "paused", now - seconds(5), paused=True)
    await schedule_job(store, "resting", now - seconds(5))
    await store.set_paused("resting", True)
    await store.create_job(spec("manual-only"), None)
    assert await store.fire_due_jobs(fire_job, limit=10, actor="scheduler") == ([], 0)
    assert (await store.list_runs()).items == []
    await store.set_paused("resting", False)
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert fired == 1 and [r.job for r in created] == ["resting"]


async def test_earliest_due_jobs_fire_first_up_to_the_limit(store: Store) -> None:
    now = await store.now()
    for n, name in enumerate(["e", "a", "d", "b", "c"]):
        await schedule_job(store, name, now - seconds(50 - n))
    created, fired = await store.fire_due_jobs(fire_job, limit=2, actor="scheduler")
    assert fired == 2
    assert sorted(r.job for r in created) == ["a", "e"]
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert fired == 3 and sorted(r.job for r in created) == ["b", "c", "d"]


async def test_misfire_run_once_runs_one_catch_up(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "j", now - seconds(630))
    created, _ = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    [run] = created
    assert run.scheduled_for is not None
    assert now - seconds(31) <= run.scheduled_for <= now
    next_fire = (await store.get_job("j")).next_fire_at
    assert next_fire is not None and next_fire > now
    assert len(await runs_of(store, "j")) == 1


async def test_misfire_run_all_runs_every_missed_fire(store: Store) -> None:
    now = await store.now()
    start = now - seconds(630)
    await schedule_job(store, "j", start, schedule={"misfire": "run_all"})
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert fired == 1
    assert [r.scheduled_for for r in created] == [start + seconds(60 * k) for k in range(11)]


async def test_misfire_skip_runs_nothing_late(store: Store) -> None:
    now = await store.now()
    schedule = {"misfire": "skip", "misfire_grace": 10}
    await schedule_job(store, "j", now - seconds(630), schedule=schedule)
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert (created, fired) == ([], 1)
    next_fire = (await store.get_job("j")).next_fire_at
    assert next_fire is not None and now < next_fire <= now + seconds(60)


async def test_forbid_records_a_skipped_run_with_the_reason(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "j", now - seconds(1), concurrency="forbid")
    [active] = await queued(store, job="j")
    created, fired = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert (created, fired) == ([], 1)
    skipped = [r for r in await runs_of(store, "j") if r.id != active.id]
    [run] = skipped
    assert run.state is RunState.SKIPPED
    assert run.reason and "forbid" in run.reason
    assert (await store.get_run(active.id)).state is RunState.QUEUED
    [event] = await store.list_events(run_id=run.id)
    assert (event.source, event.target) == (None, RunState.SKIPPED)
    assert event.reason == run.reason


async def test_max_active_runs_skips_a_fire(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "j", now - seconds(1), max_active_runs=2)
    await queued(store, 2, job="j")
    created, _ = await store.fire_due_jobs(fire_job, limit=10, actor="scheduler")
    assert created == []
    states = Counter(r.state for r in await runs_of(store, "j"))
    assert states == {RunState.QUEUED: 2, RunState.SKIPPED: 1}


async def test_replace_cancels_the_active_runs(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "j", now - seconds(1), concurrency="replace")
    [old] = await queued(store, job="j")
    [done] = await queued(store, job="j")
    await store.claim_runs([done.id], worker_id="w1", lease=30)
    [new] = (await store.fire_due_jobs(fire_job, limit=10, actor="scheduler"))[0]
    assert new.state is RunState.QUEUED
    for run_id in (old.id, done.id):
        cancelled = await store.get_run(run_id)
        assert cancelled.state is RunState.CANCELLED
        last = (await store.list_events(run_id=run_id))[-1]
        assert (last.target, last.actor) == (RunState.CANCELLED, "scheduler")
        assert last.reason == "replaced by a newer fire"
    assert await store.heartbeat("w1", [(done.id, 1)], lease=30) == [done.id]
    # The replaced run's attempt is closed, not left open forever.
    [attempt] = await store.list_attempts(done.id)
    assert attempt.state is RunState.CANCELLED and attempt.finished_at is not None


async def test_next_fire_at_moves_only_if_unchanged(store: Store) -> None:
    now = await store.now()
    due_at = now - seconds(1)
    await schedule_job(store, "j", due_at)
    target = now + seconds(3600)

    def stale_planner(job: Job, at: datetime, active: int) -> JobFiring:
        firing = fire_job(job, at, active)
        # as if someone had planned from an older read of the job
        return replace(firing, expected_next_fire_at=due_at - seconds(60), next_fire_at=target)

    created, _ = await store.fire_due_jobs(stale_planner, limit=10, actor="scheduler")
    assert len(created) == 1  # the fire itself is recorded
    assert (await store.get_job("j")).next_fire_at == due_at

    def planner(job: Job, at: datetime, active: int) -> JobFiring:
        return replace(fire_job(job, at, active), next_fire_at=target)

    created, _ = await store.fire_due_jobs(planner, limit=10, actor="scheduler")
    assert created == []  # same fire: not inserted twice
    assert (await store.get_job("j")).next_fire_at == target


async def test_jitter_creates_a_scheduled_run_promoted_later(
    store: Store, advance: Callable[[float], None]
) -> None:
    now = await store.now()
    due_at = now - seconds(1)
    await schedule_job(store, "j", due_at)
    not_before = now + seconds(0.2)

    def jittered(job: Job, at: datetime, active: int) -> JobFiring:
        firing = fire_job(job, at, active)
        for run in firing.runs:
            run.state, run.not_before = RunState.SCHEDULED, not_before
        return firing

    created, fired = await store.fire_due_jobs(jittered, limit=10, actor="scheduler")
    assert (created, fired) == ([], 1)
    [run] = await runs_of(store, "j")
    assert (run.state, run.not_before) == (RunState.SCHEDULED, not_before)
    assert await store.find_unpublished(older_than=0, republish_after=0, limit=10) == []
    assert await store.promote_due_runs(limit=10, actor="scheduler") == []
    advance(0.3)
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler")
    assert (promoted.id, promoted.state) == (run.id, RunState.QUEUED)
    assert promoted.queued_at is not None and promoted.queued_at >= not_before
    assert await store.promote_due_runs(limit=10, actor="scheduler") == []
    events = await store.list_events(run_id=run.id)
    assert [(e.source, e.target) for e in events] == [
        (None, RunState.SCHEDULED),
        (RunState.SCHEDULED, RunState.QUEUED),
    ]


async def test_next_wakeup(store: Store) -> None:
    assert await store.next_wakeup() is None
    now = await store.now()
    await schedule_job(store, "later", now + seconds(300))
    assert await store.next_wakeup() == now + seconds(300)
    await schedule_job(store, "paused", now + seconds(5), paused=True)
    assert await store.next_wakeup() == now + seconds(300)
    retry_at = now + seconds(100)
    await store.create_runs([new_run(state=RunState.SCHEDULED, not_before=retry_at)], actor=ACTOR)
    assert await store.next_wakeup() == retry_at
    await queued(store)  # queued runs are not waiting for time
    assert await store.next_wakeup() == retry_at


async def test_a_horizon_fires_ahead_as_scheduled_runs(
    store: Store, advance: Callable[[float], None]
) -> None:
    now = await store.now()
    soon = now + seconds(0.4)
    await schedule_job(store, "soon", soon)
    await schedule_job(store, "later", now + seconds(30))
    assert await store.next_wakeup(horizon=1.0) == soon - seconds(1.0)

    def ahead(job: Job, at: datetime, active: int) -> JobFiring:
        return fire_job(job, at, active, lookahead=1.0)

    created, fired = await store.fire_due_jobs(ahead, limit=10, actor="scheduler", horizon=1.0)
    assert (created, fired) == ([], 1)  # nothing to publish yet: it is not due
    [run] = await runs_of(store, "soon")
    assert (run.state, run.scheduled_for, run.not_before) == (RunState.SCHEDULED, soon, soon)
    assert (await store.get_job("soon")).next_fire_at == soon + seconds(60)
    assert await store.next_wakeup(horizon=1.0) == soon
    assert await store.promote_due_runs(limit=10, actor="scheduler") == []
    advance(0.5)
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler")
    assert (promoted.id, promoted.state) == (run.id, RunState.QUEUED)
    assert promoted.queued_at is not None and promoted.queued_at >= soon


async def test_pausing_or_deleting_cancels_fires_made_ahead(store: Store) -> None:
    now = await store.now()
    for name in ("paused", "deleted", "kept"):
        await schedule_job(store, name, now + seconds(0.5))

    def ahead(job: Job, at: datetime, active: int) -> JobFiring:
        return fire_job(job, at, active, lookahead=1.0)

    await store.fire_due_jobs(ahead, limit=10, actor="scheduler", horizon=1.0)
    manual = await store.create_runs(
        [new_run(job="paused", state=RunState.SCHEDULED, not_before=now + seconds(60))],
        actor=ACTOR,
    )
    await store.set_paused("paused", True)
    await store.delete_job("deleted")
    [by_hand, fire] = sorted(
        (await store.list_runs(RunFilter(job="paused"))).items, key=lambda r: r.trigger
    )
    assert (by_hand.trigger, by_hand.state) == ("manual", RunState.SCHEDULED)
    assert by_hand.id == manual[0][0].id  # a run someone asked for is not a fire
    assert (fire.trigger, fire.state, fire.reason) == ("schedule", RunState.CANCELLED, "job paused")
    [deleted] = await runs_of(store, "deleted")
    assert (deleted.state, deleted.reason) == (RunState.CANCELLED, "job deleted")
    [kept] = await runs_of(store, "kept")
    assert kept.state is RunState.SCHEDULED


async def test_pausing_cancels_fires_announced_ahead_but_not_those_due(store: Store) -> None:
    now = await store.now()
    await schedule_job(store, "job-a", now + seconds(60))
    soon, past = now + seconds(1.5), now - seconds(1)
    await store.create_runs(
        [
            new_run(state=RunState.SCHEDULED, trigger="schedule", scheduled_for=at, not_before=at)
            for at in (soon, past)
        ],
        actor=ACTOR,
    )
    await store.promote_due_runs(limit=10, actor="scheduler", ahead=2.0)  # both queued now
    await store.set_paused("job-a", True)
    early, due = sorted(await runs_of(store, "job-a"), key=lambda r: -r.not_before.timestamp())
    assert early.not_before == soon
    assert early.scheduled_for is None  # withdrawn: the fire may be made again
    assert (early.state, early.reason) == (RunState.CANCELLED, "job paused")
    assert due.state is RunState.QUEUED  # its time had come: it is no longer "ahead"


# -- exactly one run per fire, whatever the concurrency --------------------------------------

JOBS = 200


async def make_due_jobs(store: Store) -> dict[str, datetime]:
    now = await store.now()
    due = {}
    for n in range(JOBS):
        name = f"job-{n:03d}"
        due[name] = (now - seconds(1 + n % 7)).replace(microsecond=0)
        await schedule_job(store, name, due[name])
    return due


async def fire_until_done(
    store: Store, planner: Planner, *, rounds: int = 1000, limit: int = 7
) -> tuple[int, int]:
    created = fired = 0
    for _ in range(rounds):
        runs, count = await store.fire_due_jobs(planner, limit=limit, actor="scheduler")
        created, fired = created + len(runs), fired + count
        if count == 0:
            break
        await asyncio.sleep(0)
    return created, fired


async def assert_one_run_per_fire(store: Store, due: dict[str, datetime]) -> None:
    page = await store.list_runs(limit=10 * JOBS)
    per_fire = Counter((run.job, run.scheduled_for) for run in page.items)
    assert per_fire == Counter({(name, at): 1 for name, at in due.items()})
    for name, at in due.items():
        assert (await store.get_job(name)).next_fire_at == at + seconds(60)


async def test_concurrent_schedulers_create_one_run_per_fire(
    store: Store, store_factory: Callable[[], Awaitable[Store]]
) -> None:
    due = await make_due_jobs(store)
    stores = [store, *[await store_factory() for _ in range(3)]]
    results = await asyncio.gather(*(fire_until_done(s, fire_job) for s in stores))
    assert sum(created for created, _ in results) == JOBS
    assert sum(fired for _, fired in results) == JOBS  # no job claimed twice
    await assert_one_run_per_fire(store, due)


async def test_concurrent_schedulers_in_threads_create_one_run_per_fire(
    store: Store, backend: Backend
) -> None:
    due = await make_due_jobs(store)
    results: list[tuple[int, int]] = []
    errors: list[BaseException] = []

    async def scheduler() -> None:
        own = await backend.open()
        try:
            results.append(await fire_until_done(own, fire_job))
        finally:
            await own.close()

    def thread_main() -> None:
        try:
            asyncio.run(scheduler())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=thread_main) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sum(created for created, _ in results) == JOBS
    await assert_one_run_per_fire(store, due)


async def test_a_fire_is_inserted_once_even_when_replanned(
    store: Store, store_factory: Callable[[], Awaitable[Store]]
) -> None:
    """A planner that never moves the job on plans the same fire again and again."""
    due = await make_due_jobs(store)

    def stubborn(job: Job, at: datetime, active: int) -> JobFiring:
        return replace(fire_job(job, at, active), next_fire_at=job.next_fire_at)

    stores = [store, *[await store_factory() for _ in range(3)]]
    rounds = [fire_until_done(s, stubborn, rounds=3, limit=JOBS) for s in stores]
    results = await asyncio.gather(*rounds)
    assert sum(created for created, _ in results) == JOBS
    # Callers that wait for one another (SQLite's write lock) each fire every job every
    # round; with SKIP LOCKED (PostgreSQL) a caller passes over the jobs another one holds,
    # and stops early when that is all of them. Either way each fire is inserted once.
    fired = sum(fired for _, fired in results)
    assert JOBS <= fired <= 3 * len(stores) * JOBS
    page = await store.list_runs(limit=10 * JOBS)
    per_fire = Counter((run.job, run.scheduled_for) for run in page.items)
    assert per_fire == Counter({(name, at): 1 for name, at in due.items()})


async def test_promoting_ahead_queues_runs_due_within_it_and_keeps_their_time(
    store: Store,
) -> None:
    now = await store.now()
    soon, later = now + seconds(1.5), now + seconds(30)
    runs = [
        new_run(state=RunState.SCHEDULED, not_before=at, scheduled_for=at) for at in (later, soon)
    ]
    await store.create_runs(runs, actor=ACTOR)
    assert await store.next_wakeup(ahead=2.0) == soon - seconds(2.0)
    assert await store.promote_due_runs(limit=10, actor="scheduler") == []  # not due
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler", ahead=2.0)
    assert promoted.id == runs[1].id
    for run in (promoted, await store.get_run(promoted.id)):
        # queued now, to be announced ahead; its time stays for the worker to keep
        assert (run.state, run.not_before, run.scheduled_for) == (RunState.QUEUED, soon, soon)
        assert run.queued_at is not None and run.queued_at < soon
    assert (await store.get_run(runs[0].id)).state is RunState.SCHEDULED
    assert await store.next_wakeup(ahead=2.0) == later - seconds(2.0)
