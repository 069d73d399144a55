"""The fire ledger end to end, on a clock the test moves (no sleeps): a per-minute job with
``concurrency: forbid`` fires, is skipped, paused and resumed, misses a window while no
scheduler runs, and the ledger says each; a backfill's dry run lists exactly what the real
one makes, a second one makes nothing, and one with ``max_active`` goes a run at a time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tss.config import SchedulerConfig, Settings
from tss.core.models import Outcome
from tss.core.states import RunState
from tss.errors import Conflict, NotFound
from tss.scheduler.backfills import BackfillStep
from tss.scheduler.scheduler import Scheduler
from tss.service.node import TSSApp
from tss.store.base import Store
from tss.store.memory import MemoryStore
from tss.store.sqlite import SQLiteStore

T0 = datetime.fromisoformat("2026-12-06T08:00:30+00:00")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, hh_mm_ss: str) -> None:
        self.now = datetime.fromisoformat(f"2026-12-06T{hh_mm_ss}+00:00")


def m(minute: int) -> datetime:
    return datetime.fromisoformat(f"2026-12-06T08:{minute:02d}:00+00:00")


async def _node(backend: str, tmp_path: Path, clock: Clock) -> tuple[TSSApp, Store]:
    """A started node on a ``backend`` store (memory or SQLite) that reads ``clock``."""
    node = TSSApp(Settings(store={"url": "memory://"}, broker={"url": "local://"}))
    store: Store = MemoryStore(clock=clock)
    if backend == "sqlite":
        store = SQLiteStore(f"sqlite:///{tmp_path / 'tss.db'}", clock=clock)
    node.store = store
    await node.start()
    return node, store


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_ledger_tells_what_became_of_every_fire(backend: str, tmp_path: Path) -> None:
    asyncio.run(_story(backend, tmp_path))


async def _story(backend: str, tmp_path: Path) -> None:
    clock = Clock()
    node, store = await _node(backend, tmp_path, clock)
    scheduler = Scheduler(store, node.broker, SchedulerConfig())
    spec = {"name": "tick", "type": "noop", "concurrency": "forbid", "schedule": "* * * * *"}
    await node.jobs.apply([spec], actor="test")

    async def at(when: str) -> None:
        clock.at(when)
        await scheduler.tick()

    async def finish(minute: int) -> None:
        [run] = await store.list_fires("tick", m(minute), m(minute) + timedelta(seconds=1), limit=1)
        [claimed] = await store.claim_runs([run.id], worker_id="w", lease=30)
        done = Outcome(run_id=claimed.id, attempt=claimed.attempt, target=RunState.SUCCEEDED)
        assert await store.finish_runs([done], actor="w") == [True]

    await at("08:01:00.5")  # 08:01 fires and stays queued (no worker yet)
    await at("08:02:00.5")  # so 08:02 is skipped: forbid
    await finish(1)
    await at("08:03:00.5")
    await finish(3)
    clock.at("08:03:30")
    await node.jobs.set_paused("tick", True, note="deploy", actor="token:ops")
    for when in ("08:04:00.5", "08:05:00.5"):
        await at(when)  # paused: nothing fires
    clock.at("08:05:30")
    await node.jobs.set_paused("tick", False, actor="token:ops")
    await at("08:05:30")  # run_once: only 08:05 (08:04 fell in the pause)
    await finish(5)
    # no scheduler from 08:05:30 to 08:09:30: 08:06, 08:07 and 08:08 are missed
    await at("08:09:30")
    await finish(9)
    await at("08:10:00.5")

    page = await node.ledger.fires("tick", since=m(0), until=m(13))
    got = [(f.at.minute, f.status) for f in page.fires]
    assert got == [
        (1, "fired"),
        (2, "skipped"),
        (3, "fired"),
        (4, "paused"),
        (5, "fired"),
        (6, "missed"),
        (7, "missed"),
        (8, "missed"),
        (9, "fired"),
        (10, "fired"),
        (11, "upcoming"),
        (12, "upcoming"),
    ]
    f = {fire.at.minute: fire for fire in page.fires}
    assert f[1].words == "ran: succeeded; started 60.5 s after its time"
    assert "concurrency is 'forbid'" in f[2].words and f"run {f[1].run_id}" in f[2].words
    assert f[4].by == "token:ops" and f[4].note == "deploy"
    assert f[6].words.endswith(
        "misfire 'run_once' ran only the latest of 4 fires due when the scheduler came, at "
        f"2026-12-06 08:09:00 UTC (run {f[9].run_id})"
    )
    assert f[5].late is not None and f[5].late >= 30  # made when the job resumed
    assert f[10].words == "fired: queued, waiting for a worker"

    # backfill: the dry run lists exactly what the real one makes; again makes nothing
    window = {"start": m(0), "end": m(10)}
    only = await node.ledger.backfill("tick", **window, only_missed=True, dry_run=True, actor="t")
    assert only.fires == [m(6), m(7), m(8)]
    dry = await node.ledger.backfill("tick", **window, dry_run=True, actor="t")
    # every fire without a run: the paused one and, the job made at 08:00:30, 08:00 too
    assert dry.fires == [m(0), m(4), m(6), m(7), m(8)] and dry.created == 0
    assert len(await store.list_fires("tick", m(0), m(10), limit=100)) == 5  # nothing made
    real = await node.ledger.backfill("tick", **window, actor="token:admin")
    assert real.fires == dry.fires and real.created == 5 and real.existing == 0
    made = await store.list_fires("tick", m(0), m(10), limit=100)
    assert sorted(r.scheduled_for for r in made if r.scheduled_for in dry.fires) == dry.fires
    again = await node.ledger.backfill("tick", **window, actor="token:admin")
    assert again.fires == [] and again.created == 0
    assert len(await store.list_fires("tick", m(0), m(10), limit=100)) == 10
    after = await node.ledger.fires("tick", since=m(0), until=m(10))
    statuses = {fire.at.minute: fire.status for fire in after.fires}
    assert [statuses[n] for n in (0, 4, 6, 7, 8)] == ["backfilled"] * 5
    [entry] = (await node.audit.list(action="job.backfill")).items
    assert entry.actor == "token:admin" and entry.details["count"] == 5

    # max_active 1, before the job existed: one run at a time, made by the scheduler step
    early = {"start": m(0) - timedelta(minutes=5), "end": m(0)}
    slow = await node.ledger.backfill("tick", **early, max_active=1, actor="cli")
    assert slow.created == 1 and slow.backfill is not None and slow.backfill.state == "active"
    step = BackfillStep(
        store, lambda: node.ledger.advance(actor="sched"), node.publish, holder="s1"
    )
    assert await step.once() == []  # its first run is still queued
    waiting = await node.ledger.fires("tick", since=early["start"], until=m(0))
    assert [fire.status for fire in waiting.fires] == ["backfilled"] * 5
    assert waiting.fires[1].run_id is None and "backfill pending" in waiting.fires[1].words
    for minute in range(55, 60):
        fire = m(0) - timedelta(minutes=60 - minute)
        [run] = await store.list_fires("tick", fire, fire + timedelta(seconds=1), limit=1)
        assert run.state is RunState.QUEUED
        await finish_at(store, run.id)
        made_next = await step.once()
        assert len(made_next) == (1 if minute < 59 else 0)
    [record] = [b for b in await store.list_backfills("tick") if b.id == slow.backfill.id]
    assert record.state == "done" and record.made == 5
    await node.close()


async def finish_at(store: Store, run_id: str) -> None:
    [claimed] = await store.claim_runs([run_id], worker_id="w", lease=30)
    done = Outcome(run_id=claimed.id, attempt=claimed.attempt, target=RunState.SUCCEEDED)
    assert await store.finish_runs([done], actor="w") == [True]


def test_a_job_paused_by_its_definition_reads_paused_not_due() -> None:
    async def body() -> None:
        clock = Clock()
        node = TSSApp(Settings(store={"url": "memory://"}, broker={"url": "local://"}))
        node.store = store = MemoryStore(clock=clock)
        await node.start()
        spec = {"name": "held", "type": "noop", "paused": True, "schedule": "* * * * *"}
        await node.jobs.apply([spec], actor="config")
        scheduler = Scheduler(store, node.broker, SchedulerConfig())
        for minute in (1, 2, 3):
            clock.at(f"08:0{minute}:00.5")
            await scheduler.tick()
        page = await node.ledger.fires("held", since=m(0), until=m(4))
        assert [(f.at.minute, f.status, f.by) for f in page.fires] == [
            (1, "paused", "its definition"),
            (2, "paused", "its definition"),
            (3, "paused", "its definition"),
        ]
        assert (await node.ledger.upcoming(hours=1)).total == 0  # a paused job has none
        await node.close()

    asyncio.run(body())


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_stopped_backfill_makes_no_more_fires(backend: str, tmp_path: Path) -> None:
    """A backfill with max_active 1 is stopped after its first fire: the scheduler step
    makes nothing more, however often it runs and whatever ends; the fire it made stays
    backfilled, the rest read missed, and the stop is in the audit log."""

    async def body() -> None:
        clock = Clock()
        node, store = await _node(backend, tmp_path, clock)
        clock.now = m(0) - timedelta(hours=1)  # the job exists before the fires asked for
        await node.jobs.apply([{"name": "tick", "type": "noop", "schedule": "* * * * *"}],
                              actor="test")  # fmt: skip
        clock.at("08:10:30")
        await Scheduler(store, node.broker, SchedulerConfig()).tick()  # misfire: 08:10 only
        window = {"start": m(1), "end": m(6)}
        slow = await node.ledger.backfill("tick", **window, max_active=1, actor="token:admin")
        assert slow.created == 1 and slow.backfill is not None
        backfill_id = slow.backfill.id
        with pytest.raises(NotFound) as unknown:
            await node.ledger.stop_backfill("tick", "0" * 32, actor="token:ops")
        assert unknown.value.field == "backfill"
        with pytest.raises(NotFound) as elsewhere:  # an id of another job's is not this job's
            await node.ledger.stop_backfill("other", backfill_id, actor="token:ops")
        assert elsewhere.value.field == "backfill"
        stopped = await node.ledger.stop_backfill("tick", backfill_id, actor="token:ops")
        assert stopped.state == "stopped" and stopped.made == 1
        with pytest.raises(Conflict) as twice:
            await node.ledger.stop_backfill("tick", backfill_id, actor="token:ops")
        assert twice.value.field == "backfill" and "stopped already" in twice.value.message
        [run] = await store.list_fires("tick", m(1), m(2), limit=1)
        await finish_at(store, run.id)  # room for the next one, were it going
        step = BackfillStep(
            store, lambda: node.ledger.advance(actor="sched"), node.publish, holder="s1"
        )
        for _ in range(3):
            assert await step.once() == []
        assert [r.scheduled_for for r in await store.list_fires("tick", m(0), m(10), limit=20)
                ] == [m(1)]  # fmt: skip
        [listed] = await node.ledger.backfills("tick")
        assert (listed.id, listed.state, listed.made) == (backfill_id, "stopped", 1)
        page = await node.ledger.fires("tick", since=m(1), until=m(6))
        assert [f.status for f in page.fires] == ["backfilled"] + ["missed"] * 4
        assert f"backfill {backfill_id} by token:admin was stopped" in page.fires[1].words
        [entry] = (await node.audit.list(action="job.backfill.stop")).items
        assert (entry.actor, entry.target) == ("token:ops", "tick")
        assert entry.details["backfill"] == backfill_id and entry.details["made"] == 1
        await node.close()

    asyncio.run(body())


def day(d: int, hh_mm: str) -> datetime:
    return datetime.fromisoformat(f"2026-12-{d:02d}T{hh_mm}:00+00:00")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_ledger_reads_each_day_by_the_schedule_it_had(backend: str, tmp_path: Path) -> None:
    """A job fired at 02:00, then was changed to 03:00: the days before the change are read
    by the 02:00 schedule (the 02:00 fire nobody made is missed, no 03:00 fire is invented),
    the change is named on the first fire after it, and a backfill of the missed ones makes
    the 02:00 fire, not a 03:00 one."""

    async def body() -> None:
        clock = Clock()
        clock.now = day(1, "00:00")
        node, store = await _node(backend, tmp_path, clock)
        scheduler = Scheduler(store, node.broker, SchedulerConfig())
        spec = {"name": "nightly", "type": "noop", "schedule": "0 2 * * *"}
        await node.jobs.apply([spec], actor="token:ops")
        clock.now = day(1, "02:00") + timedelta(seconds=0.5)
        await scheduler.tick()  # 12-01 02:00 fires; nothing runs on 12-02 at 02:00
        clock.now = day(2, "12:00")
        await node.jobs.apply([{**spec, "schedule": "0 3 * * *"}], actor="token:ops")
        clock.now = day(3, "03:00") + timedelta(seconds=0.5)
        await scheduler.tick()  # 12-03 03:00 fires by the new schedule
        clock.now = day(3, "12:00")
        page = await node.ledger.fires("nightly", since=day(1, "00:00"), until=day(3, "12:00"))
        got = [(f.at, f.status) for f in page.fires]
        assert got == [
            (day(1, "02:00"), "fired"), (day(2, "02:00"), "missed"), (day(3, "03:00"), "fired"),
        ], got  # fmt: skip
        assert "the schedule in force from 2026-12-02 12:00:00 UTC (version 2 by token:ops)" in (
            page.fires[2].words
        )
        assert page.schedule == "every day at 03:00 (UTC)"  # the page names today's
        # A page cut inside the first era goes on into the second without a gap.
        first = await node.ledger.fires(
            "nightly", since=day(1, "00:00"), until=day(3, "12:00"), limit=2
        )
        assert [f.at for f in first.fires] == [day(1, "02:00"), day(2, "02:00")]
        assert first.truncated and first.next_cursor is not None
        rest = await node.ledger.fires(
            "nightly", since=day(1, "00:00"), until=day(3, "12:00"), cursor=first.next_cursor
        )
        assert [f.at for f in rest.fires] == [day(3, "03:00")] and not rest.truncated
        missed = await node.ledger.backfill(
            "nightly", start=day(1, "00:00"), end=day(3, "12:00"), only_missed=True,
            dry_run=True, actor="token:admin",
        )  # fmt: skip
        assert missed.fires == [day(2, "02:00")]
        await node.close()

    asyncio.run(body())
