"""What the conformance suite cannot show for PostgreSQL: a server that cannot be reached,
connections the server drops, NOTIFY waking the store broker instead of polling, text the
server cannot hold, and a database whose collation does not sort by code point."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.servers import ADMIN_URL, PgDatabases, terminate_backends, url_for
from tss.broker import store as store_broker
from tss.broker.store import StoreBroker
from tss.core.ids import new_id
from tss.core.models import JobFilter, NewRun, Outcome, RetryPolicy, RunPolicy
from tss.core.states import RunState
from tss.errors import ConfigError, StoreError
from tss.store.postgres import PostgresStore


def _queued(pool: str = "default") -> NewRun:
    policy = RunPolicy("noop", None, "auto", RetryPolicy(max=0))
    return NewRun(new_id(), "job-a", RunState.QUEUED, "manual", {}, 0, pool, policy)


def test_an_unreachable_server_is_one_line_naming_the_url_without_its_password() -> None:
    async def body() -> None:
        store = PostgresStore("postgresql://tss:s3cret@127.0.0.1:1/tss")
        with pytest.raises(StoreError) as info:
            await store.start()
        message = str(info.value)
        assert "\n" not in message
        assert "postgresql://tss:***@127.0.0.1:1/tss" in message
        assert "s3cret" not in message
        assert "check that the server is up" in message
        await store.close()

    asyncio.run(body())


def test_a_missing_database_says_so(pytestconfig: pytest.Config) -> None:
    PgDatabases.shared(pytestconfig).require()

    async def body() -> None:
        store = PostgresStore(url_for(f"tss_missing_{uuid.uuid4().hex[:8]}"))
        with pytest.raises(StoreError) as info:
            await store.start()
        assert "does not exist" in str(info.value)
        assert "store.url names the right host, port, database" in str(info.value)

    asyncio.run(body())


def test_a_url_that_is_not_postgresql_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        PostgresStore("mysql://u:secret@host/db")
    assert info.value.field == "store.url"
    assert "secret" not in info.value.message


def test_dropped_connections_fail_one_call_at_most(pg_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_url)
        await store.start()
        try:
            [(run, _)] = await store.create_runs([_queued()], actor="t")
            assert terminate_backends(pg_url) >= 1
            # A read is tried again on a fresh connection: the caller sees nothing.
            assert (await store.get_run(run.id)).id == run.id
            terminate_backends(pg_url)
            try:
                await store.claim_runs([run.id], worker_id="w", lease=30)
            except StoreError as exc:  # a write is not repeated blindly: it may have landed
                assert "cannot reach the PostgreSQL store" in str(exc)
            claimed = await store.get_run(run.id)
            if claimed.state is RunState.QUEUED:
                await store.claim_runs([run.id], worker_id="w", lease=30)
            assert (await store.get_run(run.id)).attempt == 1
        finally:
            await store.close()

    asyncio.run(body())


def test_a_notice_wakes_the_store_broker_and_idle_workers_do_not_poll(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body() -> None:
        worker_side, scheduler_side = PostgresStore(pg_url), PostgresStore(pg_url)
        await worker_side.start()
        await scheduler_side.start()
        reads = 0
        fetch = worker_side.fetch_queued

        async def counted(*args: object, **kwargs: object) -> object:
            nonlocal reads
            reads += 1
            return await fetch(*args, **kwargs)  # type: ignore[arg-type]

        worker_side.fetch_queued = counted  # type: ignore[method-assign]
        broker = StoreBroker(worker_side)
        try:
            assert await broker.get(["default"], 10, timeout=0.2) == []
            reads = 0
            # Idle for 1.5 s: no notice, so no read (the safety net reads every 2 s).
            assert await broker.get(["default"], 10, timeout=1.5) == []
            assert reads <= 1
            # From here a broker reads the store once, then only on a notice (its safety
            # net would read again in a minute): a run it hands out within the bound below
            # came by its notice, not by a poll.
            monkeypatch.setattr(store_broker, "_SAFETY_POLL", 60.0)
            broker = StoreBroker(worker_side)
            # A run queued in another pool does not wake this one.
            waiter = asyncio.create_task(broker.get(["default"], 10, timeout=60))
            await asyncio.sleep(0.1)
            await scheduler_side.create_runs([_queued("other")], actor="t")
            await asyncio.sleep(0.3)
            assert not waiter.done()
            [(run, _)] = await scheduler_side.create_runs([_queued()], actor="t")
            [delivery] = await asyncio.wait_for(waiter, 10)
            assert delivery.message.run_id == run.id
        finally:
            await worker_side.close()
            await scheduler_side.close()

    asyncio.run(body())


async def _notice_within(store: PostgresStore, channel: str, timeout: float) -> bool:
    """Whether a NOTIFY on ``channel`` comes within ``timeout`` seconds."""
    event = await store.listen(channel)
    event.clear()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True


def test_the_listener_comes_back_after_its_connection_drops(pg_url: str) -> None:
    async def body() -> None:
        store, other = PostgresStore(pg_url), PostgresStore(pg_url)
        await store.start()
        await other.start()
        try:
            event = await store.listen("tss_runs")
            event.clear()
            terminate_backends(pg_url)
            # Set on reconnecting: what was sent meanwhile may be lost, so look again.
            await asyncio.wait_for(event.wait(), 5)
            event.clear()
            await asyncio.sleep(0.1)
            await other.create_runs([_queued()], actor="t")
            await asyncio.wait_for(event.wait(), 5)
            assert await _notice_within(store, "tss_wake", 0.1) is False
        finally:
            await store.close()
            await other.close()

    asyncio.run(body())


def test_nul_characters_in_output_are_replaced_not_fatal(pg_url: str) -> None:
    async def body() -> None:
        store = PostgresStore(pg_url)
        await store.start()
        try:
            [(run, _)] = await store.create_runs([_queued()], actor="t")
            [run] = await store.claim_runs([run.id], worker_id="w", lease=30)
            await store.save_logs([(run.id, 1, "a\x00b", "")])
            assert await store.get_logs(run.id) == ("a\ufffdb", "")
            done = Outcome(run.id, 1, RunState.SUCCEEDED, stdout="x\x00", reason="r\x00")
            assert await store.finish_runs([done], actor="w") == [True]
            assert await store.get_logs(run.id) == ("x\ufffd", "")
            assert (await store.get_run(run.id)).reason == "r\ufffd"
        finally:
            await store.close()

    asyncio.run(body())


@pytest.fixture
def icu_url(pytestconfig: pytest.Config) -> Iterator[str]:
    """A new empty database whose collation (ICU en-US) does not sort by code point."""
    databases = PgDatabases.shared(pytestconfig)
    databases.require()
    name = f"tss_t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            f'CREATE DATABASE "{name}" TEMPLATE template0 LOCALE_PROVIDER icu'
            " ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
        )
    databases.adopt(name)
    yield url_for(name)


def test_names_sort_by_code_point_whatever_the_database_collation(icu_url: str) -> None:
    from tests.conformance.support import spec

    async def body() -> None:
        store = PostgresStore(icu_url)
        await store.start()  # migrates the empty database
        try:
            names = ["B", "a", "a-z", "a.", "Z_x", "ab", "a9"]
            for name in names:
                await store.create_job(spec(name), None)
            listed = [job.name for job in (await store.list_jobs(limit=100)).items]
            assert listed == sorted(names)
            first = await store.list_jobs(limit=3)
            rest = await store.list_jobs(limit=100, cursor=first.next_cursor)
            assert [j.name for j in [*first.items, *rest.items]] == sorted(names)
            prefixed = await store.list_jobs(JobFilter(prefix="a-"), limit=100)
            assert [j.name for j in prefixed.items] == ["a-z"]
            assert (await store.list_jobs(JobFilter(prefix="a"), limit=100)).total == 5
        finally:
            await store.close()

    asyncio.run(body())


def test_changes_that_make_something_due_sooner_wake_the_schedulers(pg_url: str) -> None:
    from tests.conformance.support import spec

    async def body() -> None:
        store, other = PostgresStore(pg_url), PostgresStore(pg_url)
        await store.start()
        await other.start()
        try:
            wake = await store.listen("tss_wake")

            async def woke() -> bool:
                try:
                    await asyncio.wait_for(wake.wait(), 2)
                except TimeoutError:
                    return False
                wake.clear()
                return True

            wake.clear()
            soon = await other.now()
            await other.create_job(spec("unscheduled"), None)
            assert not await woke()
            await other.create_job(spec("j", schedule={"every": 60}), soon)
            assert await woke()
            job = await other.get_job("j")
            await other.update_job(job.spec, soon)
            assert await woke()
            await other.set_paused("j", True)
            assert not await woke()
            await other.set_paused("j", False)
            assert await woke()
            # A failed attempt to retry later: the scheduler must promote it on time.
            [(run, _)] = await other.create_runs([_queued()], actor="t")
            [run] = await other.claim_runs([run.id], worker_id="w", lease=30)
            retry = Outcome(run.id, 1, RunState.RETRYING, retry_delay=5)
            assert await other.finish_runs([retry], actor="w") == [True]
            assert await woke()
        finally:
            await store.close()
            await other.close()

    asyncio.run(body())


def test_a_sleeping_scheduler_wakes_on_a_job_made_elsewhere(pg_url: str) -> None:
    """A scheduler with nothing due sleeps up to ``max_sleep``; a job made due by another
    process must fire at once through ``tss_wake``, not when the sleep ends."""
    from tests.conformance.support import spec
    from tss.broker.local import LocalBroker
    from tss.config import SchedulerConfig
    from tss.scheduler.scheduler import Scheduler

    async def body() -> None:
        store, other = PostgresStore(pg_url), PostgresStore(pg_url)
        await store.start()
        await other.start()
        stop = asyncio.Event()
        scheduler = Scheduler(store, LocalBroker(), SchedulerConfig(max_sleep=60))
        running = asyncio.create_task(scheduler.run(stop))

        async def fired() -> None:
            while not (await other.list_runs()).items:
                await asyncio.sleep(0.02)

        try:
            await asyncio.sleep(1)  # it has ticked and gone to sleep for up to 60 s
            await other.create_job(spec("wake-me", schedule={"every": 60}), await other.now())
            # Far within the sleep: only a scheduler woken by the notice gets there.
            try:
                await asyncio.wait_for(fired(), 20)
            except TimeoutError:
                pytest.fail("the scheduler slept through the notice")
        finally:
            stop.set()
            await running
            await store.close()
            await other.close()

    asyncio.run(body())


def test_the_one_statement_finishes_announce_what_they_queue_or_retry(pg_url: str) -> None:
    """A hand-back queues its run again and a retry waits for its time: the statements that
    finish runs outside flows (finish_runs, and finish_and_claim with its claim) NOTIFY the
    workers of the pool and wake the schedulers, as the transaction does."""
    from tss.core.workers import Room

    async def body() -> None:
        store, other = PostgresStore(pg_url), PostgresStore(pg_url)
        await store.start()
        await other.start()
        try:
            runs_notice = await store.listen("tss_runs", ["default"])
            wake = await store.listen("tss_wake")

            async def heard(event: asyncio.Event) -> bool:
                try:
                    await asyncio.wait_for(event.wait(), 2)
                except TimeoutError:
                    return False
                event.clear()
                return True

            created = await other.create_runs([_queued() for _ in range(3)], actor="t")
            held = await other.claim_runs([r.id for r, _ in created], worker_id="w", lease=30)
            runs_notice.clear()
            wake.clear()
            back = Outcome(held[0].id, 1, RunState.QUEUED, reason="handed back")
            assert await other.finish_runs([back], actor="w") == [True]
            assert await heard(runs_notice)
            assert (await other.get_run(held[0].id)).handbacks == 1
            retry = Outcome(held[1].id, 1, RunState.RETRYING, retry_delay=5)
            back = Outcome(held[2].id, 1, RunState.QUEUED, reason="handed back")
            accepted, claimed = await other.finish_and_claim(
                [retry, back], actor="w", pools=["default"], limit=1, worker_id="w2",
                lease=30, room=Room(cores=1.0, memory=0),
            )  # fmt: skip
            assert accepted == [True, True]
            assert await heard(wake)
            assert await heard(runs_notice)
            # the claim saw the queue as it was when the statement began: the first hand-back
            assert [r.id for r in claimed] == [held[0].id]
            assert (await other.get_run(held[1].id)).state is RunState.RETRYING
            assert (await other.get_run(held[2].id)).state is RunState.QUEUED
        finally:
            await other.close()
            await store.close()

    asyncio.run(body())
