"""The outbox: queued runs are published until the broker has them, and again if lost."""

from __future__ import annotations

from collections.abc import Callable

from tss.core.states import RunState
from tss.store.base import Store

from .support import ACTOR, new_run, outcome, queued, running


async def unpublished(
    store: Store, older_than: float = 0, republish_after: float = 60
) -> list[str]:
    runs = await store.find_unpublished(
        older_than=older_than, republish_after=republish_after, limit=100
    )
    assert all(run.state is RunState.QUEUED for run in runs)
    return sorted(run.id for run in runs)


async def test_queued_runs_wait_in_the_outbox_until_published(store: Store) -> None:
    runs = await queued(store, 3)
    ids = sorted(run.id for run in runs)
    assert await unpublished(store) == ids
    assert await unpublished(store) == ids  # finding does not publish
    await store.mark_published([runs[0].id, runs[1].id])
    assert await unpublished(store) == [runs[2].id]
    await store.mark_published([runs[2].id])
    assert await unpublished(store) == []


async def test_fresh_runs_are_left_to_the_normal_publish_path(
    store: Store, advance: Callable[[float], None]
) -> None:
    [run] = await queued(store)
    assert await unpublished(store, older_than=0.2) == []
    advance(0.3)
    assert await unpublished(store, older_than=0.2) == [run.id]


async def test_published_runs_still_queued_are_published_again(
    store: Store, advance: Callable[[float], None]
) -> None:
    [run] = await queued(store)
    await store.mark_published([run.id])
    assert await unpublished(store, republish_after=0.2) == []
    advance(0.3)
    assert await unpublished(store, republish_after=0.2) == [run.id]
    await store.mark_published([run.id])
    assert await unpublished(store, republish_after=0.2) == []


async def test_only_queued_runs_are_in_the_outbox(store: Store) -> None:
    await running(store)
    await store.create_runs(
        [
            new_run(state=RunState.WAITING),
            new_run(state=RunState.SKIPPED),
            new_run(state=RunState.SCHEDULED, not_before=await store.now()),
        ],
        actor=ACTOR,
    )
    [cancelled] = await queued(store)
    await store.cancel_runs([cancelled.id], actor=ACTOR, reason="x")
    assert await unpublished(store, republish_after=0) == []


async def test_a_requeued_run_is_unpublished_again(store: Store) -> None:
    run = await running(store)
    await store.mark_published([run.id])
    await store.finish_runs([outcome(run, RunState.QUEUED)], actor="w1")
    assert await unpublished(store) == [run.id]


async def test_limit_is_respected(store: Store) -> None:
    await queued(store, 5)
    runs = await store.find_unpublished(older_than=0, republish_after=60, limit=2)
    assert len(runs) == 2
