"""The Redis store against a real Redis server: what the conformance suite cannot see.

Each test gets its own key prefix (``?prefix=tss-test-<uuid>``) and deletes its keys after,
so it can share a server (and a database) with anything else. Without a server these tests
skip with how to start one; in CI they fail instead (``tests/servers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime

import orjson
import pytest
import redis

from tests.servers import REDIS_START, REDIS_URL, require_server, run
from tss.core import fencing
from tss.core.firing import JobFiring, fire_job, made_ahead, rewound
from tss.core.models import Job, JobSpec, Outcome, RetryPolicy, Run, RunPolicy
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.errors import ConfigError, Conflict, StoreError
from tss.store.redis import RedisStore, scripts

from ..conformance.support import ACTOR, new_run, seconds


@pytest.fixture(scope="module")
def server() -> str:
    require_server("Redis", REDIS_URL, REDIS_START)
    return REDIS_URL


@pytest.fixture
def raw(server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def url(server: str, raw: redis.Redis) -> Iterator[Callable[[], str]]:
    """``url()``: a store URL with a prefix of this test's own (a new one per call)."""
    prefixes: list[str] = []

    def make() -> str:
        prefixes.append(f"tss-test-{uuid.uuid4().hex}")
        return f"{server}?prefix={prefixes[-1]}"

    yield make
    for prefix in prefixes:
        keys = list(raw.scan_iter(match=f"{prefix}:*", count=1000))
        if keys:
            raw.unlink(*keys)


def test_url_options_are_checked_naming_the_key() -> None:
    for bad in ("redis://127.0.0.1/0?bogus=1", "redis://127.0.0.1/0?prefix="):
        with pytest.raises(ConfigError) as info:
            RedisStore(bad)
        assert info.value.field == "store.url"
    store = RedisStore("redis://127.0.0.1/0?prefix=mine&socket_timeout=3")
    assert (store.prefix, store.keys) == ("mine", "mine:store:")
    assert RedisStore("rediss://127.0.0.1/0").keys == "tss:store:"


def test_an_unreachable_server_is_one_line_naming_the_url_without_its_password() -> None:
    store = RedisStore("redis://someone:s3cret@127.0.0.1:1/0")
    with pytest.raises(StoreError) as info:
        run(store.start())
    message = str(info.value)
    assert "127.0.0.1:1" in message and "***" in message and "s3cret" not in message
    assert "\n" not in message


def test_prefixes_keep_stores_apart_and_every_key_is_under_its_prefix(
    url: Callable[[], str], raw: redis.Redis
) -> None:
    first, second = url(), url()

    async def body() -> None:
        a, b = RedisStore(first), RedisStore(second)
        await a.start()
        await b.start()
        await a.create_job(JobSpec(name="only-in-a", type="noop"), None)
        await a.create_runs([new_run("only-in-a")], actor=ACTOR)
        assert (await b.list_jobs()).items == []
        assert (await b.list_runs()).items == []
        assert await b.last_event_id() == 0
        await a.close()
        await b.close()
        await a.close()  # idempotent

    run(body())
    prefix = first.rpartition("prefix=")[2]
    keys = list(raw.scan_iter(match=f"{prefix}*", count=1000))
    assert keys and all(key.startswith(f"{prefix}:store:") for key in keys)


def test_keys_of_another_layout_are_refused(url: Callable[[], str], raw: redis.Redis) -> None:
    store_url = url()
    raw.set(f"{store_url.rpartition('prefix=')[2]}:store:schema", "99")
    store = RedisStore(store_url)
    with pytest.raises(StoreError, match="layout"):
        run(store.start())


def test_a_create_sent_again_finds_the_first(url: Callable[[], str]) -> None:
    """A call retried after its reply was lost must not fail or insert twice."""
    store_url = url()

    async def body() -> None:
        store = RedisStore(store_url)
        await store.start()
        new = new_run("a")
        [(first, created)] = await store.create_runs([new], actor=ACTOR)
        [(again, created_again)] = await store.create_runs([new], actor=ACTOR)
        assert created and not created_again and again == first
        assert len((await store.list_runs()).items) == 1
        clash = new_run("b")
        clash.id = new.id  # another job's run under a taken id: a real conflict
        with pytest.raises(Conflict):
            await store.create_runs([new_run("b"), clash], actor=ACTOR)
        assert len((await store.list_runs()).items) == 1  # refused whole
        await store.close()

    run(body())


def test_a_job_changed_between_read_and_fire_is_planned_again(
    url: Callable[[], str], raw: redis.Redis
) -> None:
    """The optimistic fire: a plan made on a view that no longer holds is not applied; the
    job is read again and planned on what is there now."""
    store_url = url()
    job_key = f"{store_url.rpartition('prefix=')[2]}:store:job:j"
    seen: list[int] = []

    def meddling(job: Job, at: datetime, active: int) -> JobFiring:
        seen.append(job.version)
        if len(seen) == 1:  # someone edits the job while this scheduler plans
            raw.hincrby(job_key, "version", 1)
        return fire_job(job, at, active)

    async def body() -> None:
        store = RedisStore(store_url)
        await store.start()
        due = (await store.now()) - seconds(1)
        await store.create_job(JobSpec(name="j", type="noop", schedule={"every": 60}), due)
        created, fired = await store.fire_due_jobs(meddling, limit=10, actor="scheduler")
        assert seen == [1, 2]
        assert fired == 1 and len(created) == 1
        assert (await store.get_job("j")).next_fire_at == due + seconds(60)
        await store.close()

    run(body())


def test_the_lua_fencing_decides_as_core_fencing(raw: redis.Redis) -> None:
    """fencing.lua's holds and may_finish against tss.core.fencing, case by case: every
    state and target, the attempt that holds the run and others, no lease, a lease that has
    run out, ends now or runs on, for a worker and for the reaper."""
    now = 1_000_000
    cases = [
        (state, 2, held, lease, target, expired)
        for state in RunState
        for held in (1, 2, 3)
        for lease in (None, now - 1, now, now + 1)
        for target in RunState
        for expired in (False, True)
    ]
    # As the scripts see them: numbers as text, no lease as false.
    lua_cases = [
        [
            *(state.value, str(attempt), str(held)),
            *(False if lease is None else str(lease), target.value, expired),
        ]
        for state, attempt, held, lease, target, expired in cases
    ]
    body = """
local now, out = tonumber(ARGV[2]), {}
for i, c in ipairs(cjson.decode(ARGV[1])) do
  local held = holds(c[1], c[2], c[3]) and 1 or 0
  local finish = may_finish(c[1], c[2], c[4], c[3], c[5], c[6], now) and 1 or 0
  out[i] = held * 2 + finish
end
return out
"""
    got = raw.eval(scripts.PARTS["fencing"] + body, 0, orjson.dumps(lua_cases), now)
    want = [
        fencing.holds(state, attempt, held) * 2
        + fencing.may_finish(
            state, attempt, lease, Outcome("r", held, target, require_expired=expired), now
        )
        for state, attempt, held, lease, target, expired in cases
    ]
    assert got == want
    assert 0 < sum(want) < 3 * len(want)  # both answers occur for both rules


def _run(trigger: str, state: RunState, not_before: int | None) -> Run:
    at = from_micros(0)
    return Run(
        id="r", job="j", state=state, trigger=trigger, params={}, priority=0, pool="default",
        policy=RunPolicy("noop", None, "auto", RetryPolicy()), attempt=0, created_at=at,
        updated_at=at, not_before=None if not_before is None else from_micros(not_before),
    )  # fmt: skip


def test_the_lua_made_ahead_decides_as_core_firing(raw: redis.Redis) -> None:
    """lib.lua's made_ahead (the fires a pause, an edit or a delete withdraws) against
    tss.core.firing.made_ahead: every trigger kind, state and not_before case."""
    now = 1_000_000
    cases = [
        (trigger, state, not_before)
        for trigger in ("schedule", "manual", "retry")
        for state in RunState
        for not_before in (None, now - 1, now, now + 1)
    ]
    lua_cases = [
        [trigger, state.value, False if not_before is None else str(not_before)]
        for trigger, state, not_before in cases
    ]
    body = """
local out = {}
for i, c in ipairs(cjson.decode(ARGV[2])) do
  out[i] = made_ahead({trigger = c[1], state = c[2], nb = c[3]}, ARGV[3]) and 1 or 0
end
return out
"""
    lua = scripts.PARTS["head"] + scripts.PARTS["runs"] + body
    got = raw.eval(lua, 0, "unused:", orjson.dumps(lua_cases), str(now))
    at = from_micros(now)
    want = [
        int(made_ahead(_run(trigger, state, not_before), at))
        for trigger, state, not_before in cases
    ]
    assert got == want
    assert 0 < sum(want) < len(want)


def test_the_lua_rewound_decides_as_core_firing(raw: redis.Redis) -> None:
    """lib.lua's rewound (a job's next fire once its fires made ahead were withdrawn)
    against tss.core.firing.rewound, with and without either time."""
    times = (None, 5, 10, 15)
    cases = [(next_fire, earliest) for next_fire in times for earliest in times]
    body = """
local out = {}
for i, c in ipairs(cjson.decode(ARGV[2])) do
  local got = rewound(c[1], c[2])
  out[i] = got and tonumber(got) or -1
end
return out
"""
    lua_cases = [["" if n is None else str(n), False if e is None else str(e)] for n, e in cases]
    lua = scripts.PARTS["head"] + scripts.PARTS["runs"] + body
    got = raw.eval(lua, 0, "unused:", orjson.dumps(lua_cases))
    want = []
    for next_fire, earliest in cases:
        at = rewound(
            None if next_fire is None else from_micros(next_fire),
            [] if earliest is None else [from_micros(earliest)],
        )
        want.append(-1 if at is None else to_micros(at))
    assert got == want
