"""``pause --until`` end to end: the scheduler resumes a job whose pause has ended, on the
store's clock, about every second (not on every tick), records it once in the audit log,
and the job fires again."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tss.broker.local import LocalBroker
from tss.config import SchedulerConfig
from tss.core.models import JobSpec, PauseInfo, RunFilter
from tss.core.states import RunState
from tss.scheduler.pauses import SWEEP_INTERVAL
from tss.scheduler.scheduler import Scheduler
from tss.store.memory import MemoryStore


class Clock:
    """A store clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.fromisoformat("2026-12-06T08:00:00+00:00")

    def __call__(self) -> datetime:
        return self.now


def _a_second_passes(*schedulers: Scheduler) -> None:
    """As if a second went by on each scheduler's monotonic clock since its last sweep."""
    for scheduler in schedulers:
        scheduler.pauses.last_sweep -= SWEEP_INTERVAL


def test_a_pause_ends_on_time_and_the_job_fires_again() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore(clock=clock)
        await store.start()
        broker = LocalBroker()
        scheduler = Scheduler(store, broker, SchedulerConfig(id="s1", lookahead=0))
        fire = clock.now + timedelta(minutes=10)
        await store.create_job(JobSpec(name="j", type="noop", schedule={"every": 3600}), fire)
        until = clock.now + timedelta(hours=1)
        pause = PauseInfo(by="token:ops", at=clock.now, note="upgrade", until=until)
        await store.set_paused("j", True, pause=pause)
        await scheduler.tick()
        clock.now = until - timedelta(seconds=1)  # not yet
        _a_second_passes(scheduler)
        await scheduler.tick()
        assert (await store.get_job("j")).pause == pause
        clock.now = until + timedelta(milliseconds=1)
        await scheduler.tick()  # within a second of the last sweep: no sweep on this tick
        assert (await store.get_job("j")).spec.paused
        _a_second_passes(scheduler)
        await scheduler.tick()
        job = await store.get_job("j")
        assert not job.spec.paused and job.pause is None
        [entry] = (await store.list_audit(target="j")).items
        assert (entry.actor, entry.action, entry.details) == ("scheduler:s1", "job.resume",
                                                              {"auto": True})  # fmt: skip
        # The next pass, at once, fires what was missed while paused, as the misfire policy
        # says (default: one run now).
        assert scheduler._wake.is_set()  # the loop does not sleep before that pass
        assert scheduler.fired == 0
        await scheduler.tick()
        assert scheduler.fired == 1
        [run] = (await store.list_runs(RunFilter(job="j"))).items
        assert run.state is RunState.QUEUED and run.trigger == "schedule"
        await broker.close()
        await store.close()

    asyncio.run(body())


def test_two_schedulers_resume_a_job_once() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore(clock=clock)
        await store.start()
        broker = LocalBroker()
        first = Scheduler(store, broker, SchedulerConfig(id="a"))
        second = Scheduler(store, broker, SchedulerConfig(id="b"))
        for name in ("x", "y"):
            await store.create_job(JobSpec(name=name, type="noop"), None)
            pause = PauseInfo(by="cli", at=clock.now, until=clock.now + timedelta(minutes=5))
            await store.set_paused(name, True, pause=pause)
        clock.now += timedelta(minutes=6)
        await asyncio.gather(first.tick(), second.tick())
        entries = (await store.list_audit(action="job.resume")).items
        assert sorted(e.target for e in entries) == ["x", "y"]
        assert first.pauses.resumed + second.pauses.resumed == 2
        assert not any(j.spec.paused for j in (await store.list_jobs()).items)
        await broker.close()
        await store.close()

    asyncio.run(body())
