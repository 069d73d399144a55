"""With the store broker, queued runs are read from the store itself: the scheduler writes
no outbox marks for them and the reconciler has nothing to do (both cost a write per run)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tss.broker.local import LocalBroker
from tss.broker.store import StoreBroker
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, RunPolicy
from tss.core.states import RunState
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
