"""What the conformance suite cannot show for SQLite: several processes on one file,
persistence across a close, and driver errors turned into ``StoreError``."""

from __future__ import annotations

import asyncio
import itertools
import multiprocessing
import sqlite3
import threading
import traceback
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tss.core.firing import fire_job
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, Outcome, RunPolicy, WorkerInfo
from tss.core.states import RunState
from tss.core.timeutil import utcnow
from tss.errors import StoreError
from tss.store.sqlite import SQLiteStore, writes
from tss.store.sqlite import store as sqlite_store

JOBS = 100
PROCESSES = 3
#: each job is 250 s late on a 60 s interval with run_all: 5 due fires, the next 50 s away
FIRES_PER_JOB = 5


def _url(path: Path) -> str:
    return f"sqlite:///{path}"


async def _make_due_jobs(url: str) -> dict[str, Any]:
    store = SQLiteStore(url)
    await store.start()
    try:
        first = utcnow() - timedelta(seconds=250)
        for i in range(JOBS):
            spec = JobSpec.model_validate(
                {
                    "name": f"job-{i:03d}",
                    "type": "noop",
                    "schedule": {"every": 60, "misfire": "run_all"},
                }
            )
            await store.create_job(spec, first)
        return {"first": first}
    finally:
        await store.close()


async def _fire_until_done(url: str, barrier: Any, actor: str) -> tuple[int, list[str]]:
    store = SQLiteStore(url)
    await store.start()
    try:
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 60)
        fired, created = 0, []
        while True:
            runs, count = await store.fire_due_jobs(fire_job, limit=7, actor=actor)
            if count == 0:
                return fired, created
            fired += count
            created += [run.id for run in runs]
    finally:
        await store.close()


def _fire_process(url: str, barrier: Any, results: Any, actor: str) -> None:
    """Child process: its own store on the shared file, firing whatever is due."""
    try:
        results.put((actor, asyncio.run(_fire_until_done(url, barrier, actor))))
    except BaseException:
        results.put((actor, traceback.format_exc()))
        raise


async def _runs_and_events(url: str) -> tuple[list[Any], list[Any], Any]:
    store = SQLiteStore(url)
    await store.start()
    try:
        page = await store.list_runs(limit=10_000)
        events = await store.list_events(limit=10_000)
        job = await store.get_job("job-000")
        return page.items, events, job
    finally:
        await store.close()


def test_processes_firing_the_same_jobs_make_exactly_one_run_per_fire(tmp_path: Path) -> None:
    url = _url(tmp_path / "tss.db")
    first = asyncio.run(_make_due_jobs(url))["first"]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [
        ctx.Process(target=_fire_process, args=(url, barrier, results, f"scheduler-{i}"))
        for i in range(PROCESSES)
    ]
    for proc in procs:
        proc.start()
    outcomes = dict(results.get(timeout=90) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    failures = [value for value in outcomes.values() if isinstance(value, str)]
    assert failures == []
    assert [proc.exitcode for proc in procs] == [0] * PROCESSES

    runs, events, job = asyncio.run(_runs_and_events(url))
    # every job was claimed by exactly one scheduler, every fire made exactly one run
    assert sum(fired for fired, _ in outcomes.values()) == JOBS
    created = [run_id for _, ids in outcomes.values() for run_id in ids]
    assert len(created) == len(set(created)) == JOBS * FIRES_PER_JOB
    assert sorted(created) == sorted(run.id for run in runs)
    per_fire = Counter((run.job, run.scheduled_for) for run in runs)
    assert len(per_fire) == JOBS * FIRES_PER_JOB and set(per_fire.values()) == {1}
    expected = {first + timedelta(seconds=60 * k) for k in range(FIRES_PER_JOB)}
    assert {run.scheduled_for for run in runs if run.job == "job-000"} == expected
    assert all(run.state is RunState.QUEUED and run.trigger == "schedule" for run in runs)
    assert job.next_fire_at == first + timedelta(seconds=60 * FIRES_PER_JOB)
    # one creation event per run, and none lost or doubled
    assert sorted(event.run_id for event in events) == sorted(created)
    assert len({event.id for event in events}) == len(events)


async def _write_then_read_back(url: str) -> None:
    policy = RunPolicy("noop", 30.0, "auto", JobSpec(name="x").retries)
    spec = JobSpec.model_validate({"name": "keep", "type": "noop", "tags": ["a", "b"]})
    run = NewRun(new_id(), "keep", RunState.QUEUED, "manual", {"n": 1}, 3, "io", policy)
    worker = WorkerInfo("w1", "host", 7, ["io"], ["noop"], 2, 1.5, 256, "0.1.0")

    store = SQLiteStore(url)
    await store.start()
    job = await store.create_job(spec, None)
    [(created, _)] = await store.create_runs([run], actor="test")
    await store.register_worker(worker)
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=60)
    done = Outcome(run.id, 1, RunState.SUCCEEDED, result={"ok": True}, stdout="out\n")
    assert await store.finish_runs([done], actor="w1") == [True]
    finished = await store.get_run(run.id)
    events = await store.list_events()
    await store.close()
    await store.close()  # idempotent

    again = SQLiteStore(url)
    await again.start()
    try:
        assert await again.get_job("keep") == job
        assert await again.get_run(run.id) == finished
        assert finished.state is RunState.SUCCEEDED and finished.result == {"ok": True}
        assert finished.params == {"n": 1} and finished.policy == policy
        [attempt] = await again.list_attempts(run.id)
        assert attempt.worker_id == "w1" and attempt.stdout == "out\n"
        assert await again.get_logs(run.id) == ("out\n", "")
        assert await again.list_events() == events
        assert [e.target for e in events] == [RunState.QUEUED, RunState.RUNNING, finished.state]
        [stored_worker] = await again.list_workers()
        assert (stored_worker.id, stored_worker.pools, stored_worker.cores) == ("w1", ["io"], 1.5)
        assert claimed.attempt == 1 and created.id == run.id
    finally:
        await again.close()


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    asyncio.run(_write_then_read_back(_url(tmp_path / "tss.db")))


def test_unwritable_path_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where a directory should be")
    path = blocker / "tss.db"  # unopenable even for root
    store = SQLiteStore(_url(path))
    with pytest.raises(StoreError) as caught:
        asyncio.run(store.start())
    assert str(path) in str(caught.value)
    assert not isinstance(caught.value, sqlite3.Error)
    assert caught.value.__cause__ is not None
    with pytest.raises(StoreError, match="not started"):
        asyncio.run(store.get_run("x"))


def test_the_wal_is_checkpointed_off_the_store_thread(tmp_path: Path) -> None:
    """Automatic checkpoints are off (they stall the one store thread inside a COMMIT);
    the store's own checkpointer keeps the WAL from growing without end."""

    async def body() -> tuple[int, list[int]]:
        store = SQLiteStore(_url(tmp_path / "wal.db"))
        await store.start()
        sizes = []
        try:
            own = await store._read(
                lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            )
            assert own == 0
            for _ in range(4):
                await store.create_runs(_queued(1500, _PADDED), actor="test")
                sizes.append((tmp_path / "wal.db-wal").stat().st_size)
                # The checkpointer's turn (every second; on a loaded machine, later).
                checkpointer = store._db._checkpointer
                assert checkpointer is not None
                done = checkpointer.completed
                for _ in range(200):
                    if checkpointer.completed > done:
                        break
                    await asyncio.sleep(0.05)
            raw = sqlite3.connect(tmp_path / "wal.db")
            auto = raw.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
            raw.close()
            return auto, sizes
        finally:
            await store.close()

    auto, sizes = asyncio.run(body())
    assert auto == 1000  # other connections keep SQLite's default
    # ~3.5 MB written per round: without checkpoints the WAL would pass 12 MB by the end.
    assert sizes[-1] < 8_000_000, sizes


def test_the_wal_is_started_over_without_stalling_the_store(tmp_path: Path) -> None:
    """A passive checkpoint copies the WAL back but SQLite starts the file over only when a
    write begins after a checkpoint that caught up, which a checkpoint copying a second of
    frames rarely does while writes keep coming: the file grew without end (~140 KB per run
    on tss server). Past the limit, the checkpointer catches up (passive checkpoints back
    to back) until a write starts the file over: the store's thread never stops for it."""

    async def body() -> tuple[list[int], int, int, int, int]:
        store = SQLiteStore(_url(tmp_path / "gaps.db"))
        store._db.wal_limit = 256 * 1024
        await store.start()
        checkpointer = store._db._checkpointer
        assert checkpointer is not None
        sizes, written = [], 0
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while checkpointer.restarted < 2 and loop.time() < deadline:
                runs = _queued(20, _PADDED)
                await store.create_runs(runs, actor="test")
                written += len(runs)
                sizes.append((tmp_path / "gaps.db-wal").stat().st_size)
                await asyncio.sleep(0.005)  # a few ms between writes, as a scheduler leaves
            counts = await store.count_runs()
            restarted, truncated = checkpointer.restarted, store._db.truncated
            return sizes, restarted, truncated, written, counts[RunState.QUEUED]
        finally:
            await store.close()

    sizes, restarted, truncated, written, queued = asyncio.run(body())
    assert restarted >= 2 and truncated == 0, (restarted, truncated)
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes)), "never shrank"
    assert queued == written


def test_the_wal_is_truncated_under_writes_that_never_pause(tmp_path: Path) -> None:
    """When catching up does not start the WAL over in time (here it is not given any),
    the store's thread truncates it between two transactions; nothing written is lost."""

    async def body() -> tuple[list[int], int, int, int]:
        store = SQLiteStore(_url(tmp_path / "busy.db"))
        store._db.wal_limit = 256 * 1024
        store._db.catch_up = 0.0
        await store.start()
        sizes, written = [], 0
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while store._db.truncated < 2 and loop.time() < deadline:
                runs = _queued(20, _PADDED)
                await store.create_runs(runs, actor="test")
                written += len(runs)
                sizes.append((tmp_path / "busy.db-wal").stat().st_size)
            counts = await store.count_runs()
            return sizes, store._db.truncated, written, counts[RunState.QUEUED]
        finally:
            await store.close()

    sizes, truncated, written, queued = asyncio.run(body())
    assert truncated >= 2
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes)), "never shrank"
    assert queued == written


def _queued(n: int, params: dict[str, Any] | None = None) -> list[NewRun]:
    """``n`` new queued runs of job ``w`` with ``params`` (none by default)."""
    policy = RunPolicy.of(JobSpec(name="w", type="noop"))
    return [
        NewRun(new_id(), "w", RunState.QUEUED, "manual", dict(params or {}), 0, "default", policy)
        for _ in range(n)
    ]


#: params that make a run's row ~2 KB: the WAL grows fast
_PADDED = {"pad": "x" * 2000}


def test_a_short_write_runs_on_the_loop_thread_when_the_connection_is_free(
    tmp_path: Path,
) -> None:
    """A trigger, a claim or a batch of outcomes skips the hand-over to the store's thread
    (about as much CPU as the transaction) when nothing else holds the connection; a large
    write still goes to the store's thread, so the event loop never waits on it."""

    async def body() -> None:
        store = SQLiteStore(_url(tmp_path / "here.db"))
        await store.start()
        try:
            loop_thread = threading.get_ident()
            seen: list[int] = []
            original = writes.insert_runs

            def spy(conn: Any, now_us: int, news: list[NewRun], actor: str) -> Any:
                seen.append(threading.get_ident())
                return original(conn, now_us, news, actor)

            writes.insert_runs = spy  # type: ignore[assignment]
            try:
                await store.create_runs(_queued(1), actor="test")
                await store.create_runs(_queued(sqlite_store.SMALL + 1), actor="test")
            finally:
                writes.insert_runs = original  # type: ignore[assignment]
            assert seen[0] == loop_thread
            assert seen[1] != loop_thread
            counts = await store.count_runs()
            assert counts[RunState.QUEUED] == sqlite_store.SMALL + 2
        finally:
            await store.close()

    asyncio.run(body())


def test_a_short_write_waits_off_the_loop_while_another_process_writes(tmp_path: Path) -> None:
    """When another connection holds the write lock, the short write does not wait on the
    event loop's thread (the loop keeps turning); it waits on the store's thread, then
    commits once the lock is free."""

    async def body() -> tuple[int, float]:
        path = tmp_path / "locked.db"
        store = SQLiteStore(_url(path))
        await store.start()
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            loop = asyncio.get_running_loop()
            writing = asyncio.ensure_future(store.create_runs(_queued(1), actor="test"))
            turns, started = 0, loop.time()
            while loop.time() - started < 0.5:
                await asyncio.sleep(0.01)
                turns += 1
            assert not writing.done()  # still waiting for the lock
            other.execute("COMMIT")
            ((run, created),) = await asyncio.wait_for(writing, 10)
            assert created and run.state is RunState.QUEUED
            return turns, loop.time() - started
        finally:
            other.close()
            await store.close()

    turns, took = asyncio.run(body())
    assert turns >= 20, f"the event loop turned {turns} times in 0.5 s"
    assert took < 10
