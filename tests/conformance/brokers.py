"""The brokers of the broker conformance suite (``test_broker.py``): every test runs once
per entry of :data:`BROKERS`.

A factory stands for one test's private deployment: each ``open()`` returns a started
broker on the same queues (as two processes of one deployment would see), isolated from
other tests (a fresh store, or a unique prefix on the shared server). To add a backend,
write a factory and add one line to :data:`BROKERS`. Optional abilities (raw messages,
dead letters, a redelivery limit) make their tests run; without them those tests skip.

Backends on a server need it on loopback: locally a missing server skips with how to start
it; in CI it fails (``tests/servers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path

from tests.servers import RABBITMQ_START, RABBITMQ_URL, REDIS_START, REDIS_URL, require_server
from tss.broker.base import Broker, Delivery, RunMessage
from tss.core.ids import new_id
from tss.store.memory import MemoryStore

from .support import ACTOR, new_run


class BrokerFactory:
    """How the suite reaches one kind of broker."""

    #: whether raw bodies can be put in a queue (``inject``) and dead letters read back
    raw = False
    #: returns without an ack a message may have before it is dead-lettered (None: no limit)
    max_redeliveries: int | None = None

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.opened: list[Broker] = []

    async def open(self) -> Broker:
        """A started broker on this test's queues; closed by :meth:`close`."""
        broker = await self._open()
        self.opened.append(broker)
        return broker

    async def _open(self) -> Broker:
        raise NotImplementedError

    async def messages(
        self, count: int = 1, *, pool: str = "default", priority: int = 0
    ) -> list[RunMessage]:
        """New run messages for ``pool`` (brokers that read the store get queued runs)."""
        return [RunMessage(new_id(), "job-a", pool, priority) for _ in range(count)]

    async def claimed(self, deliveries: Sequence[Delivery]) -> None:
        """What a worker does before acking: claim the runs (only the store broker cares)."""

    async def crash(self, broker: Broker) -> None:
        """Lose ``broker`` as a dying worker would, holding what it was handed."""
        await broker.close()

    async def inject(self, pool: str, body: bytes) -> None:
        """Put a raw body in ``pool``'s queue, as a foreign or broken producer would."""
        raise NotImplementedError

    async def dead_letters(self) -> list[bytes]:
        """Take the bodies in the dead-letter queue."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close what was opened and remove what the test left on the server."""
        for broker in reversed(self.opened):
            await broker.close()


class LocalFactory(BrokerFactory):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        from tss.broker.local import LocalBroker

        self.broker = LocalBroker()

    async def _open(self) -> Broker:
        return self.broker  # in-process: every "instance" of the deployment is this one


class StoreFactory(BrokerFactory):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.store = MemoryStore()

    async def _open(self) -> Broker:
        from tss.broker.store import StoreBroker

        broker = StoreBroker(self.store)
        await broker.start()
        return broker

    async def messages(
        self, count: int = 1, *, pool: str = "default", priority: int = 0
    ) -> list[RunMessage]:
        created = await self.store.create_runs(
            [new_run(pool=pool, priority=priority) for _ in range(count)], actor=ACTOR
        )
        return [RunMessage.of(run) for run, _ in created]

    async def claimed(self, deliveries: Sequence[Delivery]) -> None:
        ids = [d.message.run_id for d in deliveries]
        await self.store.claim_runs(ids, worker_id="w1", lease=30)


class RabbitMQFactory(BrokerFactory):
    raw = True
    max_redeliveries = 2

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
        self.prefix = f"t{uuid.uuid4().hex[:12]}"
        self.pools: set[str] = set()

    def url(self) -> str:
        query = f"prefix={self.prefix}&max_redeliveries={self.max_redeliveries}"
        return f"{RABBITMQ_URL}?{query}"

    async def _open(self) -> Broker:
        from tss.broker.rabbitmq import RabbitMQBroker

        broker = RabbitMQBroker(self.url())
        await broker.start()
        await broker.ping()  # start() does not raise when cut off: say why here
        return broker

    async def messages(
        self, count: int = 1, *, pool: str = "default", priority: int = 0
    ) -> list[RunMessage]:
        self.pools.add(pool)
        return await super().messages(count, pool=pool, priority=priority)

    async def inject(self, pool: str, body: bytes) -> None:
        import aio_pika

        from tss.broker.rabbitmq import RabbitMQBroker

        self.pools.add(pool)
        names = RabbitMQBroker(self.url())
        async with await aio_pika.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            await channel.declare_queue(
                names.queue_name(pool), durable=True, arguments=names.queue_arguments
            )
            await channel.default_exchange.publish(
                aio_pika.Message(body), routing_key=names.queue_name(pool)
            )

    async def dead_letters(self) -> list[bytes]:
        import aio_pika

        bodies = []
        async with await aio_pika.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            queue = await channel.get_queue(f"{self.prefix}.dead-letter")
            while (message := await queue.get(no_ack=True, fail=False)) is not None:
                bodies.append(message.body)
        return bodies

    async def close(self) -> None:
        import aio_pika

        await super().close()
        async with await aio_pika.connect(RABBITMQ_URL) as connection:
            channel = await connection.channel()
            for pool in self.pools:
                await channel.queue_delete(f"{self.prefix}.pool.{pool}")
            await channel.queue_delete(f"{self.prefix}.dead-letter")
            await channel.exchange_delete(f"{self.prefix}.dead-letter")


class RedisFactory(BrokerFactory):
    """Redis streams on the test server, under a key prefix of this test's own. A short
    ``reclaim_after``: an entry that was not really acked would come back within a test."""

    raw = True
    server = REDIS_URL

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        require_server("Redis", self.server, REDIS_START)
        self.prefix = f"tss-test-{uuid.uuid4().hex[:12]}"
        self.url = f"{self.server}?prefix={self.prefix}&reclaim_after=0.2"

    async def _open(self) -> Broker:
        from tss.broker.redis import RedisBroker

        broker = RedisBroker(self.url)
        await broker.start()
        await broker.ping()  # start() does not raise when cut off: say why here
        return broker

    async def inject(self, pool: str, body: bytes) -> None:
        import redis.asyncio as aioredis

        async with aioredis.Redis.from_url(self.server) as client:
            await client.xadd(f"{self.prefix}:broker:{pool}:0", {"m": body})

    async def dead_letters(self) -> list[bytes]:
        import redis.asyncio as aioredis

        async with aioredis.Redis.from_url(self.server) as client:
            key = f"{self.prefix}:broker:dead"
            entries = await client.xrange(key)
            if entries:
                await client.xdel(key, *[entry_id for entry_id, _ in entries])
        return [fields[b"field:m"] for _, fields in entries]

    async def close(self) -> None:
        import redis.asyncio as aioredis

        await super().close()
        async with aioredis.Redis.from_url(self.server) as client:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}:*")]
            if keys:
                await client.delete(*keys)


BROKERS: dict[str, type[BrokerFactory]] = {
    "local": LocalFactory,
    "store": StoreFactory,
    "rabbitmq": RabbitMQFactory,
    "redis": RedisFactory,
}
