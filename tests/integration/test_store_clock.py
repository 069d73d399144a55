"""Guarantee 5: due-ness and retry delays follow the store's clock, never a node's."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tss.broker.local import LocalBroker
from tss.config import SchedulerConfig
from tss.core.models import ErrorInfo, JobSpec, Outcome
from tss.core.states import RunState
from tss.core.timeutil import utcnow
from tss.scheduler.scheduler import Scheduler
from tss.store.memory import MemoryStore


class Clock:
    """A store clock an hour behind this node's."""

    def __init__(self) -> None:
        self.offset = timedelta(hours=-1)

    def __call__(self) -> datetime:
        return utcnow() + self.offset


def test_a_node_ahead_of_the_store_does_not_fire_early() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore(clock=clock)
        await store.start()
        # Due in ten minutes by the store, fifty minutes ago by this node's clock.
        due = clock() + timedelta(minutes=10)
        await store.create_job(JobSpec(name="j", type="noop", schedule={"every": 3600}), due)
        scheduler = Scheduler(store, LocalBroker(), SchedulerConfig(lookahead=0))
        await scheduler.tick()
        assert (await store.list_runs()).items == []
        clock.offset += timedelta(minutes=10, seconds=1)  # the store's time comes
        await scheduler.tick()
        [run] = (await store.list_runs()).items
        assert run.scheduled_for == due

    asyncio.run(body())


def test_retry_delays_count_on_the_store_clock() -> None:
    async def body() -> None:
        clock = Clock()
        store = MemoryStore(clock=clock)
        await store.start()
        await store.create_job(JobSpec(name="j", type="noop"), None)
        from tss.core.ids import new_id
        from tss.core.models import NewRun, RunPolicy

        spec = (await store.get_job("j")).spec
        new = NewRun(new_id(), "j", RunState.QUEUED, "manual", {}, 0, "default", RunPolicy.of(spec))
        await store.create_runs([new], actor="test")
        [run] = await store.claim_runs([new.id], worker_id="w", lease=30)
        retry = Outcome(
            run.id, run.attempt, RunState.RETRYING, error=ErrorInfo("E", "x"),
            attempt_state=RunState.FAILED, retry_delay=30,
        )  # fmt: skip
        assert await store.finish_runs([retry], actor="w") == [True]
        stored = await store.get_run(run.id)
        assert stored.not_before is not None
        # Thirty seconds after the store's now, not after this node's (an hour later).
        assert abs((stored.not_before - clock()).total_seconds() - 30) < 1

    asyncio.run(body())
