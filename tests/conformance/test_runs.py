"""Creating and reading runs: uniqueness per fire, idempotency keys, cancel."""

from __future__ import annotations

import pytest

from tss.core.models import RunFilter
from tss.core.states import RunState
from tss.errors import Conflict, NotFound
from tss.store.base import Store

from .support import ACTOR, new_run, outcome, queued, running, seconds, spec


async def test_created_run_reads_back(store: Store) -> None:
    new = new_run("a", params={"x": 1}, priority=4, pool="io", timeout=30.0, retries=2)
    [(run, created)] = await store.create_runs([new], actor=ACTOR)
    assert created
    fetched = await store.get_run(new.id)
    for r in (run, fetched):
        assert r.id == new.id
        assert (r.job, r.state, r.trigger) == ("a", RunState.QUEUED, "manual")
        assert (r.params, r.priority, r.pool, r.attempt) == ({"x": 1}, 4, "io", 0)
        assert r.policy.timeout == 30.0
        assert r.max_attempts == 3
        assert r.queued_at is not None
        assert r.started_at is None and r.finished_at is None
    assert await store.list_attempts(run.id) == []


async def test_unknown_run_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_run("0" * 32)
    with pytest.raises(NotFound):
        await store.list_attempts("0" * 32)
    with pytest.raises(NotFound):
        await store.get_logs("0" * 32)


async def test_one_schedule_run_per_job_and_fire_time(store: Store) -> None:
    fire = (await store.now()).replace(microsecond=0)
    first = new_run("a", trigger="schedule", scheduled_for=fire)
    twin = new_run("a", trigger="schedule", scheduled_for=fire)
    other_job = new_run("b", trigger="schedule", scheduled_for=fire)
    later = new_run("a", trigger="schedule", scheduled_for=fire + seconds(60))
    result = await store.create_runs([first, twin, other_job, later], actor=ACTOR)
    assert [created for _, created in result] == [True, False, True, True]
    assert result[1][0].id == first.id  # the existing run is returned
    repeat = new_run("a", trigger="schedule", scheduled_for=fire)
    again = await store.create_runs([repeat], actor=ACTOR)
    assert again[0] == (await store.get_run(first.id), False)
    assert (await store.count_runs())[RunState.QUEUED] == 3


async def test_manual_runs_for_the_same_time_are_not_deduplicated(store: Store) -> None:
    fire = await store.now()
    result = await store.create_runs(
        [new_run("a", scheduled_for=fire), new_run("a", scheduled_for=fire)], actor=ACTOR
    )
    assert [created for _, created in result] == [True, True]


async def test_idempotency_key_returns_the_existing_run(store: Store) -> None:
    [(first, created)] = await store.create_runs([new_run("a", key="order-17")], actor=ACTOR)
    assert created
    [(same, created_again)] = await store.create_runs([new_run("a", key="order-17")], actor=ACTOR)
    assert created_again is False
    assert same.id == first.id
    [(other_job, created_b)] = await store.create_runs([new_run("b", key="order-17")], actor=ACTOR)
    assert created_b and other_job.id != first.id
    page = await store.list_runs()
    assert sorted(r.id for r in page.items) == sorted([first.id, other_job.id])


async def test_creating_in_a_state_that_is_not_a_start_is_refused(store: Store) -> None:
    with pytest.raises(Conflict):
        await store.create_runs([new_run("a", state=RunState.RUNNING)], actor=ACTOR)
    with pytest.raises(Conflict):
        await store.create_runs([new_run("a"), new_run("a", state=RunState.SUCCEEDED)], actor=ACTOR)
    assert (await store.list_runs()).items == []
    assert await store.list_events() == []


async def test_skipped_and_waiting_runs_can_be_created(store: Store) -> None:
    result = await store.create_runs(
        [
            new_run("a", state=RunState.SKIPPED, reason="upstream failed"),
            new_run("a", state=RunState.WAITING),
        ],
        actor=ACTOR,
    )
    skipped, waiting = (run for run, _ in result)
    assert skipped.state is RunState.SKIPPED and skipped.reason == "upstream failed"
    assert skipped.finished_at is not None
    assert waiting.state is RunState.WAITING


async def test_cancel_a_queued_run(store: Store) -> None:
    [run] = await queued(store)
    [cancelled] = await store.cancel_runs([run.id], actor="alice", reason="not needed")
    assert cancelled.id == run.id
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.CANCELLED
    assert fetched.reason == "not needed"
    assert fetched.finished_at is not None
    assert await store.claim_runs([run.id], worker_id="w1", lease=30) == []
    assert await store.fetch_queued(["default"], limit=10) == []


async def test_cancel_a_running_run_tells_the_worker_and_fences_its_finish(store: Store) -> None:
    run = await running(store, worker="w1")
    [cancelled] = await store.cancel_runs([run.id], actor="alice", reason="stop")
    assert cancelled.state is RunState.CANCELLED
    assert await store.heartbeat("w1", [(run.id, 1)], lease=30) == [run.id]
    assert await store.finish_runs([outcome(run)], actor="w1") == [False]
    assert (await store.get_run(run.id)).state is RunState.CANCELLED


async def test_cancel_skips_terminal_and_unknown_runs(store: Store) -> None:
    done = await running(store)
    await store.finish_runs([outcome(done)], actor="w1")
    [live] = await queued(store)
    cancelled = await store.cancel_runs([done.id, live.id, "0" * 32], actor=ACTOR, reason="x")
    assert [run.id for run in cancelled] == [live.id]
    assert (await store.get_run(done.id)).state is RunState.SUCCEEDED
    assert await store.cancel_runs([live.id], actor=ACTOR, reason="again") == []


async def test_runs_of_a_job_as_read_only_while_it_is_that_definition(store: Store) -> None:
    """``create_runs_of``: the runs of a job read earlier are made only if the stored job is
    still that definition; a changed one is a version conflict and a job deleted and made
    again under its name is another definition; nothing is written either way."""
    read = await store.create_job(spec("kept"), None)
    [(made, fresh)] = await store.create_runs_of(read, [new_run("kept")], actor=ACTOR)
    assert fresh and made.job == "kept"

    await store.update_job(spec("kept", priority=5), None)
    with pytest.raises(Conflict) as changed:
        await store.create_runs_of(read, [new_run("kept")], actor=ACTOR)
    assert changed.value.field == "version"

    current = await store.get_job("kept")
    await store.delete_job("kept")
    with pytest.raises(NotFound):
        await store.create_runs_of(current, [new_run("kept")], actor=ACTOR)
    await store.create_job(spec("kept", priority=5), None)
    again = await store.get_job("kept")
    if (again.version, again.created_at) == (current.version, current.created_at):
        pytest.fail("a job made again under a name must not read as the deleted one")
    with pytest.raises(Conflict):
        await store.create_runs_of(current, [new_run("kept")], actor=ACTOR)
    runs = (await store.list_runs(RunFilter(job="kept"))).items
    assert [r.id for r in runs] == [made.id]
