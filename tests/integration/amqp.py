"""Helpers for tests on a real RabbitMQ: a broker on a prefix of its own behind a cuttable
TCP proxy (:mod:`tests.tcp_proxy`), and waiting for deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aio_pika

from tests.servers import RABBITMQ_START, RABBITMQ_URL, require_server
from tests.tcp_proxy import TcpProxy, proxy_for
from tss.broker.base import Delivery, RunMessage
from tss.broker.rabbitmq import RabbitMQBroker
from tss.core.ids import new_id
from tss.errors import BrokerError


def broker_url(proxy: TcpProxy, prefix: str, **options: object) -> str:
    """The RabbitMQ URL through ``proxy``, on ``prefix`` with these broker options."""
    query = "&".join(f"{k}={v}" for k, v in {"prefix": prefix, **options}.items())
    return proxy.through(RABBITMQ_URL, query)


@asynccontextmanager
async def proxied(**options: object) -> AsyncIterator[tuple[TcpProxy, RabbitMQBroker]]:
    """A started proxy and a broker through it, on a prefix of their own; cleaned up after."""
    require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
    with proxy_for(RABBITMQ_URL) as proxy:
        broker = RabbitMQBroker(broker_url(proxy, f"t{uuid.uuid4().hex[:12]}", **options))
        try:
            yield proxy, broker
        finally:
            await broker.close()
            proxy.down()
            await delete_everything(broker, ["default", "a", "b"])


async def delete_everything(broker: RabbitMQBroker, pools: list[str]) -> None:
    async with await aio_pika.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        for pool in pools:
            await channel.queue_delete(broker.queue_name(pool))
        await channel.queue_delete(broker.dead_letter_name)
        await channel.exchange_delete(broker.dead_letter_name)


def messages(count: int, pool: str = "default") -> list[RunMessage]:
    return [RunMessage(new_id(), "job", pool) for _ in range(count)]


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def connected(broker: RabbitMQBroker) -> bool:
    try:
        await broker.ping()
    except BrokerError:
        return False
    return True


async def take(broker: RabbitMQBroker, count: int, timeout: float = 10) -> list[Delivery]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    got: list[Delivery] = []
    while len(got) < count and loop.time() < deadline:
        with contextlib.suppress(BrokerError):  # while it reconnects
            got += await broker.get(["default"], 100, 0.2)
    return got
