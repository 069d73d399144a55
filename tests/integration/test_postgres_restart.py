"""A stream of runs while the PostgreSQL server drops every connection, again and again (as a
restart does; ``pg_terminate_backend`` on this test's database only, so a shared server is
left alone). A real scheduler and a real worker on ``store://``: every run still ends once."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from datetime import timedelta

import pytest

from tests.pg_databases import pg_url, terminate_backends
from tss.broker.store import StoreBroker
from tss.core.models import JobSpec, Run
from tss.core.schedules import first_fire
from tss.core.states import RunState
from tss.scheduler.scheduler import Scheduler, SchedulerSettings
from tss.store.paging import collect
from tss.store.postgres import PostgresStore
from tss.tasks.registry import TaskRegistry
from tss.worker.worker import Worker, WorkerSettings

__all__ = ["pg_url"]  # a fixture
pytestmark = pytest.mark.slow

SHOTS = 150
#: the one-shots come due over this many seconds, while connections are dropped
SPREAD = 5.0


async def _all_runs(store: PostgresStore) -> list[Run]:
    runs: list[Run] = await collect(
        lambda size, cursor: store.list_runs(limit=size, cursor=cursor), page_size=1000
    )
    return runs


def test_every_run_ends_once_while_connections_are_dropped(
    pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    async def body() -> None:
        scheduler_store, worker_store = PostgresStore(pg_url), PostgresStore(pg_url)
        await scheduler_store.start()
        await worker_store.start()
        now = await scheduler_store.now()
        start = now + timedelta(seconds=1)
        for n in range(SHOTS):
            spec = JobSpec.model_validate(
                {
                    "name": f"shot-{n:03d}",
                    "type": "shell",
                    "params": {"argv": ["sleep", "0.2"]},
                    "retries": {"max": 10, "delay": 0},
                    "schedule": {"at": (start + timedelta(seconds=SPREAD * n / SHOTS))},
                }
            )
            await scheduler_store.create_job(spec, first_fire(spec.schedule, created_at=now))
        tick = JobSpec.model_validate({"name": "tick", "type": "noop", "schedule": {"every": 1}})
        await scheduler_store.create_job(tick, start)

        scheduler = Scheduler(
            scheduler_store,
            StoreBroker(scheduler_store),
            SchedulerSettings(max_sleep=0.2, reap_interval=0.5, dead_worker_after=5),
        )
        worker = Worker(
            worker_store,
            StoreBroker(worker_store),
            TaskRegistry.default(),
            WorkerSettings(concurrency=16, lease=2, heartbeat_interval=0.5, grace_period=2),
        )
        stop = asyncio.Event()
        serving = [asyncio.create_task(scheduler.run(stop)), asyncio.create_task(worker.run(stop))]
        kills = ended = 0
        try:
            await asyncio.sleep(1.2)
            for _ in range(int(SPREAD / 0.7) + 1):
                ended += await asyncio.to_thread(terminate_backends, pg_url)
                kills += 1
                await asyncio.sleep(0.7)
            for _ in range(300):
                shots = [r for r in await _all_runs(scheduler_store) if r.job != "tick"]
                if len(shots) == SHOTS and all(r.state.terminal for r in shots):
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(*serving, return_exceptions=True), 30)
        try:
            runs = await _all_runs(scheduler_store)
            events = await scheduler_store.list_events(limit=100_000)
        finally:
            await scheduler_store.close()
            await worker_store.close()

        assert kills >= 7 and ended >= 2 * kills  # each kill dropped live sessions
        per_fire = Counter((r.job, r.scheduled_for) for r in runs)
        assert [fire for fire, n in per_fire.items() if n > 1] == []
        shots = [r for r in runs if r.job != "tick"]
        assert sorted(r.job for r in shots) == [f"shot-{n:03d}" for n in range(SHOTS)]
        assert Counter(r.state for r in shots) == {RunState.SUCCEEDED: SHOTS}
        # Ended once: one terminal event per run, and it is the run's final state.
        terminal = Counter(e.run_id for e in events if e.target.terminal)
        assert {r.id: terminal[r.id] for r in shots} == {r.id: 1 for r in shots}
        ticks = [r for r in runs if r.job == "tick"]
        assert len(ticks) >= 5
        print(f"kills {kills}, sessions ended {ended}, retried", sum(r.attempt > 1 for r in shots))

    asyncio.run(body())
