"""Every transition writes an event: who, when, from, to, why; in order; pageable."""

from __future__ import annotations

from collections.abc import Callable

from tss.core.states import RunState
from tss.store.base import Store

from .support import error, outcome, queued, running, seconds

S = RunState


async def test_a_run_life_writes_one_event_per_transition(
    store: Store, advance: Callable[[float], None]
) -> None:
    start = await store.now()
    run = await running(store, worker="w1", retries=1)
    retry = outcome(
        run, S.RETRYING, error=error(), attempt_state=S.FAILED,
        retry_delay=0.05, reason="retrying",
    )  # fmt: skip
    await store.finish_runs([retry], actor="w1")
    advance(0.1)
    await store.promote_due_runs(limit=5, actor="scheduler")
    [second] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    await store.finish_runs([outcome(second, reason="done")], actor="w2")

    events = await store.list_events(run_id=run.id)
    assert [(e.source, e.target, e.actor) for e in events] == [
        (None, S.QUEUED, "test"),
        (S.QUEUED, S.RUNNING, "w1"),
        (S.RUNNING, S.RETRYING, "w1"),
        (S.RETRYING, S.QUEUED, "scheduler"),
        (S.QUEUED, S.RUNNING, "w2"),
        (S.RUNNING, S.SUCCEEDED, "w2"),
    ]
    assert [e.attempt for e in events[1:]] == [1, 1, 1, 2, 2]
    assert events[2].reason == "retrying"
    assert events[-1].reason == "done"
    assert all(e.run_id == run.id and e.job == "job-a" for e in events)
    ids = [e.id for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    ats = [e.at for e in events]
    assert ats == sorted(ats)
    assert all(at.tzinfo is not None and at >= start - seconds(1) for at in ats)


async def test_cancel_writes_an_event_with_reason_and_actor(store: Store) -> None:
    [run] = await queued(store)
    await store.cancel_runs([run.id], actor="alice", reason="wrong params")
    last = (await store.list_events(run_id=run.id))[-1]
    assert (last.source, last.target, last.actor, last.reason) == (
        S.QUEUED,
        S.CANCELLED,
        "alice",
        "wrong params",
    )


async def test_refused_changes_write_no_event(store: Store) -> None:
    run = await running(store)
    await store.finish_runs([outcome(run)], actor="w1")
    count = len(await store.list_events())
    await store.finish_runs([outcome(run)], actor="w1")
    await store.claim_runs([run.id], worker_id="w2", lease=30)
    await store.cancel_runs([run.id], actor="alice", reason="late")
    await store.heartbeat("w1", [(run.id, 1)], lease=30)
    assert len(await store.list_events()) == count


async def test_events_page_with_after(store: Store) -> None:
    runs = await queued(store, 7)
    for run in runs[:3]:
        await store.claim_runs([run.id], worker_id="w1", lease=30)
    everything = await store.list_events(limit=1000)
    assert len(everything) == 10
    seen = []
    after = 0
    while True:
        page = await store.list_events(after=after, limit=3)
        if not page:
            break
        assert len(page) <= 3
        assert all(e.id > after for e in page)
        seen.extend(page)
        after = page[-1].id
    assert seen == everything
    assert await store.list_events(after=everything[-1].id) == []


async def test_last_event_id_is_the_newest(store: Store) -> None:
    assert await store.last_event_id() == 0
    runs = await queued(store, 2)
    await store.claim_runs([runs[0].id], worker_id="w1", lease=30)
    everything = await store.list_events(limit=1000)
    assert await store.last_event_id() == everything[-1].id == max(e.id for e in everything)


async def test_events_filter_by_run(store: Store) -> None:
    a, b = await queued(store, 2)
    await store.claim_runs([b.id], worker_id="w1", lease=30)
    assert [e.target for e in await store.list_events(run_id=a.id)] == [S.QUEUED]
    assert [e.target for e in await store.list_events(run_id=b.id)] == [S.QUEUED, S.RUNNING]
