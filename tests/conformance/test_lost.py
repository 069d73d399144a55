"""A run whose worker died (its lease ran out) is re-queued without spending a try, up to
``max_lost`` times; past that the loss is a failed try, so a run that kills its workers ends.
The real scheduler's reaper on every store."""

from __future__ import annotations

from collections.abc import Callable

from tss.broker.local import LocalBroker
from tss.config import SchedulerConfig
from tss.core.models import Run
from tss.core.states import RunState
from tss.scheduler.scheduler import Scheduler
from tss.store.base import Store

from .support import outcome, running

LEASE = 0.1


async def lose(store: Store, scheduler: Scheduler, run: Run, advance: Callable[[float], None],
               worker: str) -> Run:  # fmt: skip
    """Claim ``run`` as ``worker``, let the lease run out, reap; the run as it is then."""
    [claimed] = await store.claim_runs([run.id], worker_id=worker, lease=LEASE)
    assert claimed.worker_id == worker
    advance(LEASE * 2)
    assert await scheduler.reap() == 1
    return await store.get_run(run.id)


def reaper(store: Store, **settings: int) -> Scheduler:
    return Scheduler(store, LocalBroker(), SchedulerConfig(**settings))


async def test_a_lost_worker_does_not_spend_a_try(
    store: Store, advance: Callable[[float], None]
) -> None:
    scheduler = reaper(store)
    run = await running(store, worker="w1", lease=LEASE)  # retries 0: one try
    advance(LEASE * 2)
    assert await scheduler.reap() == 1
    requeued = await store.get_run(run.id)
    assert requeued.state is RunState.QUEUED and requeued.handbacks == 1
    assert requeued.reason is not None and "without spending a try" in requeued.reason
    assert "w1" in requeued.reason and "lost 1 of max_lost 3" in requeued.reason
    [attempt] = await store.list_attempts(run.id)
    assert attempt.state is RunState.FAILED
    assert attempt.error is not None and attempt.error.type == "LeaseExpired"
    # published again at once, not left to the reconciler
    assert await store.find_unpublished(older_than=0, republish_after=3600, limit=10) == []
    # another worker takes it and the run succeeds on its one try
    [again] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    assert again.attempt == 2
    assert await store.finish_runs([outcome(again)], actor="w2") == [True]
    assert (await store.get_run(run.id)).state is RunState.SUCCEEDED


async def test_a_run_that_keeps_losing_its_workers_ends_naming_them(
    store: Store, advance: Callable[[float], None]
) -> None:
    scheduler = reaper(store, max_lost=2)
    [run] = [await running(store, worker="w1", lease=LEASE)]
    advance(LEASE * 2)
    assert await scheduler.reap() == 1
    assert (await lose(store, scheduler, run, advance, "w2")).state is RunState.QUEUED
    ended = await lose(store, scheduler, run, advance, "w3")
    assert ended.state is RunState.FAILED and ended.attempt == 3
    assert ended.error is not None and ended.error.type == "LeaseExpired"
    assert "lost 3 workers, more than max_lost 2: w1, w2, w3" in ended.error.message
    assert ended.reason == "attempt 1 of 1 failed (LeaseExpired); no tries left"
    assert [a.worker_id for a in await store.list_attempts(run.id)] == ["w1", "w2", "w3"]


async def test_past_max_lost_a_loss_spends_a_try(
    store: Store, advance: Callable[[float], None]
) -> None:
    scheduler = reaper(store, max_lost=1)
    run = await running(store, worker="w1", lease=LEASE, retries=1)
    advance(LEASE * 2)
    assert await scheduler.reap() == 1
    assert (await store.get_run(run.id)).state is RunState.QUEUED
    retried = await lose(store, scheduler, run, advance, "w2")
    assert retried.state is RunState.RETRYING
    assert retried.reason is not None and retried.reason.startswith("attempt 1 of 2 failed")


async def test_the_jobs_own_max_lost_wins(store: Store, advance: Callable[[float], None]) -> None:
    scheduler = reaper(store, max_lost=5)
    run = await running(store, worker="w1", lease=LEASE, max_lost=0)
    advance(LEASE * 2)
    assert await scheduler.reap() == 1
    failed = await store.get_run(run.id)
    assert failed.state is RunState.FAILED and failed.handbacks == 0
    assert failed.error is not None and "more than max_lost 0: w1" in failed.error.message


async def test_a_live_lease_is_not_reaped(store: Store, advance: Callable[[float], None]) -> None:
    scheduler = reaper(store)
    run = await running(store, worker="w1", lease=30)
    assert await scheduler.reap() == 0
    assert (await store.get_run(run.id)).state is RunState.RUNNING
