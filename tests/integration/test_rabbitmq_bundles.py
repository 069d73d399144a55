"""Bundles on a real RabbitMQ: a burst travels as few AMQP messages, each run is still
delivered, acked and handed back on its own, and a bundle is settled only once all its runs
are."""

from __future__ import annotations

import asyncio
from collections import Counter

import aio_pika
import pytest

from tests.integration.amqp import messages, proxied, take
from tests.servers import RABBITMQ_URL, run
from tss.broker.base import RunMessage
from tss.broker.rabbitmq import RabbitMQBroker, bundles, parse_url
from tss.errors import ConfigError


async def queue_depth(broker: RabbitMQBroker, pool: str = "default") -> int:
    """Messages ready in the pool's queue (not counting those held by consumers)."""
    async with await aio_pika.connect(RABBITMQ_URL) as connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(broker.queue_name(pool), passive=True)
        count = queue.declaration_result.message_count
        assert count is not None
        return count


def test_bundles_group_by_pool_and_priority_in_order_and_spread_a_burst() -> None:
    burst = [RunMessage(f"r{i}", "j", "default") for i in range(1000)]
    packed = bundles(burst, 50)
    assert [m for b in packed for m in b] == burst  # every run once, in order
    assert len(packed) == 20 and {len(b) for b in packed} == {50}
    # a small publish stays one run per message; a middling one is spread over 16+
    assert [len(b) for b in bundles(burst[:10], 50)] == [1] * 10
    assert len(bundles(burst[:100], 50)) == 17
    assert all(len(b) == 1 for b in bundles(burst, 1))
    mixed = [
        RunMessage("a", "j", "default", 1),
        RunMessage("b", "j", "io", 1),
        RunMessage("c", "j", "default", 5),
        RunMessage("d", "j", "default", 1),
    ]
    for bundle in bundles(mixed * 40, 50):
        assert len({(m.pool, m.priority) for m in bundle}) == 1


def test_bundle_is_a_url_option_checked_like_the_others() -> None:
    assert parse_url("amqp://h/?bundle=1")[1].bundle == 1
    assert parse_url("amqp://h/")[1].bundle == 50
    with pytest.raises(ConfigError, match="bundle must be between 1 and 1000"):
        RabbitMQBroker("amqp://guest:guest@127.0.0.1/?bundle=0")


def test_a_burst_travels_as_few_messages_and_every_run_arrives_once() -> None:
    async def body() -> None:
        async with proxied() as (_, broker):
            await broker.start()
            burst = messages(800)
            await broker.publish(burst)
            assert await queue_depth(broker) == 16  # 800 runs in bundles of 50
            got = await take(broker, 800)
            assert Counter(d.message.run_id for d in got) == Counter(m.run_id for m in burst)
            await broker.ack(got)
            await asyncio.sleep(0.2)
            assert await queue_depth(broker) == 0
            assert await broker.get(["default"], 100, 0.3) == []

    run(body())


def test_a_bundle_is_settled_only_when_every_run_in_it_is() -> None:
    async def body() -> None:
        async with proxied(prefetch=1) as (_, broker):
            await broker.start()
            burst = messages(32)  # two bundles of 2
            await broker.publish(burst)
            assert await queue_depth(broker) == 16
            first = await broker.get(["default"], 10, 5)
            assert len(first) == 2  # prefetch 1: one message, the bundle's two runs
            await broker.ack(first[:1])
            await broker.ack(first[:1])  # a second ack of the same run changes nothing
            await asyncio.sleep(0.2)
            # the bundle is still held: with prefetch 1, nothing more comes
            assert await broker.get(["default"], 10, 0.3) == []
            await broker.ack(first[1:])
            second = await broker.get(["default"], 10, 5)
            assert len(second) == 2 and {d.message.run_id for d in second}.isdisjoint(
                {d.message.run_id for d in first}
            )

    run(body())


def test_a_run_handed_back_from_a_bundle_comes_back_alone() -> None:
    async def body() -> None:
        async with proxied() as (_, broker):
            await broker.start()
            burst = messages(64)  # bundles of 4
            await broker.publish(burst)
            got = await take(broker, 64)
            back = got[0]
            await broker.nack([back])
            await broker.ack(got[1:])
            again = await take(broker, 1)
            assert [d.message.run_id for d in again] == [back.message.run_id]
            await broker.ack(again)
            await asyncio.sleep(0.2)
            assert await queue_depth(broker) == 0
            assert await broker.get(["default"], 100, 0.3) == []

    run(body())


def test_a_consumer_that_dies_holding_part_of_a_bundle_loses_none_of_it() -> None:
    async def body() -> None:
        async with proxied() as (proxy, broker):
            await broker.start()
            burst = messages(64)
            await broker.publish(burst)
            got = await take(broker, 64)
            await broker.ack(got[:30])  # bundles of 4: seven settle, the eighth is half acked
            await asyncio.sleep(0.3)  # the acks are on the wire before the cut
            proxy.cut()  # the connection dies before the other acks
            # Every run of every bundle not settled comes back, the two acked runs of the
            # half-settled bundle too (their duplicates are dropped at claim time).
            redelivered = await take(broker, 36, timeout=15)
            assert sorted(d.message.run_id for d in redelivered) == sorted(
                d.message.run_id for d in got[28:]
            )
            await broker.ack(redelivered)

    run(body())
