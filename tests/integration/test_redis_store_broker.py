"""The store broker on the Redis store: workers claim from the store in one script, and an
idle worker is woken by the store's notice of a queued run, not by a timer.

Against a real Redis server, each test under a key prefix of its own; without a server
these tests skip with how to start one (in CI they fail: ``tests/servers.py``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.servers import REDIS_START, REDIS_URL, require_server, run
from tests.tcp_proxy import proxy_for
from tss.broker.store import StoreBroker
from tss.core.models import Run
from tss.core.workers import Room
from tss.store.base import RUNS_CHANNEL, WAKE_CHANNEL
from tss.store.redis import RedisStore

from ..conformance.support import queued

ROOM = Room(cores=4.0, memory=1 << 20)


class CountingStore(RedisStore):
    """Counts the store broker's claims."""

    reads = 0

    async def claim_next(self, *args: Any, **kwargs: Any) -> list[Run]:
        self.reads += 1
        return await super().claim_next(*args, **kwargs)


@pytest.fixture
def url() -> Iterator[str]:
    require_server("Redis", REDIS_URL, REDIS_START)
    prefix = f"tss-test-{uuid.uuid4().hex}"
    yield f"{REDIS_URL}?prefix={prefix}"
    raw = redis.Redis.from_url(REDIS_URL)
    keys = list(raw.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        raw.unlink(*keys)
    raw.close()


def test_an_idle_worker_is_woken_by_the_notice_of_a_queued_run(url: str) -> None:
    async def body() -> None:
        api, worker = RedisStore(url), CountingStore(url)
        await api.start()
        await worker.start()
        try:
            broker = StoreBroker(worker)
            claiming = asyncio.create_task(
                broker.claim(["default"], 4, 30.0, worker_id="w1", lease=30, room=ROOM)
            )
            await asyncio.sleep(1.5)  # idle: a polling broker reads ~10 times meanwhile
            assert not claiming.done()
            assert worker.reads <= 2, f"{worker.reads} claims while nothing was queued"
            [created] = await queued(api)
            began = time.monotonic()
            claimed = await asyncio.wait_for(claiming, 5)
            # the safety read comes 2 s after the last one: well before it, a notice woke us
            assert time.monotonic() - began < 0.4
            assert [r.id for r in claimed] == [created.id]
            assert claimed[0].worker_id == "w1"
        finally:
            await worker.close()
            await api.close()

    run(body())


def test_a_busy_queue_publishes_nothing_and_an_armed_one_publishes_once(url: str) -> None:
    prefix = url.partition("prefix=")[2]
    channel = f"{prefix}:store:queued"

    async def body() -> None:
        store = RedisStore(url)
        await store.start()
        listener = redis.Redis.from_url(REDIS_URL, decode_responses=True).pubsub()
        listener.subscribe(channel)
        assert listener.get_message(timeout=1)["type"] == "subscribe"

        def heard() -> list[str]:
            got = []
            while (message := listener.get_message(timeout=0.2)) is not None:
                got.append(message["data"])
            return got

        try:
            await queued(store, 3)  # nobody is waiting: no notice
            assert heard() == []
            # a claim that takes the whole queue arms the pool...
            claimed = await store.claim_next(
                ["default", "io"], limit=10, worker_id="w1", lease=30, room=ROOM
            )
            assert len(claimed) == 3
            await queued(store, 3)  # ...and the first run queued after it is announced, once
            await queued(store, pool="io")
            assert heard() == ["default", "io"]
            # a claim that fills its batch leaves the queue unarmed
            assert len(await store.claim_next(["default"], limit=2, worker_id="w1",
                                              lease=30, room=ROOM)) == 2  # fmt: skip
            await queued(store)
            assert heard() == []
        finally:
            listener.close()
            await store.close()

    run(body())


def test_the_notices_come_back_after_the_connection_is_lost(url: str) -> None:
    """The listening connection dropped (a restart, a network cut): the event is set once it
    is back, since a notice sent meanwhile was lost, and notices are heard again after."""

    async def body() -> None:
        with proxy_for(REDIS_URL) as proxy:
            store = RedisStore(proxy.through(url))
            await store.start()
            try:
                assert await store.listen(WAKE_CHANNEL) is None  # announced: queued runs only
                event = await store.listen(RUNS_CHANNEL, ["default"])
                assert event is not None
                event.clear()
                proxy.cut()  # every connection of the store drops, the listener's too
                await asyncio.wait_for(event.wait(), 5)
                event.clear()
                await store.claim_next(["default"], limit=1, worker_id="w1", lease=30, room=ROOM)
                assert not event.is_set()
                await queued(store)
                await asyncio.wait_for(event.wait(), 2)
            finally:
                await store.close()

    run(body())
