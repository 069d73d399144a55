"""Throughput: ended runs counted per time bucket (aligned to the epoch) and final state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from tss.core.models import Run
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.errors import ValidationError
from tss.store.base import Store

from .support import ACTOR, error, new_run, outcome, queued, running


async def end_some(store: Store) -> list[str]:
    """Runs ending in several states, and two that do not end; their ids."""
    done = [await running(store, job="a") for _ in range(2)]
    broken = await running(store, job="b")
    await store.finish_runs([outcome(run) for run in done], actor="w1")
    await store.finish_runs([outcome(broken, RunState.FAILED, error=error())], actor="w1")
    [(skipped, _)] = await store.create_runs([new_run("c", state=RunState.SKIPPED)], actor=ACTOR)
    [dropped] = await queued(store, job="c")
    await store.cancel_runs([dropped.id], actor=ACTOR, reason="not wanted")
    await queued(store, job="d")  # still queued: not ended
    await running(store, job="d")  # still running: not ended
    return [run.id for run in (*done, broken, skipped, dropped)]


def expected(runs: list[Run], since: datetime, bucket: int) -> list[tuple[datetime, RunState, int]]:
    """The counts worked out here from each run's end time."""
    width = bucket * 1_000_000
    counts = Counter(
        (to_micros(run.finished_at) // width * width, run.state.value)
        for run in runs
        if run.finished_at is not None and run.finished_at >= since
    )
    return [(from_micros(at), RunState(state), n) for (at, state), n in sorted(counts.items())]


async def test_ended_runs_are_counted_per_bucket_and_state(
    store: Store, advance: Callable[[float], None]
) -> None:
    start = await store.now()
    first = await end_some(store)
    advance(1.0)  # the next ones end in a later one-second bucket
    middle = await store.now()
    second = await end_some(store)
    runs = [await store.get_run(run_id) for run_id in first + second]

    per_second = await store.throughput(since=start, bucket=1)
    assert per_second == expected(runs, start, 1)
    assert len({at for at, _, _ in per_second}) >= 2
    assert sum(n for _, _, n in per_second) == 10
    assert {state for _, state, _ in per_second} == {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.SKIPPED,
        RunState.CANCELLED,
    }
    for at, _, _ in per_second:
        assert at.tzinfo is not None and at.utcoffset() == UTC.utcoffset(at)
        assert to_micros(at) % 1_000_000 == 0
    assert per_second == sorted(per_second, key=lambda row: (row[0], row[1].value))

    later = await store.throughput(since=middle, bucket=1)
    assert later == expected(runs, middle, 1)
    assert sum(n for _, _, n in later) == 5

    per_hour = await store.throughput(since=start, bucket=3600)
    assert per_hour == expected(runs, start, 3600)
    assert all(to_micros(at) % 3_600_000_000 == 0 for at, _, _ in per_hour)
    assert sum(n for _, _, n in per_hour) == 10


async def test_nothing_ended_is_an_empty_list(store: Store) -> None:
    await queued(store, 2)
    await running(store)
    assert await store.throughput(since=datetime(2000, 1, 1, tzinfo=UTC)) == []


async def test_bucket_must_be_positive(store: Store) -> None:
    for bucket in (0, -60):
        with pytest.raises(ValidationError) as info:
            await store.throughput(since=await store.now(), bucket=bucket)
        assert info.value.field == "bucket"
