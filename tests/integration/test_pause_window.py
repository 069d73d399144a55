"""Issue 12, item 3, as a user met it: a scheduler with the default windows (lookahead 5 s,
announce ahead 2 s) and a job paused and resumed a few seconds before its fire."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tss.broker.local import LocalBroker
from tss.config import SchedulerConfig
from tss.core.models import JobSpec, RunFilter
from tss.core.states import RunState
from tss.scheduler.scheduler import Scheduler
from tss.store.memory import MemoryStore


class Clock:
    """A store clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = datetime.fromisoformat("2026-12-06T08:00:00+00:00")

    def __call__(self) -> datetime:
        return self.now


def test_pause_and_resume_before_the_fire_fires_it_on_time() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore(clock=clock)
        await store.start()
        broker = LocalBroker()
        scheduler = Scheduler(store, broker, SchedulerConfig())
        fire = clock.now + timedelta(seconds=4)
        await store.create_job(JobSpec(name="j", type="noop", schedule={"every": 60}), fire)
        await scheduler.tick()  # within the lookahead: made ahead, as a scheduled run
        await store.set_paused("j", True)
        await store.set_paused("j", False)
        for _ in range(8):  # to the fire and past it, half a second at a time
            await scheduler.tick()
            clock.now += timedelta(seconds=0.5)
        runs = (await store.list_runs(RunFilter(job="j"))).items
        [live] = [r for r in runs if r.state is not RunState.CANCELLED]
        assert (live.scheduled_for, live.state, live.not_before) == (fire, RunState.QUEUED, fire)
        [withdrawn] = [r for r in runs if r.state is RunState.CANCELLED]
        assert withdrawn.reason == "job paused"
        assert (await store.get_job("j")).next_fire_at == fire + timedelta(seconds=60)
        await broker.close()
        await store.close()

    asyncio.run(body())
