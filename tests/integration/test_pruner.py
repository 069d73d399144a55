"""The retention pruner on the memory store with a clock the test moves: passes are called
one by one. What goes follows the global policy and each job's own; one pruner works at a
time (the ``retention`` lease) once per interval; batches are bounded and a job that fails
does not stop the pass; a dry run counts what a real prune then deletes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.conformance.support import FakeClock, outcome, running, spec
from tests.conformance.test_alerts import alert
from tss.config.retention import RetentionConfig
from tss.core.alerts import AlertUpdate, Silence
from tss.core.models import Job, RunFilter
from tss.core.states import RunState
from tss.errors import StoreError
from tss.metrics import Metrics
from tss.scheduler.pruner import (
    BATCH_TIME,
    FEWEST,
    LEASE,
    ONE_WRITER_BATCH_TIME,
    REST_FACTOR,
    Pacer,
    Pruner,
    batch_time,
    prune,
)
from tss.store.memory import MemoryStore
from tss.store.sqlite import SQLiteStore

DAY = 86400.0


class Recording(MemoryStore):
    """A memory store that records the size of each prune batch and fails on one job."""

    def __init__(self, clock: FakeClock, failing: str | None = None) -> None:
        super().__init__(clock=clock)
        self.batches: list[tuple[str, int, int]] = []
        self.failing = failing

    async def delete_ended_runs(self, job: str, **kw: Any) -> int:
        if job == self.failing:
            raise StoreError(f"a row of {job} cannot be read")
        deleted = await super().delete_ended_runs(job, **kw)
        self.batches.append((job, kw["limit"], deleted))
        return deleted


async def _history(store: MemoryStore, job: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        await asyncio.sleep(0.002)  # ids sort as the runs were made
        run = await running(store, job=job)
        assert await store.finish_runs([outcome(run, RunState.SUCCEEDED)], actor="w1") == [True]
        ids.append(run.id)
    return ids


async def _left(store: MemoryStore, job: str) -> int:
    counts = await store.count_runs(RunFilter(job=job))
    return sum(counts.values())


async def _define(store: MemoryStore, name: str, **fields: Any) -> Job:
    return await store.create_job(spec(name, **fields), None)


async def test_a_pass_prunes_by_the_global_policy_and_each_jobs_own() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await _define(store, "plain")
    await _define(store, "short", retention={"max_age": "1d", "keep_last": 2})
    await _define(store, "forever", retention={"keep_forever": True})
    await _history(store, "plain", 6)
    await _history(store, "short", 6)
    await _history(store, "forever", 6)
    await _history(store, "deleted", 4)  # runs of a job no longer defined
    config = RetentionConfig(max_age="10d", keep_last=3, batch_size=2, pause=0)
    metrics = Metrics()
    pruner = Pruner(store, config, holder="s1", metrics=metrics)

    clock.advance(2 * DAY)  # past short's own age only
    report = await pruner.tick()
    assert report is not None
    assert report.runs_by_job == {"short": 4}
    assert await _left(store, "short") == 2
    assert await _left(store, "plain") == 6

    clock.advance(9 * DAY)  # 11 days on: past the global age too
    report = await pruner.tick()
    assert report is not None
    assert report.runs_by_job == {"plain": 3, "deleted": 1}
    assert [await _left(store, j) for j in ("plain", "short", "forever", "deleted")] == [
        3, 2, 6, 3,
    ]  # fmt: skip
    exposed = generate_latest(metrics.registry).decode()
    assert 'tss_pruned_total{kind="runs"} 8.0' in exposed


async def test_one_pruner_works_at_a_time_once_per_interval() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await _history(store, "a", 3)
    config = RetentionConfig(max_age="1d", keep_last=0, interval="1h", pause=0)
    first = Pruner(store, config, holder="s1")
    second = Pruner(store, config, holder="s2")
    clock.advance(2 * DAY)
    report = await first.tick()
    assert report is not None and report.counts["runs"] == 3
    assert await second.tick() is None  # s1 holds the lease
    assert await first.tick() is None  # the last pass was less than an hour ago
    saved = await store.take_lease(LEASE, "s1", 30)
    assert saved is not None and saved["pruned"]["runs"] == 3
    clock.advance(3600 + 60)  # the lease expired and the interval passed: anyone may
    assert await second.tick() is not None


async def test_a_pruner_that_stops_hands_the_lease_over_at_once() -> None:
    """A scheduler stopped in the middle of a pass lets the lease go: another scheduler
    takes the pass up on its next try, not when the lease (30 s) expires."""
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await _history(store, "a", 6)
    config = RetentionConfig(max_age="1d", keep_last=0, batch_size=2, pause=0)
    clock.advance(2 * DAY)
    first = Pruner(store, config, holder="s1")
    stop = asyncio.Event()
    stop.set()  # the pass stops after its first batch
    cut = await first.tick(stop)
    assert cut is not None and cut.counts["runs"] == 2
    second = Pruner(store, config, holder="s2")
    assert await second.tick() is None  # s1 holds the lease
    await first.run(stop)  # s1's loop ends (its scheduler stops)
    report = await second.tick()  # same store clock: the lease has not expired
    assert report is not None and report.counts["runs"] == 4


async def test_batches_are_bounded_and_a_failing_job_does_not_stop_the_pass() -> None:
    clock = FakeClock()
    store = Recording(clock, failing="broken")
    await _history(store, "a", 7)
    await _history(store, "broken", 2)
    await _history(store, "c", 3)
    config = RetentionConfig(max_age="1d", keep_last=0, batch_size=3, pause=0)
    clock.advance(2 * DAY)
    report = await prune(store, config)
    assert report.runs_by_job == {"a": 7, "c": 3}
    assert [(job, deleted) for job, _, deleted in store.batches] == [
        ("a", 3), ("a", 3), ("a", 1), ("c", 3), ("c", 0),
    ]  # fmt: skip
    assert all(limit == 3 for _, limit, _ in store.batches)
    assert await _left(store, "broken") == 2


async def test_a_pass_yields_between_batches() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await _history(store, "a", 10)
    config = RetentionConfig(max_age="1d", keep_last=0, batch_size=2, pause=0)
    clock.advance(2 * DAY)
    seen: list[int] = []

    async def other() -> None:  # stands for the scheduler's loop on the same event loop
        while True:
            seen.append(await _left(store, "a"))
            await asyncio.sleep(0)

    task = asyncio.create_task(other())
    await asyncio.sleep(0)
    report = await prune(store, config)
    task.cancel()
    assert report.counts["runs"] == 10
    # the other task ran between batches and saw the history shrink two runs at a time
    assert {8, 6, 4, 2} <= set(seen)


async def test_a_dry_run_counts_what_a_prune_then_deletes() -> None:
    clock = FakeClock()
    store = MemoryStore(clock=clock)
    await _history(store, "a", 5)
    await _history(store, "b", 2)
    now = await store.now()
    await store.add_alerts([alert("x@ops", now), alert("y@ops", now)])
    await store.settle_alerts([AlertUpdate("x@ops", "sent", 1, None, None, now)])
    await store.put_silence(Silence("a", now + timedelta(hours=1), "", "alice", now))
    config = RetentionConfig(max_age="1d", keep_last=1, alerts_max_age="2d", batch_size=2)
    clock.advance(3 * DAY)
    dry = await prune(store, config, dry_run=True, pause=0)
    assert dry.dry_run and dry.runs_by_job == {"a": 4, "b": 1}
    assert dry.counts == {"runs": 5, "alerts": 1, "silences": 1, "ledger": 0, "audit": 0}
    assert await _left(store, "a") == 5  # nothing went
    real = await prune(store, config, pause=0)
    assert real.counts == dry.counts and real.runs_by_job == dry.runs_by_job
    again = await prune(store, config, dry_run=True, pause=0)
    assert again.total == 0
    only = await prune(store, config, job="a", dry_run=True, pause=0)
    assert only.counts["alerts"] == 0


def test_the_pacer_sizes_batches_by_time_and_rests_ten_times_as_long() -> None:
    pacer = Pacer(500, 0.05)
    assert pacer.size == 50
    pacer.learn(50, 0.1)  # 2 ms a row: 10 ms is 5 rows, but never fewer than 10
    assert pacer.size == FEWEST
    pacer.learn(10, 0.001)  # fast now: it grows by half at most per batch
    assert pacer.size == 16
    for _ in range(30):
        pacer.learn(pacer.size, pacer.size * 0.00001)
    assert pacer.size == 500  # capped by batch_size
    assert pacer.rest(0.001) == 0.05 and pacer.rest(0.1) == pytest.approx(1.0)
    assert pacer.rest(0.1) == pytest.approx(REST_FACTOR * 0.1)
    assert BATCH_TIME <= 0.02
    small = Pacer(3, 0.0)
    small.learn(3, 10.0)
    assert small.size == 3  # batch_size below the floor wins


def test_batches_are_shorter_where_every_write_waits_for_one_writer(tmp_path: Path) -> None:
    assert batch_time(MemoryStore()) == BATCH_TIME
    assert batch_time(SQLiteStore(f"sqlite:///{tmp_path / 'x.db'}")) == ONE_WRITER_BATCH_TIME
    assert ONE_WRITER_BATCH_TIME < BATCH_TIME
    quick = Pacer(500, 0.0, ONE_WRITER_BATCH_TIME)
    quick.learn(50, 0.015)  # 0.3 ms a row: 10 rows make 3 ms
    assert quick.size == 10
