"""delete_ended_runs: a job's ended runs go with their attempts, logs and events, and
every index forgets them; runs still going, other jobs' runs and unfinished flows stay."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tss.core.models import RunFilter
from tss.core.states import RunState
from tss.errors import NotFound
from tss.store.base import Store
from tss.store.paging import collect

from .flows import define, drive, flow_runs, start
from .support import ACTOR, error, new_run, outcome, queued, running, seconds

S = RunState


async def _all_runs(store: Store, run_filter: RunFilter | None = None) -> list[str]:
    runs = await collect(
        lambda size, cursor: store.list_runs(run_filter, limit=size, cursor=cursor)
    )
    return [run.id for run in runs]


async def _ended(store: Store, job: str, target: RunState = S.SUCCEEDED) -> str:
    run = await running(store, job=job)
    fields = {"error": error()} if target is S.FAILED else {}
    fields.update(stdout="out", stderr="err")
    assert await store.finish_runs([outcome(run, target, **fields)], actor="w1") == [True]
    return run.id


async def test_ended_runs_go_with_their_history_and_the_rest_stays(store: Store) -> None:
    ended = [await _ended(store, "job-a", t) for t in (S.SUCCEEDED, S.FAILED, S.SUCCEEDED)]
    [waiting] = await queued(store, job="job-a")
    going = await running(store, job="job-a")
    other = await _ended(store, "job-b")
    [cancelled] = await queued(store, job="job-a")
    await store.cancel_runs([cancelled.id], actor="alice", reason="no")
    before = await store.last_event_id()

    assert await store.delete_ended_runs("job-a", limit=2) == 2
    assert await store.delete_ended_runs("job-a", limit=100) == 2
    assert await store.delete_ended_runs("job-a", limit=100) == 0

    for run_id in [*ended, cancelled.id]:
        with pytest.raises(NotFound):
            await store.get_run(run_id)
        with pytest.raises(NotFound):
            await store.list_attempts(run_id)
        with pytest.raises(NotFound):
            await store.get_logs(run_id)
        assert await store.list_events(run_id=run_id, limit=100) == []
    assert all(e.job != "job-a" or e.run_id in (waiting.id, going.id)
               for e in await store.list_events(limit=1000))  # fmt: skip
    # what is left, through every listing and index
    assert sorted(await _all_runs(store, RunFilter(job="job-a"))) == sorted([waiting.id, going.id])
    assert set(await _all_runs(store)) == {waiting.id, going.id, other}
    assert await _all_runs(store, RunFilter(states=(S.SUCCEEDED, S.FAILED, S.CANCELLED))) == [other]
    counts = await store.count_runs(RunFilter(job="job-a"))
    assert {s: n for s, n in counts.items() if n} == {S.QUEUED: 1, S.RUNNING: 1}
    assert (await store.last_runs(["job-a"]))["job-a"].id in (waiting.id, going.id)
    assert (await store.get_logs(other)) == ("out", "err")
    # the runs still going are untouched and still work
    assert await store.finish_runs([outcome(going)], actor="w1") == [True]
    [claimed] = await store.claim_runs([waiting.id], worker_id="w2", lease=30)
    assert claimed.attempt == 1
    # a new event never takes a deleted one's id
    assert min(e.id for e in await store.list_events(run_id=going.id, limit=100)) <= before
    newest = (await store.list_events(run_id=claimed.id, limit=100))[-1]
    assert newest.id > before


async def test_ended_before_and_limit_bound_what_goes(
    store: Store, advance: Callable[[float], None]
) -> None:
    old = [await _ended(store, "job-a") for _ in range(3)]
    advance(1.5)
    cut = await store.now()
    advance(1.5)
    new = await _ended(store, "job-a")
    assert await store.delete_ended_runs("job-a", limit=0) == 0
    assert await store.delete_ended_runs("job-a", limit=10, ended_before=cut - seconds(10)) == 0
    assert await store.delete_ended_runs("job-a", limit=10, ended_before=cut) == 3
    assert await _all_runs(store, RunFilter(job="job-a")) == [new]
    for run_id in old:
        with pytest.raises(NotFound):
            await store.get_run(run_id)
    assert await store.delete_ended_runs("no-such-job", limit=10) == 0


async def test_a_deleted_runs_fire_and_key_are_free_again(store: Store) -> None:
    at = (await store.now()).replace(microsecond=0) - seconds(60)
    fire = new_run("job-a", trigger="schedule", scheduled_for=at)
    keyed = new_run("job-a", key="k-1")
    made = await store.create_runs([fire, keyed], actor=ACTOR)
    assert [created for _, created in made] == [True, True]
    for run, _ in made:
        [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
        assert await store.finish_runs([outcome(claimed)], actor="w1") == [True]
    # while they exist, the same fire and key find them
    again = await store.create_runs(
        [new_run("job-a", trigger="schedule", scheduled_for=at), new_run("job-a", key="k-1")],
        actor=ACTOR,
    )
    assert [created for _, created in again] == [False, False]
    assert await store.delete_ended_runs("job-a", limit=10) == 2
    fresh = await store.create_runs(
        [new_run("job-a", trigger="schedule", scheduled_for=at), new_run("job-a", key="k-1")],
        actor=ACTOR,
    )
    assert [created for _, created in fresh] == [True, True]


async def test_a_flow_with_a_run_still_going_keeps_its_ended_runs(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]))
    flow = await start(store, jobs["a"])
    [root] = [r for r in await flow_runs(store, flow) if r.job == "a"]
    [claimed] = await store.claim_runs([root.id], worker_id="w1", lease=30)
    assert await store.finish_runs([outcome(claimed)], actor="w1") == [True]
    # a has ended, b is queued: a's run is what b's flow stands on
    assert await store.delete_ended_runs("a", limit=10) == 0
    assert len(await flow_runs(store, flow)) == 2
    assert [f.flow_id for f in (await store.list_flows()).items] == [flow]
    assert await drive(store, flow, {}) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED}
    assert await store.delete_ended_runs("a", limit=10) == 1
    assert [r.job for r in await flow_runs(store, flow)] == ["b"]
    # the flow started by the deleted run is no longer listed
    assert (await store.list_flows()).items == []
    assert await store.delete_ended_runs("b", limit=10) == 1
    assert await flow_runs(store, flow) == []
