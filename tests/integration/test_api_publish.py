"""A node without a scheduler (``tss api``, the CLI) publishes the runs it queues, and a
broker that fails leaves them to the reconciler without failing the trigger."""

from __future__ import annotations

import asyncio

from tests.servers import REDIS_URL, redis_prefix, run
from tss import outbox
from tss.broker.local import LocalBroker
from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, RetryPolicy, RunPolicy
from tss.core.states import RunState
from tss.service import TSSApp
from tss.store.memory import MemoryStore


def test_triggered_and_retried_runs_are_published_at_once() -> None:
    async def body(broker: str) -> None:
        app = TSSApp(Settings(store={"url": "memory://"}, broker={"url": broker}))
        await app.start()
        try:
            await app.jobs.apply([{"name": "hello", "type": "noop"}])
            ((run, _),) = await app.runs.trigger("hello")
            # Sent in the background as the trigger returns (the trigger does not wait for
            # the broker), then recorded published, so the reconciler does not send it again.
            delivered = await app.broker.get(["default"], 10, 1.0)
            assert [d.message.run_id for d in delivered] == [run.id]
            for _ in range(100):
                unpublished = await app.store.find_unpublished(
                    older_than=0, republish_after=3600, limit=10
                )
                if not unpublished:
                    break
                await asyncio.sleep(0.01)
            assert unpublished == [], "the trigger left its run to the reconciler"
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


def test_closing_records_what_was_published(tmp_path: object) -> None:
    """The background marks are written before the node closes: a producer that triggers
    and exits at once leaves nothing for the reconciler to send twice."""

    async def body(broker: str) -> None:
        store = f"sqlite:///{tmp_path}/tss.db"
        app = TSSApp(Settings(store={"url": store}, broker={"url": broker}))
        await app.start()
        await app.jobs.apply([{"name": "hello", "type": "noop"}])
        made = await asyncio.gather(*(app.runs.trigger("hello") for _ in range(50)))
        await app.close()
        again = TSSApp(Settings(store={"url": store}, broker={"url": broker}))
        await again.start()
        try:
            left = await again.store.find_unpublished(older_than=0, republish_after=3600, limit=50)
            assert left == [] and len(made) == 50
        finally:
            await again.close()

    with redis_prefix() as prefix:
        run(body(f"{REDIS_URL}?prefix={prefix}"), 30)


def test_runs_pending_at_close_are_sent_and_recorded() -> None:
    async def body() -> None:
        store, broker = MemoryStore(), LocalBroker()
        await store.start()
        await broker.start()
        await store.create_job(JobSpec(name="j", type="noop"), None)
        policy = RunPolicy("noop", None, "auto", RetryPolicy(max=0))
        news = [
            NewRun(new_id(), "j", RunState.QUEUED, "manual", {}, 0, "p", policy) for _ in range(3)
        ]
        created = await store.create_runs(news, actor="test")
        sender = outbox.Sender(store, broker, 2.0)
        sender.send([run for run, _ in created])
        await sender.close(1.0)
        assert await store.find_unpublished(older_than=0, republish_after=3600, limit=9) == []
        delivered = await broker.get(["p"], 10, 0)
        assert sorted(d.message.run_id for d in delivered) == sorted(n.id for n in news)

    asyncio.run(body())
