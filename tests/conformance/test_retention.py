"""Retention in the store (every backend): a prune takes a job's ended runs older than the
cutoff outside its newest ``keep_last``, a bounded batch at a time, with their attempts,
logs and events; live runs stay; scheduled runs leave their fire in the ledger; alerts,
silences and ledger rows go by age; a dry-run count is what a prune then deletes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest

from tss.core.alerts import AlertUpdate, Silence
from tss.core.models import Run, RunFilter
from tss.core.states import RunState
from tss.errors import NotFound
from tss.store.base import Store
from tss.store.paging import collect

from .flows import define, flow_runs, start
from .support import ACTOR, new_run, outcome, running, seconds
from .test_alerts import alert

S = RunState


async def _ended(store: Store, job: str = "job-a", **fields: object) -> Run:
    """A run of ``job`` that ran and succeeded, with logs; a little apart from the last one
    so that run ids sort as the runs were made."""
    await asyncio.sleep(0.003)
    run = await running(store, job=job, **fields)
    done = outcome(run, S.SUCCEEDED, stdout="out", stderr="err")
    assert await store.finish_runs([done], actor="w1") == [True]
    return await store.get_run(run.id)


async def _ids(store: Store, job: str) -> list[str]:
    runs = await collect(
        lambda size, cursor: store.list_runs(RunFilter(job=job), limit=size, cursor=cursor)
    )
    return sorted(run.id for run in runs)


async def _cut(store: Store, advance: Callable[[float], None]) -> datetime:
    """A cutoff after everything that has ended so far."""
    advance(0.05)
    cut = await store.now()
    advance(0.05)
    return cut


async def test_old_ended_runs_go_outside_the_newest_kept_and_live_runs_stay(
    store: Store, advance: Callable[[float], None]
) -> None:
    going = await running(store, job="job-a")
    old = [await _ended(store) for _ in range(5)]
    other = await _ended(store, "job-b")
    cut = await _cut(store, advance)
    young = await _ended(store)

    # keep_last 2: of job-a's runs by id (going, old x5, young) the two newest stay
    assert await store.count_ended_runs("job-a", ended_before=cut, keep_last=2) == 4
    assert await store.delete_ended_runs("job-a", limit=100, ended_before=cut, keep_last=2) == 4
    assert await _ids(store, "job-a") == sorted([going.id, old[4].id, young.id])
    for run in old[:4]:
        with pytest.raises(NotFound):
            await store.get_run(run.id)
        with pytest.raises(NotFound):
            await store.get_logs(run.id)
        assert await store.list_events(run_id=run.id, limit=10) == []
    # nothing more to prune at that cutoff; the run going is never pruned
    assert await store.count_ended_runs("job-a", ended_before=cut, keep_last=0) == 1
    assert await store.delete_ended_runs("job-a", limit=100, ended_before=cut) == 1
    assert await _ids(store, "job-a") == sorted([going.id, young.id])
    assert (await store.get_run(going.id)).state is S.RUNNING
    assert await store.get_logs(other.id) == ("out", "err")
    assert await _ids(store, "job-b") == [other.id]


async def test_keep_last_keeps_a_job_with_few_runs_whole(
    store: Store, advance: Callable[[float], None]
) -> None:
    runs = [await _ended(store) for _ in range(3)]
    cut = await _cut(store, advance)
    assert await store.count_ended_runs("job-a", ended_before=cut, keep_last=3) == 0
    assert await store.delete_ended_runs("job-a", limit=10, ended_before=cut, keep_last=3) == 0
    assert await store.delete_ended_runs("job-a", limit=10, ended_before=cut, keep_last=5) == 0
    assert await _ids(store, "job-a") == sorted(r.id for r in runs)


async def test_a_batch_never_deletes_more_than_its_limit_and_the_dry_count_is_exact(
    store: Store, advance: Callable[[float], None]
) -> None:
    for _ in range(7):
        await _ended(store)
    cut = await _cut(store, advance)
    counted = await store.count_ended_runs("job-a", ended_before=cut, keep_last=1)
    assert counted == 6
    steps = []
    while step := await store.delete_ended_runs("job-a", limit=4, ended_before=cut, keep_last=1):
        steps.append(step)
    assert steps == [4, 2]
    assert sum(steps) == counted
    assert len(await _ids(store, "job-a")) == 1


async def test_pruned_scheduled_runs_leave_their_fires_in_the_ledger(
    store: Store, advance: Callable[[float], None]
) -> None:
    base = (await store.now()).replace(microsecond=0) - seconds(600)
    fires = [base + seconds(60 * i) for i in range(3)]
    made = await store.create_runs(
        [new_run("job-a", trigger="schedule", scheduled_for=at) for at in fires], actor=ACTOR
    )
    for run, _ in made:
        [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
        target = S.FAILED if run.scheduled_for == fires[1] else S.SUCCEEDED
        assert await store.finish_runs([outcome(claimed, target)], actor="w1") == [True]
    manual = await _ended(store)
    cut = await _cut(store, advance)
    assert await store.delete_ended_runs("job-a", limit=10, ended_before=cut) == 4

    ledger = await store.list_pruned_fires("job-a", fires[0], fires[2] + seconds(1), limit=10)
    assert [f.scheduled_for for f in ledger] == fires
    assert [f.state for f in ledger] == [S.SUCCEEDED, S.FAILED, S.SUCCEEDED]
    assert [f.run_id for f in ledger] == [run.id for run, _ in made]
    assert all(f.job == "job-a" and f.finished_at is not None for f in ledger)
    assert manual.id not in {f.run_id for f in ledger}
    # the window and the limit bound what is read; other jobs have none
    window = await store.list_pruned_fires("job-a", fires[1], fires[2], limit=10)
    assert [f.scheduled_for for f in window] == [fires[1]]
    assert len(await store.list_pruned_fires("job-a", fires[0], cut, limit=2)) == 2
    assert await store.list_pruned_fires("job-b", fires[0], cut, limit=10) == []

    # the ledger's own retention: by fire time
    assert await store.count_rows("ledger", before=fires[2]) == 2
    assert await store.prune_rows("ledger", before=fires[2], limit=1) == 1
    assert await store.prune_rows("ledger", before=fires[2], limit=10) == 1
    assert await store.prune_rows("ledger", before=fires[2], limit=10) == 0
    left = await store.list_pruned_fires("job-a", fires[0], cut, limit=10)
    assert [f.scheduled_for for f in left] == [fires[2]]


async def test_a_flow_still_going_keeps_its_ended_runs(
    store: Store, advance: Callable[[float], None]
) -> None:
    jobs = await define(store, "a", ("b", ["a"]))
    flow = await start(store, jobs["a"])
    [root] = [r for r in await flow_runs(store, flow) if r.job == "a"]
    [claimed] = await store.claim_runs([root.id], worker_id="w1", lease=30)
    assert await store.finish_runs([outcome(claimed)], actor="w1") == [True]
    cut = await _cut(store, advance)
    assert await store.count_ended_runs("a", ended_before=cut) == 0
    assert await store.delete_ended_runs("a", limit=10, ended_before=cut) == 0
    assert len(await flow_runs(store, flow)) == 2


async def test_settled_alerts_and_ended_silences_go_by_age(
    store: Store, advance: Callable[[float], None]
) -> None:
    now = await store.now()
    old = now - seconds(3600)
    await store.add_alerts(
        [
            alert("sent@ops", old),
            alert("failed@ops", old + seconds(1)),
            alert("pending@ops", old + seconds(2)),
            alert("young@ops", now),
        ]
    )
    await store.settle_alerts(
        [
            AlertUpdate("sent@ops", "sent", 1, None, None, now),
            AlertUpdate("failed@ops", "failed", 3, None, "down", None),
            AlertUpdate("young@ops", "sent", 1, None, None, now),
        ]
    )
    cut = now - seconds(60)
    assert await store.count_rows("alerts", before=cut) == 2
    assert await store.prune_rows("alerts", before=cut, limit=1) == 1
    assert await store.prune_rows("alerts", before=cut, limit=10) == 1
    assert await store.prune_rows("alerts", before=cut, limit=10) == 0
    left = {a.id for a in (await store.list_alerts(limit=10)).items}
    assert left == {"pending@ops", "young@ops"}

    await store.put_silence(Silence("job-a", now - seconds(10), "over", "alice", old))
    await store.put_silence(Silence("job-b", now + seconds(600), "on", "alice", old))
    assert await store.count_rows("silences", before=now) == 1
    assert await store.prune_rows("silences", before=now, limit=10) == 1
    assert [s.job for s in await store.list_silences()] == ["job-b"]
    assert await store.delete_silence("job-a") is False


async def test_run_jobs_names_every_job_with_runs(
    store: Store, advance: Callable[[float], None]
) -> None:
    assert await store.run_jobs() == []
    await _ended(store, "job-b")
    await _ended(store, "job-a")
    await _ended(store, "job-a")
    assert await store.run_jobs() == ["job-a", "job-b"]
    cut = await _cut(store, advance)
    await store.delete_ended_runs("job-b", limit=10, ended_before=cut)
    assert await store.run_jobs() == ["job-a"]


async def test_audit_rows_go_by_age(store: Store) -> None:
    from tss.core.history import AuditEntry

    now = await store.now()
    await store.add_audit(
        [
            AuditEntry(0, now - seconds(7200), "alice", "job.create", "a", {}),
            AuditEntry(0, now, "alice", "job.update", "a", {}),
        ]
    )
    assert await store.count_rows("audit", before=now - seconds(60)) == 1
    assert await store.prune_rows("audit", before=now - seconds(60), limit=10) == 1
    assert [e.action for e in (await store.list_audit(limit=10)).items] == ["job.update"]
