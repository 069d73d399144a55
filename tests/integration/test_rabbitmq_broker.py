"""The RabbitMQ broker on a real server, through what the conformance suite cannot reach:
URL options, prefetch, an unreachable server, and connections lost and won back.

Connections are cut with :class:`Proxy`, a TCP forwarder on loopback between the broker and
RabbitMQ, so the shared server (and other tests' connections) are never touched.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aio_pika
import pytest

from tests.integration.amqp import connected, messages, proxied, take, until
from tests.servers import RABBITMQ_URL, run
from tests.tcp_proxy import free_port
from tss.broker.rabbitmq import RabbitMQBroker, parse_url
from tss.errors import BrokerError, ConfigError

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
            proxy.down()
            await broker.start()
            assert not await connected(broker)
            await asyncio.sleep(0.5)  # a few attempts fail meanwhile
            proxy.up()
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
            proxy.down()
            await until(lambda: _disconnected(broker))
            with pytest.raises(BrokerError, match="not connected to RabbitMQ"):
                await broker.publish(messages(1))
            proxy.up()
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
