"""Claims, leases, heartbeats, expiry and timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from tss.core.states import RunState
from tss.core.workers import Room
from tss.store.base import Store

from .support import ACTOR, outcome, queued, running, seconds


async def test_claim_moves_a_queued_run_to_running_attempt_one(store: Store) -> None:
    [run] = await queued(store)
    before = await store.now()
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
    for r in (claimed, await store.get_run(run.id)):
        assert r.state is RunState.RUNNING
        assert r.attempt == 1
        assert r.worker_id == "w1"
        assert r.started_at is not None and r.started_at >= before
        assert r.lease_until is not None
        assert seconds(29) <= r.lease_until - r.started_at <= seconds(31)
    [attempt] = await store.list_attempts(run.id)
    assert (attempt.number, attempt.worker_id, attempt.state) == (1, "w1", RunState.RUNNING)
    assert attempt.finished_at is None


async def test_a_duplicate_claim_is_dropped(store: Store) -> None:
    [run] = await queued(store)
    assert len(await store.claim_runs([run.id], worker_id="w1", lease=30)) == 1
    assert await store.claim_runs([run.id], worker_id="w2", lease=30) == []
    assert await store.claim_runs([run.id, run.id], worker_id="w1", lease=30) == []
    fetched = await store.get_run(run.id)
    assert (fetched.attempt, fetched.worker_id) == (1, "w1")
    assert len(await store.list_attempts(run.id)) == 1


async def test_claiming_the_same_id_twice_in_one_call_claims_it_once(store: Store) -> None:
    [run] = await queued(store)
    claimed = await store.claim_runs([run.id, run.id, "0" * 32], worker_id="w1", lease=30)
    assert [r.id for r in claimed] == [run.id]
    assert (await store.get_run(run.id)).attempt == 1


async def test_concurrent_claimers_get_disjoint_sets(
    store: Store, store_factory: Callable[[], Awaitable[Store]]
) -> None:
    runs = await queued(store, 40)
    ids = [run.id for run in runs]
    others = [await store_factory() for _ in range(3)]
    results = await asyncio.gather(
        *(
            s.claim_runs(ids if n % 2 else ids[::-1], worker_id=f"w{n}", lease=30)
            for n, s in enumerate([store, *others])
        )
    )
    claimed = [run.id for result in results for run in result]
    assert sorted(claimed) == sorted(ids)  # each run went to exactly one claimer
    for result, n in zip(results, range(4), strict=True):
        for run in result:
            fetched = await store.get_run(run.id)
            assert (fetched.worker_id, fetched.attempt) == (f"w{n}", 1)


async def test_fetch_queued_orders_by_priority_then_age_and_filters_pools(
    store: Store, advance: Callable[[float], None]
) -> None:
    low_old = (await queued(store, priority=1))[0]
    advance(0.01)
    high = (await queued(store, priority=5))[0]
    advance(0.01)
    low_new = (await queued(store, priority=1))[0]
    advance(0.01)
    io = (await queued(store, priority=9, pool="io"))[0]
    running_run = await running(store, priority=9)

    fetched = await store.fetch_queued(["default"], limit=10)
    assert [r.id for r in fetched] == [high.id, low_old.id, low_new.id]
    assert running_run.id not in [r.id for r in fetched]
    assert [r.id for r in await store.fetch_queued(["default"], limit=2)] == [high.id, low_old.id]
    both = await store.fetch_queued(["default", "io"], limit=10)
    assert [r.id for r in both] == [io.id, high.id, low_old.id, low_new.id]
    assert await store.fetch_queued(["gpu"], limit=10) == []
    # reading does not claim
    assert (await store.get_run(high.id)).state is RunState.QUEUED


async def test_heartbeat_extends_the_lease(store: Store, advance: Callable[[float], None]) -> None:
    run = await running(store, lease=0.3)
    first_lease = run.lease_until
    assert first_lease is not None
    advance(0.15)
    assert await store.heartbeat("w1", [(run.id, 1)], lease=30) == []
    advance(0.3)  # past the first lease
    assert await store.expired_runs(limit=10) == []
    fetched = await store.get_run(run.id)
    assert fetched.lease_until is not None and fetched.lease_until > first_lease + seconds(20)
    assert fetched.state is RunState.RUNNING


async def test_heartbeat_reports_runs_the_worker_no_longer_holds(store: Store) -> None:
    kept = await running(store, worker="w1")
    cancelled = await running(store, worker="w1")
    finished = await running(store, worker="w1")
    await store.cancel_runs([cancelled.id], actor=ACTOR, reason="stop")
    await store.finish_runs([outcome(finished)], actor="w1")
    held = [(kept.id, 1), (cancelled.id, 1), (finished.id, 1)]
    lost = await store.heartbeat("w1", held, lease=30)
    assert sorted(lost) == sorted([cancelled.id, finished.id])


async def test_heartbeat_with_a_stale_attempt_is_fenced_off(store: Store) -> None:
    run = await running(store, worker="w1")
    # the worker hands the run back, and another worker claims attempt 2
    await store.finish_runs([outcome(run, RunState.QUEUED, reason="draining")], actor="w1")
    [again] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    assert again.attempt == 2
    assert await store.heartbeat("w1", [(run.id, 1)], lease=30) == [run.id]
    assert await store.heartbeat("w2", [(run.id, 2)], lease=30) == []
    assert (await store.get_run(run.id)).worker_id == "w2"


async def test_a_run_whose_lease_passed_is_expired(
    store: Store, advance: Callable[[float], None]
) -> None:
    short = await running(store, lease=0.1)
    long = await running(store, lease=60)
    assert await store.expired_runs(limit=10) == []
    advance(0.2)
    expired = await store.expired_runs(limit=10)
    assert [r.id for r in expired] == [short.id]
    assert expired[0].state is RunState.RUNNING
    assert long.id not in [r.id for r in expired]
    assert await store.expired_runs(limit=0) == []


async def test_overdue_runs_follow_the_timeout_plus_grace(
    store: Store, advance: Callable[[float], None]
) -> None:
    timed = await running(store, timeout=0.5)
    untimed = await running(store)
    early = await store.overdue_runs(grace=0, limit=10)
    assert timed.started_at is not None
    if (await store.now() - timed.started_at).total_seconds() < 0.5:
        # read before its timeout was up (a loaded machine may stall past it: then the
        # read proves nothing either way)
        assert early == []
    advance(0.6)
    overdue = await store.overdue_runs(grace=0, limit=10)
    assert [r.id for r in overdue] == [timed.id]
    assert untimed.id not in [r.id for r in overdue]
    assert await store.overdue_runs(grace=30, limit=10) == []
    await store.finish_runs([outcome(timed)], actor="w1")
    assert await store.overdue_runs(grace=0, limit=10) == []


ROOMY = Room(cores=64, memory=1 << 20)


async def test_claim_next_takes_the_head_of_the_queue_in_order(
    store: Store, advance: Callable[[float], None]
) -> None:
    low = (await queued(store, priority=1))[0]
    advance(0.01)
    high = (await queued(store, priority=5))[0]
    advance(0.01)
    other_pool = (await queued(store, priority=9, pool="io"))[0]
    claimed = await store.claim_next(["default"], limit=1, worker_id="w1", lease=30, room=ROOMY)
    assert [r.id for r in claimed] == [high.id]
    assert (claimed[0].state, claimed[0].attempt, claimed[0].worker_id) == (
        RunState.RUNNING, 1, "w1",
    )  # fmt: skip
    assert (await store.get_run(high.id)).state is RunState.RUNNING
    rest = await store.claim_next(["default"], limit=5, worker_id="w1", lease=30, room=ROOMY)
    assert [r.id for r in rest] == [low.id]
    assert await store.claim_next(["default"], limit=5, worker_id="w1", lease=30, room=ROOMY) == []
    assert (await store.get_run(other_pool.id)).state is RunState.QUEUED
    assert len(await store.list_attempts(high.id)) == 1


async def test_claim_next_takes_only_what_fits_in_the_room(
    store: Store, advance: Callable[[float], None]
) -> None:
    big = (await queued(store, cores=3.0))[0]
    advance(0.01)
    hungry = (await queued(store, memory=4096))[0]
    advance(0.01)
    small = (await queued(store, cores=1.0, memory=512))[0]
    advance(0.01)
    light = (await queued(store))[0]
    room = Room(cores=2.0, memory=1024)
    claimed = await store.claim_next(["default"], limit=10, worker_id="w1", lease=30, room=room)
    # the big and hungry runs are passed over, not waited for; they stay queued
    assert [r.id for r in claimed] == [small.id, light.id]
    for run in (big, hungry):
        assert (await store.get_run(run.id)).state is RunState.QUEUED
    assert Room(cores=1.5, memory=0).fit([("a", 1.0, 0), ("b", 1.0, 0), ("c", 0.5, 0)]) == [
        "a", "c",
    ]  # fmt: skip


async def test_concurrent_claim_next_callers_take_disjoint_runs(
    store: Store, store_factory: Callable[[], Awaitable[Store]]
) -> None:
    runs = await queued(store, 60)
    others = [await store_factory() for _ in range(3)]
    results = await asyncio.gather(
        *(
            s.claim_next(["default"], limit=20, worker_id=f"w{n}", lease=30, room=ROOMY)
            for n, s in enumerate([store, *others])
        )
    )
    claimed = [run.id for result in results for run in result]
    assert len(claimed) == len(set(claimed))  # no run went to two claimers
    for result, n in zip(results, range(4), strict=True):
        for run in result:
            fetched = await store.get_run(run.id)
            assert (fetched.worker_id, fetched.attempt) == (f"w{n}", 1)
    # whatever was left is still there for the next call
    more = await store.claim_next(["default"], limit=100, worker_id="w9", lease=30, room=ROOMY)
    assert sorted(claimed + [r.id for r in more]) == sorted(r.id for r in runs)


async def test_finish_and_claim_records_the_outcomes_then_claims_what_fits(
    store: Store, advance: Callable[[float], None]
) -> None:
    """A worker's combined step: the outcomes are fenced and recorded as by finish_runs, then
    the head of the queue is claimed as by claim_next, whatever the outcomes were."""
    done = await running(store, worker="w1")
    stale = await running(store, worker="w1")
    await store.finish_runs([outcome(stale, RunState.FAILED)], actor="w1")  # it ended already
    advance(0.01)
    big = (await queued(store, cores=3.0))[0]
    advance(0.01)
    first = (await queued(store))[0]
    advance(0.01)
    second = (await queued(store))[0]
    accepted, claimed = await store.finish_and_claim(
        [outcome(done), outcome(stale)], actor="worker:w2", pools=["default"], limit=2,
        worker_id="w2", lease=30, room=Room(cores=2.0, memory=1024),
    )  # fmt: skip
    assert accepted == [True, False]  # the second attempt no longer holds its run
    assert (await store.get_run(done.id)).state is RunState.SUCCEEDED
    assert (await store.get_run(stale.id)).state is RunState.FAILED
    # limit 2 reads the big run and the first small one; the big one does not fit
    assert [r.id for r in claimed] == [first.id]
    assert (claimed[0].state, claimed[0].worker_id, claimed[0].attempt) == (
        RunState.RUNNING, "w2", 1,
    )  # fmt: skip
    assert (await store.get_run(big.id)).state is RunState.QUEUED
    assert (await store.get_run(second.id)).state is RunState.QUEUED
    # a run that asks for nothing fits any room; then nothing is left to claim, and the
    # outcomes are recorded all the same
    again = await running(store, worker="w2")
    accepted, claimed = await store.finish_and_claim(
        [outcome(again)], actor="worker:w2", pools=["default"], limit=5, worker_id="w2",
        lease=30, room=Room(cores=0.5, memory=0),
    )  # fmt: skip
    assert accepted == [True]
    assert [r.id for r in claimed] == [second.id]
    assert (await store.get_run(again.id)).state is RunState.SUCCEEDED
    accepted, claimed = await store.finish_and_claim(
        [outcome(claimed[0])], actor="worker:w2", pools=["default"], limit=5, worker_id="w2",
        lease=30, room=Room(cores=0.5, memory=0),
    )  # fmt: skip
    assert (accepted, claimed) == ([True], [])
    assert (await store.get_run(second.id)).state is RunState.SUCCEEDED
