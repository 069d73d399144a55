"""The RabbitMQ broker on a real server, through what the conformance suite cannot reach:
URL options, prefetch, an unreachable server, and connections lost and won back.

Connections are cut with :class:`Proxy`, a TCP forwarder on loopback between the broker and
RabbitMQ, so the shared server (and other tests' connections) are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aio_pika
import pytest

from tests.conformance.brokers import RABBITMQ_URL, require_server
from tss.broker.base import Delivery, RunMessage
from tss.broker.rabbitmq import RabbitMQBroker, parse_url
from tss.core.ids import new_id
from tss.errors import BrokerError, ConfigError

TARGET = urlsplit(RABBITMQ_URL)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 60))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


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
    require_server("RabbitMQ", RABBITMQ_URL, "rabbitmq-server -detached")
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


# -- the URL ----------------------------------------------------------------------------


def test_tss_options_are_taken_out_of_the_url() -> None:
    url, options = parse_url(
        "amqp://u:pw@h:5672/vh?prefix=blue&prefetch=16&max_redeliveries=3"
        "&confirm_window=64&heartbeat=30"
    )
    assert (options.prefix, options.prefetch, options.max_redeliveries) == ("blue", 16, 3)
    assert options.confirm_window == 64
    parts = urlsplit(url)
    assert parts.netloc == "u:pw@h:5672" and parts.path == "/vh"
    query = dict(p.split("=", 1) for p in parts.query.split("&"))
    assert query["heartbeat"] == "30" and query["name"].startswith("tss-blue-")
    assert not {"prefix", "prefetch", "max_redeliveries", "confirm_window"} & set(query)
    _, defaults = parse_url("amqp://h/")
    assert (defaults.prefix, defaults.prefetch, defaults.max_redeliveries) == ("tss", 0, 5)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("prefix=a%20b", "prefix 'a b'"),
        ("prefix=", "prefix ''"),
        ("prefetch=many", "prefetch must be a whole number"),
        ("prefetch=70000", "prefetch must be between 0 and 65535"),
        ("max_redeliveries=-1", "max_redeliveries must be between"),
        ("confirm_window=0", "confirm_window must be between 1"),
    ],
)
def test_a_bad_option_names_itself_and_hides_the_password(query: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RabbitMQBroker(f"amqp://guest:hunter2@127.0.0.1/?{query}")
    assert caught.value.field == "broker.url"
    assert words in str(caught.value)
    assert "hunter2" not in str(caught.value) and "guest:***@" in str(caught.value)


# -- an unreachable server --------------------------------------------------------------


def test_an_unreachable_server_is_one_line_and_nothing_dies(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        port = free_port()  # nothing listens there
        broker = RabbitMQBroker(f"amqp://guest:hunter2@127.0.0.1:{port}/?prefix=nowhere")
        with caplog.at_level(logging.WARNING):
            await broker.start()  # does not raise: the process stays up
        try:
            lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(lines) == 1, lines
            [line] = lines
            assert f"amqp://guest:***@127.0.0.1:{port}/" in line
            assert "check that RabbitMQ is running" in line
            assert "hunter2" not in line and "\n" not in line
            for call in (
                broker.ping(),
                broker.publish(messages(1)),
                broker.get(["default"], 10, 0.2),
            ):
                with pytest.raises(BrokerError) as caught:
                    await call
                assert f"127.0.0.1:{port}" in str(caught.value)
                assert "hunter2" not in str(caught.value)
            await broker.ack([])
        finally:
            await broker.close()

    run(body())


def test_a_server_that_comes_up_later_is_reached_without_a_restart() -> None:
    async def body() -> None:
        async with proxied() as (proxy, broker):
            await proxy.down()
            await broker.start()
            assert not await connected(broker)
            await asyncio.sleep(0.5)  # a few attempts fail meanwhile
            await proxy.up()
            await until(lambda: connected(broker))
            sent = messages(2)
            await broker.publish(sent)
            got = await take(broker, 2)
            assert sorted(d.message.run_id for d in got) == sorted(m.run_id for m in sent)
            await broker.ack(got)

    run(body())


# -- lost connections -------------------------------------------------------------------


def test_a_cut_connection_is_won_back_and_nothing_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        async with proxied(prefetch=10) as (proxy, broker):
            await broker.start()
            sent = messages(3)
            await broker.publish(sent)
            held = await broker.get(["default"], 1, 5)  # one handed out, two prefetched
            assert len(held) == 1
            with caplog.at_level(logging.WARNING):
                proxy.cut()
                await until(lambda: _logged(caplog, "lost the connection to RabbitMQ"))
            await broker.ack(held)  # from the lost connection: ignored, no error
            await until(lambda: connected(broker))
            got = await take(broker, 3)  # all three, the one held included
            assert sorted(d.message.run_id for d in got) == sorted(m.run_id for m in sent)
            await broker.ack(got)
            later = messages(1)
            await broker.publish(later)
            assert [d.message.run_id for d in await take(broker, 1)] == [later[0].run_id]

    run(body())


def test_publish_during_an_outage_fails_fast_with_the_reason() -> None:
    async def body() -> None:
        async with proxied() as (proxy, broker):
            await broker.start()
            await proxy.down()
            await until(lambda: _disconnected(broker))
            with pytest.raises(BrokerError, match="not connected to RabbitMQ"):
                await broker.publish(messages(1))
            await proxy.up()
            await until(lambda: connected(broker))
            await broker.publish(messages(1))

    run(body())


async def _disconnected(broker: RabbitMQBroker) -> bool:
    return not await connected(broker)


# -- prefetch ---------------------------------------------------------------------------


def test_prefetch_is_the_capacity_the_first_get_asks_for() -> None:
    async def body() -> None:
        async with proxied() as (_, broker):
            await broker.start()
            await broker.publish(messages(10))
            first = await broker.get(["default"], 3, 5)  # a worker with 3 free slots
            await asyncio.sleep(0.2)
            first += await broker.get(["default"], 3, 0.2)
            assert len(first) == 3  # it holds 3 and leaves 7 to other workers
            assert await broker.get(["default"], 3, 0.3) == []
            await broker.ack(first[:1])
            assert len(await broker.get(["default"], 3, 5)) == 1

    run(body())


def test_prefetch_set_in_the_url_wins() -> None:
    async def body() -> None:
        async with proxied(prefetch=2) as (_, broker):
            await broker.start()
            await broker.publish(messages(5))
            got = await broker.get(["default"], 10, 5)
            await asyncio.sleep(0.2)
            got += await broker.get(["default"], 10, 0.2)
            assert len(got) == 2

    run(body())


# -- a queue declared elsewhere ---------------------------------------------------------


def test_a_conflicting_queue_is_named_and_the_broker_recovers_once_it_is_gone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def body() -> None:
        async with proxied() as (_, broker):
            async with await aio_pika.connect(RABBITMQ_URL) as connection:
                channel = await connection.channel()  # no priorities, no dead-lettering
                await channel.declare_queue(broker.queue_name("default"), durable=True)
            await broker.start()
            with caplog.at_level(logging.WARNING), pytest.raises(BrokerError) as caught:
                await broker.get(["default"], 10, 1)
            assert "PRECONDITION_FAILED" in str(caught.value)
            assert broker.queue_name("default") in str(caught.value)
            await until(lambda: _logged(caplog, "could not set up the queues of prefix"))
            async with await aio_pika.connect(RABBITMQ_URL) as connection:
                channel = await connection.channel()
                await channel.queue_delete(broker.queue_name("default"))
            await until(lambda: connected(broker))
            sent = messages(1)
            await broker.publish(sent)
            assert [d.message.run_id for d in await take(broker, 1)] == [sent[0].run_id]

    run(body())


async def _logged(caplog: pytest.LogCaptureFixture, words: str) -> bool:
    return any(words in r.getMessage() for r in caplog.records)
