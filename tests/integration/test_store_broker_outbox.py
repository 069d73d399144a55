"""With the store broker, queued runs are read from the store itself: the scheduler writes
no outbox marks for them and the reconciler has nothing to do (both cost a write per run)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tss.broker.local import LocalBroker
from tss.broker.store import StoreBroker
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, Run, RunPolicy
from tss.core.states import RunState
from tss.core.workers import Room
from tss.scheduler.scheduler import Scheduler, SchedulerSettings
from tss.store.sqlite import SQLiteStore


def test_no_outbox_writes_with_the_store_broker(tmp_path: Path) -> None:
    async def body() -> None:
        store = SQLiteStore(f"sqlite:///{tmp_path / 'tss.db'}")
        await store.start()
        try:
            spec = JobSpec(name="j", type="noop")
            await store.create_job(spec, None)
            new = NewRun(new_id(), "j", RunState.QUEUED, "manual", {}, 0, "default",
                         RunPolicy.of(spec))  # fmt: skip
            [(run, _)] = await store.create_runs([new], actor="t")
            broker = StoreBroker(store)
            reading = Scheduler(store, broker, SchedulerSettings(unpublished_after=0))
            await reading.publish([run])
            assert await reading.reconcile() == 0
            left = await store.find_unpublished(older_than=0, republish_after=60, limit=10)
            assert [r.id for r in left] == [run.id]  # no mark was written
            assert [d.message.run_id for d in await broker.get(["default"], 10, 0.1)] == [run.id]

            pushing = Scheduler(store, LocalBroker(), SchedulerSettings(unpublished_after=0))
            await pushing.publish([run])
            assert await store.find_unpublished(older_than=0, republish_after=60, limit=10) == []
        finally:
            await store.close()

    asyncio.run(body())


class CountingStore(SQLiteStore):
    """Counts the store broker's reads of the runs table."""

    reads = 0

    async def claim_next(self, *args: Any, **kwargs: Any) -> list[Run]:
        self.reads += 1
        return await super().claim_next(*args, **kwargs)


def test_an_idle_sqlite_worker_reads_the_store_after_a_commit_not_on_a_timer(
    tmp_path: Path,
) -> None:
    """A worker of the store broker on SQLite (another process, in production) waits for a
    commit to the file, then reads at once: it neither polls while idle nor misses a run
    another connection queued."""

    async def body() -> None:
        url = f"sqlite:///{tmp_path / 'tss.db'}"
        api, worker = SQLiteStore(url), CountingStore(url)
        await api.start()
        await worker.start()
        try:
            spec = JobSpec(name="j", type="noop")
            await api.create_job(spec, None)
            broker = StoreBroker(worker)
            room = Room(cores=4.0, memory=1 << 20)
            claiming = asyncio.create_task(
                broker.claim(["default"], 4, 30.0, worker_id="w1", lease=30, room=room)
            )
            await asyncio.sleep(1.5)  # idle: a polling broker reads ~10 times meanwhile
            assert not claiming.done()
            assert worker.reads <= 2, f"{worker.reads} reads while nothing was committed"
            new = NewRun(new_id(), "j", RunState.QUEUED, "manual", {}, 0, "default",
                         RunPolicy.of(spec))  # fmt: skip
            [(run, _)] = await api.create_runs([new], actor="t")
            claimed = await asyncio.wait_for(claiming, 5)
            assert [r.id for r in claimed] == [run.id]
        finally:
            await worker.close()
            await api.close()

    asyncio.run(body())
