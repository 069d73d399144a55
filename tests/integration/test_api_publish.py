"""A node without a scheduler (``tss api``, the CLI) publishes the runs it queues, and a
broker that fails leaves them to the reconciler without failing the trigger."""

from __future__ import annotations

import asyncio

from tests.servers import REDIS_URL, redis_prefix, run
from tss.config import Settings
from tss.service import TSSApp


def test_triggered_and_retried_runs_are_published_at_once() -> None:
    async def body(broker: str) -> None:
        app = TSSApp(Settings(store={"url": "memory://"}, broker={"url": broker}))
        await app.start()
        try:
            await app.jobs.apply([{"name": "hello", "type": "noop"}])
            ((run, _),) = await app.runs.trigger("hello")
            unpublished = await app.store.find_unpublished(
                older_than=0, republish_after=3600, limit=10
            )
            assert unpublished == [], "the trigger left its run to the reconciler"
            delivered = await app.broker.get(["default"], 10, 1.0)
            assert [d.message.run_id for d in delivered] == [run.id]
            await app.broker.ack(delivered)
            await app.store.cancel_runs([run.id], actor="test", reason="ended by the test")
            again = await app.runs.retry(run.id)
            delivered = await app.broker.get(["default"], 10, 1.0)
            assert [d.message.run_id for d in delivered] == [again.id]
        finally:
            await app.close()

    with redis_prefix() as prefix:
        run(body(f"{REDIS_URL}?prefix={prefix}"), 30)


def test_a_broker_that_cannot_take_the_runs_does_not_fail_the_trigger() -> None:
    async def body() -> None:
        # Nothing listens on port 1: the broker starts cut off and keeps retrying.
        broker = "amqp://guest:guest@127.0.0.1:1/"
        app = TSSApp(Settings(store={"url": "memory://"}, broker={"url": broker}))
        await app.start()
        try:
            await app.jobs.apply([{"name": "hello", "type": "noop"}])
            ((run, created),) = await app.runs.trigger("hello")
            assert created and run.state.value == "queued"
            left = await app.store.find_unpublished(older_than=0, republish_after=3600, limit=10)
            assert [r.id for r in left] == [run.id], "the reconciler would not find it"
        finally:
            await app.close()

    asyncio.run(asyncio.wait_for(body(), 30))
