"""The Redis broker against a real Redis server.

Each test gets its own key prefix (``?prefix=tss-test-<uuid>``) and deletes its keys after,
so it can share a server (and a database) with anything else. Without a server these tests
skip with how to start one; in CI they fail instead (``tests/servers.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from tests.servers import REDIS_START, REDIS_URL, require_server, run
from tss.broker.base import Delivery, RunMessage
from tss.broker.redis import GROUP, RedisBroker
from tss.errors import BrokerError, ConfigError

Url = Callable[..., str]


@pytest.fixture(scope="session")
def redis_server() -> str:
    require_server("Redis", REDIS_URL, REDIS_START)
    return REDIS_URL


@pytest.fixture
def raw(redis_server: str) -> Iterator[redis.Redis]:
    """A plain client on the test server, to look at (and break) what the broker did."""
    client = redis.Redis.from_url(redis_server)
    yield client
    client.close()


@pytest.fixture
def url(redis_server: str, raw: redis.Redis) -> Iterator[Url]:
    """``url(reclaim_after=1)``: the test server's URL with this test's own key prefix."""
    prefix = f"tss-test-{uuid.uuid4().hex}"

    def make(**options: Any) -> str:
        query = "&".join(f"{k}={v}" for k, v in {"prefix": prefix, **options}.items())
        return f"{redis_server}?{query}"

    yield make
    keys = list(raw.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        raw.delete(*keys)


def msg(run_id: str, pool: str = "default", priority: int = 0) -> RunMessage:
    return RunMessage(run_id, job=f"job-{run_id}", pool=pool, priority=priority)


async def opened(url: str) -> RedisBroker:
    broker = RedisBroker(url)
    await broker.start()
    return broker


def ids(deliveries: list[Delivery]) -> list[str]:
    return [d.message.run_id for d in deliveries]


def kill_connections(raw: redis.Redis, *brokers: RedisBroker) -> int:
    """CLIENT KILL every connection of these brokers (and only theirs)."""
    names = {b.client_name for b in brokers}
    killed = 0
    for client in raw.client_list():
        if client.get("name") in names:
            killed += raw.client_kill_filter(_id=client["id"])
    return killed


def server_time(raw: redis.Redis) -> float:
    """The Redis server's clock, in seconds."""
    seconds, microseconds = raw.time()
    return seconds + microseconds / 1e6


def backlog(raw: redis.Redis, broker: RedisBroker, pools: list[str]) -> tuple[int, int]:
    """(entries in the pools' streams, entries pending in their groups)."""
    entries = pending = 0
    for pool in pools:
        for priority in range(10):
            key = broker.stream_key(pool, priority)
            if raw.exists(key):
                entries += raw.xlen(key)
                pending += raw.xpending(key, GROUP)["pending"]
    return entries, pending


# -- the port's contract ---------------------------------------------------------------------


def test_round_trip_then_ack_removes_the_entries(url: Url, raw: redis.Redis) -> None:
    async def body() -> None:
        broker = await opened(url())
        sent = [RunMessage("r1", "a", "default", 3, 1.5, 256), msg("r2"), msg("r3")]
        await broker.publish(sent)
        got = await broker.get(["default"], 10, timeout=1)
        assert sorted((d.message for d in got), key=lambda m: m.run_id) == sent
        assert backlog(raw, broker, ["default"]) == (3, 3)
        await broker.ack(got)
        assert backlog(raw, broker, ["default"]) == (0, 0)
        # Nothing comes back, not even to a consumer that reclaims idle entries at once.
        other = await opened(url(reclaim_after=0.05))
        await asyncio.sleep(0.1)
        assert await other.get(["default"], 10, timeout=0.2) == []
        await other.close()
        await broker.close()

    run(body())


def test_get_waits_for_the_first_message_and_no_longer(url: Url) -> None:
    async def body() -> None:
        broker = await opened(url())
        publisher = await opened(url())
        # Nothing once the timeout is over (the bound only catches a get that hangs).
        assert await asyncio.wait_for(broker.get(["default"], 5, timeout=0.3), 10) == []
        # Still waiting 0.35 s into a 60 s timeout, then woken by the first message: not by
        # the timeout nor by a full batch, which the bound would not wait for.
        waiting = asyncio.create_task(broker.get(["default"], 5, timeout=60))
        await asyncio.sleep(0.35)
        assert not waiting.done(), "get answered before its timeout with nothing to hand out"
        await publisher.publish([msg("late")])
        got = await asyncio.wait_for(waiting, 10)
        assert ids(got) == ["late"]
        await broker.ack(got)
        await publisher.close()
        await broker.close()

    run(body())


def test_highest_priority_first_across_pools_within_max_count(url: Url) -> None:
    async def body() -> None:
        broker = await opened(url())
        await broker.publish(
            [msg("a1", "a", 1), msg("b9", "b", 9), msg("a5", "a", 5), msg("b0", "b", 0)]
        )
        await broker.publish([msg("c9", "c", 9)])  # a pool this consumer does not serve
        first = await broker.get(["a", "b"], 2, timeout=1)
        assert ids(first) == ["b9", "a5"]
        rest = await broker.get(["a", "b"], 10, timeout=1)
        assert ids(rest) == ["a1", "b0"]
        await broker.ack(first + rest)
        await broker.close()

    run(body())


def test_a_late_high_priority_run_overtakes_a_backlog(url: Url) -> None:
    async def body() -> None:
        broker = await opened(url())
        await broker.publish([msg(f"low{i}", "bulk", 0) for i in range(200)])
        await broker.publish([msg("urgent", "other", 9)])
        got = await broker.get(["bulk", "other"], 1, timeout=1)
        assert ids(got) == ["urgent"]
        await broker.ack(got)
        await broker.close()

    run(body())


def test_pools_of_one_priority_take_turns(url: Url) -> None:
    async def body() -> None:
        broker = await opened(url())
        await broker.publish([msg(f"{pool}{i}", pool, 4) for pool in "xy" for i in range(20)])
        got: list[Delivery] = []
        for _ in range(6):
            got += await broker.get(["x", "y"], 1, timeout=1)
        assert {d.message.pool for d in got} == {"x", "y"}
        await broker.ack(got)
        await broker.close()

    run(body())


def test_nack_hands_the_message_to_another_consumer_at_once(url: Url, raw: redis.Redis) -> None:
    async def body() -> None:
        first = await opened(url())
        second = await opened(url())
        await first.publish([msg("r1", priority=7)])
        (held,) = await first.get(["default"], 10, timeout=1)
        assert await second.get(["default"], 10, timeout=0) == []
        await first.nack([held])
        # At once: there as soon as nack returns (a get that does not wait), not after the
        # idle time (30 s) that would have reclaimed it.
        again = await second.get(["default"], 10, timeout=0)
        assert ids(again) == ["r1"]
        assert again[0].message == held.message
        assert backlog(raw, first, ["default"]) == (1, 1)  # moved, not copied
        await second.ack(again)
        assert backlog(raw, first, ["default"]) == (0, 0)
        await first.close()
        await second.close()

    run(body())


def test_close_returns_what_was_held(url: Url) -> None:
    async def body() -> None:
        first = await opened(url())
        second = await opened(url())
        await first.publish([msg("r1"), msg("r2")])
        assert len(await first.get(["default"], 10, timeout=1)) == 2
        await first.close()
        got = await second.get(["default"], 10, timeout=1)
        assert sorted(ids(got)) == ["r1", "r2"]
        await second.ack(got)
        await second.close()

    run(body())


# -- dead consumers ----------------------------------------------------------------------------

DEAD_CONSUMER = """
import asyncio, sys
from tss.broker.redis import RedisBroker

async def main():
    broker = RedisBroker(sys.argv[1])
    await broker.start()
    got = await broker.get(["default"], int(sys.argv[2]), timeout=5)
    print(" ".join(d.message.run_id for d in got), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def test_entries_of_a_killed_consumer_are_reclaimed_after_the_idle_time(
    url: Url, raw: redis.Redis
) -> None:
    async def body() -> None:
        live = await opened(url(reclaim_after=1))
        await live.publish([msg("r1"), msg("r2"), msg("r3")])
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DEAD_CONSUMER, url(reclaim_after=1), "2",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert child.stdout is not None
        try:
            taken = (await child.stdout.readline()).decode().split()
        finally:
            child.kill()  # SIGKILL: no close, no nack, no renewal
            await child.wait()
        assert len(taken) == 2
        killed_at = server_time(raw)  # Redis's clock: the one that counts entries' idle time
        rest = await live.get(["default"], 10, timeout=0)
        assert len(rest) == 1 and rest[0].message.run_id not in taken
        reclaimed: list[Delivery] = []

        async def reclaim() -> None:
            while len(reclaimed) < 2:
                reclaimed.extend(await live.get(["default"], 10, timeout=1))

        await asyncio.wait_for(reclaim(), 30)  # the bound only catches a hang
        assert sorted(ids(reclaimed)) == sorted(taken)
        # only once they were idle long enough (reclaim_after=1, checked every 0.5 s)
        assert server_time(raw) - killed_at >= 0.5
        await live.ack(rest + reclaimed)
        assert backlog(raw, live, ["default"]) == (0, 0)
        await live.close()

    run(body())


def test_a_live_consumer_keeps_what_it_holds_however_long(url: Url) -> None:
    async def body() -> None:
        holder = await opened(url(reclaim_after=0.3))
        other = await opened(url(reclaim_after=0.3))
        await holder.publish([msg("long")])
        held = await holder.get(["default"], 1, timeout=1)
        assert ids(held) == ["long"]
        # Five reclaim periods: the holder renews the entry, so nobody takes it over.
        assert await other.get(["default"], 10, timeout=1.5) == []
        await holder.ack(held)
        await holder.close()
        await other.close()

    run(body())


# -- bad entries and bad servers -----------------------------------------------------------------


def test_malformed_entries_go_to_the_dead_letter_stream(url: Url, raw: redis.Redis) -> None:
    async def body() -> None:
        broker = await opened(url())
        key = broker.stream_key("default", 0)
        raw.xadd(key, {"m": "not json"})
        raw.xadd(key, {"m": '{"v": 1, "run_id": "x"}'})
        raw.xadd(key, {"other": "field"})
        await broker.publish([msg("good")])
        got = await broker.get(["default"], 10, timeout=1)
        assert ids(got) == ["good"]
        dead = raw.xrange(broker.dead_key)
        assert len(dead) == 3
        reasons = [fields[b"error"].decode() for _, fields in dead]
        assert "not JSON" in reasons[0]
        assert "lacks field 'job'" in reasons[1]
        assert "no 'm' field" in reasons[2]
        assert dead[0][1][b"field:m"] == b"not json"
        assert dead[0][1][b"stream"] == key.encode()
        await broker.ack(got)
        assert backlog(raw, broker, ["default"]) == (0, 0)
        assert await broker.get(["default"], 10, timeout=0) == []
        await broker.close()

    run(body())


def test_an_unreachable_server_is_one_line_naming_the_url_without_password() -> None:
    async def body() -> None:
        broker = RedisBroker("redis://:s3cret@127.0.0.1:1/0?prefix=tss-test")
        await broker.start()  # logs and carries on: the worker and scheduler will retry
        for attempt in (
            broker.ping(),
            broker.publish([msg("r1")]),
            broker.get(["default"], 1, timeout=0.1),
        ):
            with pytest.raises(BrokerError) as caught:
                await attempt
            text = str(caught.value)
            assert "redis://:***@127.0.0.1:1/0" in text
            assert "s3cret" not in text and "\n" not in text
            assert "check that Redis is running" in text
        await broker.close()

    run(body())


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("colour=blue", "unknown option 'colour'"),
        ("reclaim_after=-1", "must be positive"),
        ("reclaim_after=soon", "a number was expected"),
        ("prefix=", "non-empty"),
    ],
)
def test_bad_options_in_the_url_are_config_errors(query: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RedisBroker(f"redis://:pw@127.0.0.1:6379/0?{query}")
    assert words in str(caught.value)
    assert caught.value.field == "broker.url"
    assert ":pw@" not in str(caught.value)


# -- connection loss -------------------------------------------------------------------------------


def test_connections_killed_midway_lose_no_message(url: Url, raw: redis.Redis) -> None:
    total = 300

    async def body() -> None:
        publisher = await opened(url(reclaim_after=1))
        consumer = await opened(url(reclaim_after=1))
        sent = [msg(f"r{i:03}", priority=i % 10) for i in range(total)]
        received: set[str] = set()
        kills = 0

        async def publish() -> None:
            for i in range(0, total, 10):
                while True:  # the scheduler's outbox does this: publish again until taken
                    try:
                        await publisher.publish(sent[i : i + 10])
                        break
                    except BrokerError:
                        await asyncio.sleep(0.05)
                await asyncio.sleep(0.03)

        async def consume() -> None:
            while len(received) < total:
                try:
                    got = await consumer.get(["default"], 7, timeout=0.2)
                except BrokerError:
                    await asyncio.sleep(0.05)
                    continue
                received.update(ids(got))
                # A failed ack is the worker's case too: the entries were done with; if the
                # ack did not reach Redis they come back after reclaim_after and are acked then.
                with contextlib.suppress(BrokerError):
                    await consumer.ack(got)

        async def kill() -> None:
            nonlocal kills
            for _ in range(10):
                await asyncio.sleep(0.1)
                kills += await asyncio.to_thread(kill_connections, raw, publisher, consumer)

        await asyncio.gather(publish(), consume(), kill())
        assert kills >= 5  # connections were killed while messages flowed
        assert received == {m.run_id for m in sent}
        deadline = time.monotonic() + 5
        while backlog(raw, consumer, ["default"]) != (0, 0):
            # An entry whose reply died with a connection was delivered anyway (it is in
            # `received` through a reclaim) or waits for one: the backlog drains.
            assert time.monotonic() < deadline, backlog(raw, consumer, ["default"])
            await consumer.ack(await consumer.get(["default"], 10, timeout=0.2))
        await publisher.close()
        await consumer.close()

    run(body(), timeout=60)
