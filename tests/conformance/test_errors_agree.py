"""Refusals that read the same on every store, beyond the missing and duplicate records of
``test_errors.py``: bad listing arguments, an illegal new run, and fencing.

A listing argument is checked by a shared rule (:mod:`tss.store.paging`); each case here
asks that rule for its error and requires every store to raise exactly that one, type,
field and message. Fencing refusals are not errors: every store answers a finish or a
heartbeat that no longer holds its run with ``False`` or "lost", and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest

from tss.core.states import RunState, check_transition
from tss.errors import TSSError
from tss.store.base import Store
from tss.store.paging import FLOWS, JobOrder, bucket_us, check_offset, run_after

from .support import ACTOR, new_run, outcome, queued, running, seconds, spec


def rule_error(check: Callable[[], object]) -> TSSError:
    """The error a shared rule raises."""
    with pytest.raises(TSSError) as caught:
        check()
    return caught.value


async def refused(call: Awaitable[object], expected: TSSError) -> None:
    """``call`` raises an error of ``expected``'s type, field and message."""
    with pytest.raises(TSSError) as caught:
        await call
    got = caught.value
    assert (type(got), got.field, got.message) == (type(expected), expected.field, expected.message)


async def test_bad_listing_arguments_read_alike(store: Store) -> None:
    await refused(store.list_jobs(sort="colour"), rule_error(lambda: JobOrder.of("colour")))
    name = JobOrder.of("name")
    await refused(store.list_jobs(cursor="garbage"), rule_error(lambda: name.after("garbage")))
    await refused(store.list_jobs(offset=-1), rule_error(lambda: check_offset(-1)))
    await refused(store.list_runs(cursor="garbage"), rule_error(lambda: run_after("garbage")))
    await refused(store.list_runs(offset=-1), rule_error(lambda: check_offset(-1)))
    await refused(
        store.list_flows(cursor="garbage"), rule_error(lambda: run_after("garbage", FLOWS))
    )
    since = await store.now() - seconds(60)
    await refused(store.throughput(since=since, bucket=0), rule_error(lambda: bucket_us(0)))


async def test_a_cursor_of_another_sort_reads_alike(store: Store) -> None:
    for name in ("a", "b"):
        await store.create_job(spec(name), None)
    cursor = (await store.list_jobs(limit=1)).next_cursor
    assert cursor is not None
    newest = JobOrder.of("-created_at")
    await refused(
        store.list_jobs(sort="-created_at", cursor=cursor),
        rule_error(lambda: newest.after(cursor)),
    )


async def test_an_illegal_new_run_reads_alike_and_creates_nothing(store: Store) -> None:
    good, bad = new_run(), new_run(state=RunState.RUNNING)
    await refused(
        store.create_runs([good, bad], actor=ACTOR),
        rule_error(lambda: check_transition(None, RunState.RUNNING)),
    )
    assert (await store.list_runs()).items == []


async def test_a_stale_attempt_is_refused_alike(store: Store) -> None:
    run = await running(store)
    later = replace(outcome(run), attempt=run.attempt + 1)
    assert await store.finish_runs([later], actor=ACTOR) == [False]
    assert await store.heartbeat("w1", [(run.id, run.attempt + 1)], lease=30) == [run.id]
    # The reaper's finish loses to a lease that still runs; a target not reachable from
    # running is refused.
    reaped = outcome(run, RunState.FAILED, require_expired=True)
    assert await store.finish_runs([reaped], actor=ACTOR) == [False]
    assert await store.finish_runs([outcome(run, RunState.WAITING)], actor=ACTOR) == [False]
    held = await store.get_run(run.id)
    assert (held.state, held.attempt) == (RunState.RUNNING, run.attempt)
    assert await store.finish_runs([outcome(run)], actor=ACTOR) == [True]


async def test_an_ended_run_is_held_by_no_attempt(store: Store) -> None:
    run = await running(store)
    assert await store.finish_runs([outcome(run)], actor=ACTOR) == [True]
    assert await store.heartbeat("w1", [(run.id, run.attempt)], lease=30) == [run.id]
    assert await store.finish_runs([outcome(run, RunState.FAILED)], actor=ACTOR) == [False]
    [never] = await queued(store)
    assert await store.heartbeat("w1", [(never.id, 0)], lease=30) == [never.id]
    assert await store.finish_runs([outcome(never)], actor=ACTOR) == [False]
    assert (await store.get_run(run.id)).state is RunState.SUCCEEDED
