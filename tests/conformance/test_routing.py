"""Capability routing in the store's claim: a worker claims only runs of its task types
whose required labels it has, and runs it cannot take never hold back those it can."""

from __future__ import annotations

from collections.abc import Callable

from tss.core.states import RunState
from tss.core.workers import Room
from tss.store.base import Store

from .support import outcome, queued, running

ROOMY = Room(cores=64, memory=1 << 20)
#: the task types of a worker without the ``http`` type
NO_HTTP = frozenset({"noop", "shell", "python"})


async def claim(store: Store, limit: int = 10, **fields: object) -> list[str]:
    """The ids ``claim_next`` takes from pool ``default`` for worker w1 with ``fields``."""
    claimed = await store.claim_next(
        ["default"], limit=limit, worker_id="w1", lease=30, room=ROOMY,
        **fields,  # type: ignore[arg-type]
    )  # fmt: skip
    return [r.id for r in claimed]


async def test_a_worker_claims_only_its_task_types(
    store: Store, advance: Callable[[float], None]
) -> None:
    http = (await queued(store, task_type="http", priority=5))[0]
    advance(0.01)
    noop = (await queued(store))[0]
    assert await claim(store, types=NO_HTTP) == [noop.id]
    assert (await store.get_run(http.id)).state is RunState.QUEUED
    assert await claim(store, types=frozenset({"noop"})) == []
    assert await claim(store, types=frozenset()) == []  # a worker with no types takes none
    # None: any type (what callers that do not say get)
    assert await claim(store, types=None) == [http.id]


async def test_fifty_runs_it_cannot_take_do_not_block_the_one_it_can(
    store: Store, advance: Callable[[float], None]
) -> None:
    """The head-of-queue case: 50 queued runs of a type the worker lacks, then one it has;
    the worker claims that one, even one at a time, and the 50 stay queued."""
    blocked = await queued(store, 50, task_type="http")
    advance(0.01)
    [mine] = await queued(store)
    assert await claim(store, limit=1, types=NO_HTTP) == [mine.id]
    assert await claim(store, limit=1, types=NO_HTTP) == []
    states = {(await store.get_run(r.id)).state for r in blocked}
    assert states == {RunState.QUEUED}
    # a worker that has the type takes them, in order
    taken = await claim(store, limit=50, types=frozenset({"http"}))
    assert sorted(taken) == sorted(r.id for r in blocked)


async def test_runs_that_require_labels_go_only_to_workers_that_have_them_all(
    store: Store, advance: Callable[[float], None]
) -> None:
    gpu_eu = (await queued(store, requires=("gpu", "region=eu"), priority=9))[0]
    advance(0.01)
    gpu = (await queued(store, requires=("gpu",), priority=8))[0]
    advance(0.01)
    plain = (await queued(store))[0]
    # no labels: only the run that requires none, past the two ahead of it
    assert await claim(store, limit=1) == [plain.id]
    # gpu alone is not enough for gpu + region=eu
    assert await claim(store, labels=frozenset({"gpu", "region=us"})) == [gpu.id]
    assert (await store.get_run(gpu_eu.id)).state is RunState.QUEUED
    assert await claim(store, labels=frozenset({"region=eu", "gpu", "ssd"})) == [gpu_eu.id]


async def test_a_worker_with_labels_still_takes_runs_that_require_none(store: Store) -> None:
    [plain] = await queued(store)
    assert await claim(store, types=frozenset({"noop"}), labels=frozenset({"gpu"})) == [plain.id]


async def test_a_retry_on_entry_named_requires_is_not_a_requirement(store: Store) -> None:
    # The word can appear in a policy without being its `requires` key.
    [run] = await queued(store, retry_on=("requires", 'x"requires":'))
    assert await claim(store, types=frozenset({"noop"})) == [run.id]


async def test_type_and_labels_filter_together_across_pools(
    store: Store, advance: Callable[[float], None]
) -> None:
    wrong_type = (await queued(store, task_type="http", requires=("gpu",), priority=9))[0]
    advance(0.01)
    no_label = (await queued(store, requires=("tpu",), pool="io", priority=9))[0]
    advance(0.01)
    both = (await queued(store, requires=("gpu",), pool="io"))[0]
    advance(0.01)
    plain = (await queued(store))[0]
    claimed = await store.claim_next(
        ["default", "io"], limit=10, worker_id="w1", lease=30, room=ROOMY,
        types=NO_HTTP, labels=frozenset({"gpu"}),
    )  # fmt: skip
    assert [r.id for r in claimed] == [both.id, plain.id]
    for run in (wrong_type, no_label):
        assert (await store.get_run(run.id)).state is RunState.QUEUED


async def test_finish_and_claim_filters_by_type_and_labels(
    store: Store, advance: Callable[[float], None]
) -> None:
    done = await running(store, worker="w1")
    advance(0.01)
    await queued(store, 5, task_type="http")
    advance(0.01)
    await queued(store, 5, requires=("gpu",))
    advance(0.01)
    [mine] = await queued(store)
    accepted, claimed = await store.finish_and_claim(
        [outcome(done)], actor="worker:w1", pools=["default"], limit=1, worker_id="w1",
        lease=30, room=ROOMY, types=NO_HTTP, labels=frozenset({"ssd"}),
    )  # fmt: skip
    assert accepted == [True]
    assert [r.id for r in claimed] == [mine.id]
    assert (await store.get_run(done.id)).state is RunState.SUCCEEDED
    # nothing else is for this worker; the outcome of the claimed run is still recorded
    accepted, claimed = await store.finish_and_claim(
        [outcome(claimed[0])], actor="worker:w1", pools=["default"], limit=5, worker_id="w1",
        lease=30, room=ROOMY, types=NO_HTTP, labels=frozenset({"ssd"}),
    )  # fmt: skip
    assert (accepted, claimed) == ([True], [])
    assert len(await store.fetch_queued(["default"], limit=100)) == 10


async def test_the_filter_and_the_room_apply_together(
    store: Store, advance: Callable[[float], None]
) -> None:
    await queued(store, 3, task_type="http")
    advance(0.01)
    big = (await queued(store, cores=8.0))[0]
    advance(0.01)
    small = (await queued(store, cores=1.0))[0]
    claimed = await store.claim_next(
        ["default"], limit=2, worker_id="w1", lease=30, room=Room(cores=2.0, memory=0),
        types=NO_HTTP,
    )  # fmt: skip
    # the limit counts the runs the worker may take (big, small); big does not fit the room
    assert [r.id for r in claimed] == [small.id]
    assert (await store.get_run(big.id)).state is RunState.QUEUED
