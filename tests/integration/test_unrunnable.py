"""The scheduler's bound on unrunnable runs (tss.scheduler.unrunnable), on the memory store
with the checks' clock given by the test: a run's clock counts only while no live worker
can take it, and a deployment with no worker up at all fails nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tss.broker.local import LocalBroker
from tss.config import SchedulerConfig
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, RunPolicy, WorkerInfo
from tss.core.states import RunState
from tss.scheduler.scheduler import Scheduler
from tss.scheduler.unrunnable import UnrunnableRuns, check_interval
from tss.store.memory import MemoryStore

AFTER = 600.0


def worker(name: str, pools: list[str]) -> WorkerInfo:
    return WorkerInfo(id=name, hostname="h", pid=1, pools=pools, task_types=["noop"],
                      concurrency=1, cores=2.0, memory=1024, version="1")  # fmt: skip


async def queued_run(store: MemoryStore, pool: str) -> str:
    spec = JobSpec(name=f"job-{pool}", type="noop", pool=pool)
    run = NewRun(id=new_id(), job=spec.name, state=RunState.QUEUED, trigger="manual",
                 params={}, priority=0, pool=pool, policy=RunPolicy.of(spec))  # fmt: skip
    await store.create_runs([run], actor="test")
    return run.id


def scenario(body: Callable[[MemoryStore, UnrunnableRuns], Awaitable[None]]) -> None:
    async def main() -> None:
        store = MemoryStore()
        await store.start()
        await body(store, UnrunnableRuns(store, LocalBroker(), after=AFTER, actor="s", limit=100))

    asyncio.run(main())


def test_a_run_fails_once_unrunnable_for_the_bound_and_not_before() -> None:
    async def body(store: MemoryStore, watch: UnrunnableRuns) -> None:
        await store.register_worker(worker("w1", ["default"]))
        run_id = await queued_run(store, "gpu")
        assert await watch.check(100.0) == []  # its clock starts here
        assert await watch.check(100.0 + AFTER - 1) == []
        [failed] = await watch.check(100.0 + AFTER)
        assert (failed.id, failed.state) == (run_id, RunState.FAILED)
        assert failed.error is not None and failed.error.type == "Unrunnable"
        assert failed.reason == "no live worker serves pool 'gpu'"

    scenario(body)


def test_a_worker_that_comes_back_in_time_stops_the_clock() -> None:
    async def body(store: MemoryStore, watch: UnrunnableRuns) -> None:
        await store.register_worker(worker("w1", ["default"]))
        run_id = await queued_run(store, "gpu")
        assert await watch.check(0.0) == []
        await store.register_worker(worker("gpu-1", ["gpu"]))
        assert await watch.check(AFTER - 1) == []  # runnable: its clock is dropped
        await store.set_worker_state("gpu-1", "dead")
        assert await watch.check(AFTER + 10) == []  # unrunnable again: a new clock
        assert await watch.check(2 * AFTER + 9) == []
        [failed] = await watch.check(2 * AFTER + 10)
        assert failed.id == run_id

    scenario(body)


def test_no_worker_up_at_all_fails_nothing() -> None:
    async def body(store: MemoryStore, watch: UnrunnableRuns) -> None:
        run_id = await queued_run(store, "default")
        await store.register_worker(worker("w1", ["default"]))
        await store.set_worker_state("w1", "down")  # a deploy: every worker stopped
        for at in (0.0, AFTER, 10 * AFTER):
            assert await watch.check(at) == []
        assert (await store.get_run(run_id)).state is RunState.QUEUED

    scenario(body)


def test_checks_are_spaced_and_the_bound_can_be_turned_off() -> None:
    assert check_interval(600) == 15.0
    assert check_interval(2) == 1.0

    async def main() -> None:
        store = MemoryStore()
        await store.start()
        await store.register_worker(worker("w1", ["default"]))
        run_id = await queued_run(store, "gpu")
        for after in (None, 0.0):
            settings = SchedulerConfig(unrunnable_after=after)
            scheduler = Scheduler(store, LocalBroker(), settings)
            for at in (0.0, 1e6, 1e9):
                assert await scheduler.unrunnable.tick(at) == []
        assert (await store.get_run(run_id)).state is RunState.QUEUED
        watch = UnrunnableRuns(store, LocalBroker(), after=4.0, actor="s", limit=100)
        assert await watch.tick(0.0) == []  # the first check: its clock starts
        assert await watch.tick(3.5) == []  # checked: 3.5 s of 4
        assert await watch.tick(4.0) == []  # past the bound, but the next check is at 4.5
        assert [r.id for r in await watch.tick(4.5)] == [run_id]

    asyncio.run(main())
