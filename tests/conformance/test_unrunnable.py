"""Failing queued runs no live worker can take (``fail_queued_runs``), on every store."""

from __future__ import annotations

from tss.core.models import ErrorInfo, RunFilter
from tss.core.states import RunState
from tss.core.waiting import UNRUNNABLE
from tss.store.base import Store

from .flows import define, start, states
from .support import ACTOR, queued, running

S = RunState
WHY = ErrorInfo(UNRUNNABLE, "no live worker serves pool 'gpu'")


async def test_a_queued_run_fails_with_the_reason_and_no_attempt(store: Store) -> None:
    [run, other] = await queued(store, 2)
    [failed] = await store.fail_queued_runs([run.id, run.id], actor="scheduler:s1", error=WHY)
    assert (failed.id, failed.state, failed.error, failed.reason) == (
        run.id, S.FAILED, WHY, WHY.message,
    )  # fmt: skip
    stored = await store.get_run(run.id)
    assert (stored.state, stored.error, stored.reason) == (S.FAILED, WHY, WHY.message)
    assert stored.finished_at is not None and stored.attempt == 0
    assert await store.list_attempts(run.id) == []
    last = (await store.list_events(run_id=run.id))[-1]
    assert (last.source, last.target, last.actor, last.reason) == (
        S.QUEUED, S.FAILED, "scheduler:s1", WHY.message,
    )  # fmt: skip
    assert (await store.get_run(other.id)).state is S.QUEUED
    # It left the queue: nothing hands it to a worker or publishes it again.
    assert [r.id for r in await store.fetch_queued(["default"], limit=10)] == [other.id]
    unpublished = await store.find_unpublished(older_than=0, republish_after=0, limit=10)
    assert run.id not in {r.id for r in unpublished}
    assert (await store.count_runs(RunFilter(job=run.job)))[S.FAILED] == 1


async def test_a_run_no_longer_queued_is_left_alone(store: Store) -> None:
    taken = await running(store)
    [cancelled] = await queued(store)
    await store.cancel_runs([cancelled.id], actor=ACTOR, reason="stop")
    count = len(await store.list_events())
    ids = [taken.id, cancelled.id, "no-such-run"]
    assert await store.fail_queued_runs(ids, actor=ACTOR, error=WHY) == []
    assert await store.fail_queued_runs([], actor=ACTOR, error=WHY) == []
    assert (await store.get_run(taken.id)).state is S.RUNNING
    assert (await store.get_run(cancelled.id)).state is S.CANCELLED
    assert len(await store.list_events()) == count


async def test_failing_a_flow_root_decides_its_waiting_runs(store: Store) -> None:
    jobs = await define(store, "extract", ("load", ["extract"]))
    flow = await start(store, jobs["extract"])
    assert await store.fail_queued_runs([flow], actor=ACTOR, error=WHY)
    assert await states(store, flow) == {"extract": S.FAILED, "load": S.SKIPPED}
