"""A bug in one pass (an exception that is no TSS error) is logged with its traceback and
the scheduler and worker go on: in ``tss server`` their end would take the API down too."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from tss.broker.store import StoreBroker
from tss.config import SchedulerConfig, WorkerConfig
from tss.core.models import JobSpec
from tss.core.states import RunState
from tss.core.timeutil import utcnow
from tss.scheduler.scheduler import Scheduler
from tss.store.memory import MemoryStore
from tss.tasks.registry import TaskRegistry
from tss.worker.worker import Worker


class FailingOnce(MemoryStore):
    """A memory store whose named methods each raise a ``RuntimeError`` on their first call
    (a fault injected into the store; the scheduler and worker under test are real)."""

    def __init__(self, *failing: str) -> None:
        super().__init__()
        self.failing = set(failing)
        self.failed: list[str] = []

    def __getattribute__(self, name: str) -> Any:
        failing = object.__getattribute__(self, "failing")
        if name in failing:
            failing.discard(name)
            object.__getattribute__(self, "failed").append(name)

            async def broken(*_args: Any, **_kwargs: Any) -> Any:
                raise RuntimeError(f"injected bug in {name}")

            return broken
        return super().__getattribute__(name)


def test_scheduler_and_worker_survive_a_bug_in_one_pass(caplog: pytest.LogCaptureFixture) -> None:
    async def body() -> None:
        store = FailingOnce("fire_due_jobs", "claim_next", "finish_runs", "heartbeat")
        await store.start()
        spec = JobSpec.model_validate({"name": "j", "type": "noop", "schedule": {"every": 1}})
        await store.create_job(spec, utcnow() - timedelta(seconds=1))
        broker = StoreBroker(store)
        scheduler = Scheduler(store, broker, SchedulerConfig(max_sleep=0.1))
        worker = Worker(
            store,
            broker,
            TaskRegistry.default(),
            WorkerConfig(heartbeat_interval=0.1, lease=5),
        )
        stop = asyncio.Event()
        serving = [asyncio.create_task(scheduler.run(stop)), asyncio.create_task(worker.run(stop))]
        try:
            for _ in range(100):
                runs = (await store.list_runs()).items
                if any(r.state is RunState.SUCCEEDED for r in runs) and not store.failing:
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            outcomes = await asyncio.wait_for(asyncio.gather(*serving, return_exceptions=True), 10)
        assert outcomes == [None, None]  # neither loop ended with the bug
        assert sorted(store.failed) == ["claim_next", "finish_runs", "fire_due_jobs", "heartbeat"]
        assert any(r.state is RunState.SUCCEEDED for r in (await store.list_runs()).items)
        traced = [r for r in caplog.records if r.exc_info and "injected bug" in str(r.exc_info[1])]
        assert len(traced) == 4, [r.getMessage() for r in caplog.records]
        assert all("unexpected error" in r.getMessage() for r in traced)

    with caplog.at_level(logging.WARNING):
        asyncio.run(body())


def test_outcomes_of_a_failed_finish_and_claim_are_recorded_by_the_finisher() -> None:
    """With the store broker a worker records outcomes with its next claim; when that step
    fails, the outcomes go back to the finisher, which records them: nothing is lost, and
    no attempt is made twice."""

    class SlowFinish(FailingOnce):
        """A store that takes 50 ms to record outcomes (injected latency): while the
        finisher waits on it, the next outcomes wait for the worker's next claim."""

        async def finish_runs(self, *args: Any, **kwargs: Any) -> list[bool]:
            await asyncio.sleep(0.05)
            return await super().finish_runs(*args, **kwargs)

    async def body() -> None:
        store = SlowFinish("finish_and_claim")
        await store.start()
        spec = JobSpec.model_validate({"name": "j", "type": "noop"})
        await store.create_job(spec, None)
        from tests.conformance.support import new_run

        runs = [new_run("j") for _ in range(40)]
        await store.create_runs(runs, actor="t")
        worker = Worker(
            store, StoreBroker(store), TaskRegistry.default(), WorkerConfig(concurrency=2)
        )
        stop = asyncio.Event()
        serving = asyncio.create_task(worker.run(stop))
        try:
            for _ in range(200):
                found = (await store.list_runs(limit=100)).items
                if all(r.state is RunState.SUCCEEDED for r in found):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(serving, 10)
        assert store.failed == ["finish_and_claim"]
        found = (await store.list_runs(limit=100)).items
        assert [r.state for r in found] == [RunState.SUCCEEDED] * 40
        assert {r.attempt for r in found} == {1}

    asyncio.run(body())
