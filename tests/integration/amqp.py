"""Helpers for tests on a real RabbitMQ: a cuttable TCP proxy, a broker on a prefix of its
own, and waiting for deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aio_pika

from tests.servers import RABBITMQ_START, RABBITMQ_URL, require_server
from tests.tcp_proxy import free_port
from tss.broker.base import Delivery, RunMessage
from tss.broker.rabbitmq import RabbitMQBroker
from tss.core.ids import new_id
from tss.errors import BrokerError

TARGET = urlsplit(RABBITMQ_URL)


class Proxy:
    """Forwards ``127.0.0.1:port`` to RabbitMQ. ``cut()`` drops every connection through it
    at once (what clients see when the server restarts); ``down()`` also refuses new ones
    until ``up()``."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._pipes: set[asyncio.Task[None]] = set()

    def url(self, prefix: str, **options: object) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"prefix": prefix, **options}.items())
        return f"amqp://{TARGET.username}:{TARGET.password}@127.0.0.1:{self.port}/?{query}"

    async def up(self) -> None:
        self._server = await asyncio.start_server(self._link, "127.0.0.1", self.port)

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        self.cut()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    def cut(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(
                TARGET.hostname or "127.0.0.1", TARGET.port or 5672
            )
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        self._pipes.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for w in (writer, up_writer):
            w.transport.abort()
            self._links.discard(w)
        await asyncio.gather(*pipes, return_exceptions=True)
        self._pipes.difference_update(pipes)

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()


@asynccontextmanager
async def proxied(**options: object) -> AsyncIterator[tuple[Proxy, RabbitMQBroker]]:
    """A started proxy and a broker through it, on a prefix of their own; cleaned up after."""
    require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
    proxy = Proxy()
    await proxy.up()
    broker = RabbitMQBroker(proxy.url(f"t{uuid.uuid4().hex[:12]}", **options))
    try:
        yield proxy, broker
    finally:
        await broker.close()
        await proxy.down()
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
