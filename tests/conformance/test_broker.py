"""The broker port, on every broker in :data:`BROKERS`: what the scheduler and the worker
rely on. Pools a test reads from are named through ``factory.messages`` (a count of 0
names one without making messages), so the factory can clean up after it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tss.broker.base import Broker, Delivery, RunMessage

from .brokers import BROKERS, BrokerFactory

#: long enough for any broker to hand over what it has; a passing test never waits it out
PATIENCE = 5.0


@pytest.fixture(params=list(BROKERS), ids=list(BROKERS))
def factory(
    request: pytest.FixtureRequest, tmp_path: Path, run: Callable[[Awaitable[None]], None]
) -> Iterator[BrokerFactory]:
    made = BROKERS[request.param](tmp_path)
    yield made
    run(made.close())


async def drain(
    broker: Broker, pools: Sequence[str], count: int, *, max_count: int = 100
) -> list[Delivery]:
    """Get until ``count`` deliveries came (or PATIENCE ran out)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    got: list[Delivery] = []
    while len(got) < count and (remaining := deadline - loop.time()) > 0:
        got += await broker.get(pools, min(max_count, count - len(got)), remaining)
    return got


def ids(deliveries: Sequence[Delivery]) -> list[str]:
    return [d.message.run_id for d in deliveries]


async def done(factory: BrokerFactory, broker: Broker, deliveries: Sequence[Delivery]) -> None:
    """What a worker does with runs it took: claim, record, then ack."""
    await factory.claimed(deliveries)
    await broker.ack(deliveries)


async def test_a_published_message_comes_back_as_it_was_sent(factory: BrokerFactory) -> None:
    broker = await factory.open()
    [message] = await factory.messages(pool="default", priority=3)
    await broker.publish([message])
    got = await drain(broker, ["default"], 1)
    assert [d.message for d in got] == [message]
    await done(factory, broker, got)


async def test_publishing_nothing_is_a_no_op(factory: BrokerFactory) -> None:
    broker = await factory.open()
    await factory.messages(0, pool="default")
    await broker.publish([])
    assert await broker.get(["default"], 10, 0.05) == []


async def test_a_consumer_in_another_process_gets_what_was_published(
    factory: BrokerFactory,
) -> None:
    publisher, consumer = await factory.open(), await factory.open()
    sent = await factory.messages(3, pool="default")
    await publisher.publish(sent)
    got = await drain(consumer, ["default"], 3)
    assert sorted(ids(got)) == sorted(m.run_id for m in sent)
    await done(factory, consumer, got)


async def test_highest_priority_comes_first(factory: BrokerFactory) -> None:
    broker = await factory.open()
    sent = []
    for priority in (0, 5, 9, 3, 5, 1):
        sent += await factory.messages(pool="default", priority=priority)
    await broker.publish(sent)
    got = await drain(broker, ["default"], len(sent))
    assert [d.message.priority for d in got] == [9, 5, 5, 3, 1, 0]
    await done(factory, broker, got)


async def test_priority_orders_the_messages_at_hand_across_pools(factory: BrokerFactory) -> None:
    broker = await factory.open()
    await factory.messages(0, pool="a")
    await factory.messages(0, pool="b")
    assert await broker.get(["a", "b"], 10, 0.05) == []  # consuming both pools already
    [a1] = await factory.messages(pool="a", priority=1)
    [a7] = await factory.messages(pool="a", priority=7)
    [b4] = await factory.messages(pool="b", priority=4)
    [b9] = await factory.messages(pool="b", priority=9)
    await broker.publish([a1, a7, b4, b9])
    await asyncio.sleep(0.3)  # all at hand
    got = await drain(broker, ["a", "b"], 4)
    assert ids(got) == [b9.run_id, a7.run_id, b4.run_id, a1.run_id]
    await done(factory, broker, got)


async def test_pools_are_kept_apart(factory: BrokerFactory) -> None:
    broker = await factory.open()
    in_a = await factory.messages(2, pool="a")
    in_b = await factory.messages(1, pool="b")
    await factory.messages(0, pool="c")
    await broker.publish([*in_a, *in_b])
    got_a = await drain(broker, ["a"], 2)
    assert sorted(ids(got_a)) == sorted(m.run_id for m in in_a)
    await done(factory, broker, got_a)
    assert await broker.get(["a"], 10, 0.2) == []
    assert await broker.get(["c"], 10, 0.2) == []
    got_b = await drain(broker, ["b"], 1)
    assert ids(got_b) == [in_b[0].run_id]
    await done(factory, broker, got_b)


async def test_get_returns_at_most_max_count(factory: BrokerFactory) -> None:
    broker = await factory.open()
    sent = await factory.messages(5, pool="default")
    await broker.publish(sent)
    first = await broker.get(["default"], 2, PATIENCE)
    assert 1 <= len(first) <= 2
    await done(factory, broker, first)  # a worker's room is what it holds: free it first
    rest: list[Delivery] = []
    while len(first) + len(rest) < 5:
        batch = await broker.get(["default"], 2, PATIENCE)
        assert 1 <= len(batch) <= 2
        await done(factory, broker, batch)
        rest += batch
    assert sorted(ids([*first, *rest])) == sorted(m.run_id for m in sent)


async def test_get_waits_about_the_timeout_then_returns_nothing(factory: BrokerFactory) -> None:
    broker = await factory.open()
    await factory.messages(0, pool="idle")
    await broker.get(["idle"], 10, 0.01)  # connect and subscribe first
    # That it waits rather than answering at once: the next test. The bound only catches a
    # get that does not end when its timeout does.
    assert await asyncio.wait_for(broker.get(["idle"], 10, 0.4), 0.4 + PATIENCE) == []


async def test_get_wakes_up_for_a_message_published_while_it_waits(
    factory: BrokerFactory,
) -> None:
    broker = await factory.open()
    await factory.messages(0, pool="default")
    assert await broker.get(["default"], 10, 0.01) == []

    # A timeout far longer than the test's patience: only a get that wakes up for the
    # message returns it in time, and one that ended early would have returned nothing.
    waiting = asyncio.create_task(broker.get(["default"], 10, 60))
    await asyncio.sleep(0.35)
    assert not waiting.done(), "get answered before its timeout with nothing to hand out"
    [message] = await factory.messages(pool="default")
    await broker.publish([message])
    got = await asyncio.wait_for(waiting, PATIENCE)
    assert ids(got) == [message.run_id]
    await done(factory, broker, got)


async def test_a_nacked_message_is_delivered_again(factory: BrokerFactory) -> None:
    broker = await factory.open()
    [message] = await factory.messages(pool="default")
    await broker.publish([message])
    first = await drain(broker, ["default"], 1)
    assert ids(first) == [message.run_id]
    await broker.nack(first)
    again = await drain(broker, ["default"], 1)
    assert [d.message for d in again] == [message]
    await done(factory, broker, again)


async def test_nacking_is_not_a_failed_delivery(factory: BrokerFactory) -> None:
    if factory.max_redeliveries is None:
        pytest.skip("this broker has no redelivery limit")
    broker = await factory.open()
    [message] = await factory.messages(pool="default")
    await broker.publish([message])
    for _ in range(factory.max_redeliveries + 2):
        got = await drain(broker, ["default"], 1)
        assert ids(got) == [message.run_id]
        await broker.nack(got)
    got = await drain(broker, ["default"], 1)
    assert ids(got) == [message.run_id]
    await done(factory, broker, got)


async def test_acked_messages_are_gone_for_every_consumer(factory: BrokerFactory) -> None:
    broker = await factory.open()
    sent = await factory.messages(3, pool="default")
    await broker.publish(sent)
    got = await drain(broker, ["default"], 3)
    await done(factory, broker, got)
    assert await broker.get(["default"], 10, 0.2) == []
    await factory.crash(broker)  # an ack that was not really made would come back now
    other = await factory.open()
    assert await other.get(["default"], 10, 0.3) == []


async def test_unacked_messages_survive_their_consumer(factory: BrokerFactory) -> None:
    first = await factory.open()
    if not first.durable:
        pytest.skip("not durable: the scheduler re-publishes queued runs when it starts")
    sent = await factory.messages(3, pool="default")
    await first.publish(sent)
    held = await first.get(["default"], 1, PATIENCE)  # handed out, never acked
    assert len(held) == 1
    await first.close()
    second = await factory.open()
    got = await drain(second, ["default"], 3)
    assert sorted(ids(got)) == sorted(m.run_id for m in sent)
    await done(factory, second, got)


async def test_published_messages_outlive_the_publisher(factory: BrokerFactory) -> None:
    publisher = await factory.open()
    if not publisher.durable:
        pytest.skip("not durable: the scheduler re-publishes queued runs when it starts")
    sent = await factory.messages(2, pool="default")
    await publisher.publish(sent)
    await publisher.close()
    consumer = await factory.open()
    got = await drain(consumer, ["default"], 2)
    assert sorted(ids(got)) == sorted(m.run_id for m in sent)
    await done(factory, consumer, got)


async def test_a_batch_of_a_thousand(factory: BrokerFactory) -> None:
    broker = await factory.open()
    sent = await factory.messages(1000, pool="bulk")
    # The bound only catches a hang: throughput is measured in bench/.
    await asyncio.wait_for(broker.publish(sent), 30)
    got: list[Delivery] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while len(got) < 1000 and loop.time() < deadline:
        batch = await broker.get(["bulk"], 250, 1.0)
        assert len(batch) <= 250
        got += batch
        await done(factory, broker, batch)
    assert len(got) == 1000
    assert sorted(ids(got)) == sorted(m.run_id for m in sent)


async def test_a_malformed_message_is_dead_lettered_and_never_delivered(
    factory: BrokerFactory,
) -> None:
    if not factory.raw:
        pytest.skip("raw messages cannot be put in this broker")
    broker = await factory.open()
    [good] = await factory.messages(pool="default")
    bad = [
        b"not json",
        b'{"v": 2, "run_id": "x"}',
        b'{"v": 1, "run_id": 5, "job": "j", "pool": "default", "priority": 0,'
        b' "cores": 0, "memory": 0}',
        RunMessage("r1", "j", "elsewhere").to_json(),  # in the wrong pool's queue
    ]
    for body in bad:
        await factory.inject("default", body)
    await broker.publish([good])
    got = await drain(broker, ["default"], 1)
    assert ids(got) == [good.run_id]
    assert await broker.get(["default"], 10, 0.3) == []
    dead = await wait_for_dead_letters(factory, len(bad))
    assert sorted(dead) == sorted(bad)
    await done(factory, broker, got)


async def test_a_message_that_keeps_losing_its_consumer_is_dead_lettered(
    factory: BrokerFactory,
) -> None:
    limit = factory.max_redeliveries
    if limit is None or not factory.raw:
        pytest.skip("this broker has no redelivery limit")
    publisher = await factory.open()
    [message] = await factory.messages(pool="default")
    await publisher.publish([message])
    for _ in range(limit + 1):  # the first delivery, then `limit` returns
        consumer = await factory.open()
        got = await drain(consumer, ["default"], 1)
        assert ids(got) == [message.run_id]
        await factory.crash(consumer)
    consumer = await factory.open()
    assert await consumer.get(["default"], 10, 0.5) == []
    dead = await wait_for_dead_letters(factory, 1)
    assert [RunMessage.from_json(body) for body in dead] == [message]


async def wait_for_dead_letters(factory: BrokerFactory, count: int) -> list[bytes]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    dead: list[bytes] = []
    while len(dead) < count and loop.time() < deadline:
        dead += await factory.dead_letters()
        await asyncio.sleep(0.05)
    return dead


async def test_ping_answers_when_connected(factory: BrokerFactory) -> None:
    broker = await factory.open()
    await broker.ping()


async def test_start_and_close_are_idempotent(factory: BrokerFactory) -> None:
    broker = await factory.open()
    await broker.start()
    [message] = await factory.messages(pool="default")
    await broker.publish([message])
    got = await drain(broker, ["default"], 1)
    await done(factory, broker, got)
    await broker.close()
    await broker.close()
