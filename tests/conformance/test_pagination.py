"""Listings page with cursors and cover every item exactly once; counts by state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tss.core.models import JobFilter, RunFilter
from tss.core.states import RunState
from tss.store.base import Store

from .support import ACTOR, new_run, outcome, queued, running, spec


async def test_jobs_page_by_name(store: Store) -> None:
    names = [f"job-{n:02d}" for n in range(23)]
    for name in reversed(names):
        await store.create_job(spec(name), None)
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await store.list_jobs(limit=5, cursor=cursor)
        pages += 1
        assert len(page.items) <= 5
        seen.extend(job.name for job in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert pages < 10
    assert seen == names
    assert pages == 5


async def test_job_pages_keep_the_filter(store: Store) -> None:
    for n in range(6):
        await store.create_job(spec(f"a-{n}"), None)
        await store.create_job(spec(f"b-{n}"), None)
    first = await store.list_jobs(JobFilter(prefix="b-"), limit=4)
    assert [j.name for j in first.items] == ["b-0", "b-1", "b-2", "b-3"]
    assert first.next_cursor is not None
    second = await store.list_jobs(JobFilter(prefix="b-"), limit=4, cursor=first.next_cursor)
    assert [j.name for j in second.items] == ["b-4", "b-5"]
    assert second.next_cursor is None


async def test_runs_page_newest_first(store: Store) -> None:
    runs = await queued(store, 37)
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_runs(limit=10, cursor=cursor)
        assert len(page.items) <= 10
        seen.extend(run.id for run in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(seen) < 37, "a cursor after the last item"
    assert sorted(seen) == sorted(run.id for run in runs)
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen, reverse=True)  # ids sort by creation time
    assert seen[0] == max(run.id for run in runs)


async def test_run_filters(store: Store) -> None:
    await queued(store, 3, job="a")
    [b_queued] = await queued(store, job="b")
    b_running = await running(store, job="b")
    b_done = await running(store, job="b")
    await store.finish_runs([outcome(b_done)], actor="w1")

    async def ids(run_filter: RunFilter) -> list[str]:
        page = await store.list_runs(run_filter, limit=100)
        return sorted(run.id for run in page.items)

    assert len(await ids(RunFilter(job="a"))) == 3
    assert await ids(RunFilter(job="b", states=(RunState.QUEUED,))) == [b_queued.id]
    assert await ids(RunFilter(job="b", states=(RunState.RUNNING, RunState.SUCCEEDED))) == sorted(
        [b_running.id, b_done.id]
    )
    assert await ids(RunFilter(job="ghost")) == []
    page = await store.list_runs(RunFilter(job="a"), limit=2)
    rest = await store.list_runs(RunFilter(job="a"), limit=2, cursor=page.next_cursor)
    assert len(page.items) == 2 and len(rest.items) == 1 and rest.next_cursor is None
    assert all(run.job == "a" for run in [*page.items, *rest.items])


async def test_run_filter_by_time(store: Store, advance: Callable[[float], None]) -> None:
    [old] = await queued(store)
    advance(0.05)
    middle: datetime = await store.now()
    advance(0.05)
    [new] = await queued(store)
    since = await store.list_runs(RunFilter(since=middle))
    until = await store.list_runs(RunFilter(until=middle))
    assert [r.id for r in since.items] == [new.id]
    assert [r.id for r in until.items] == [old.id]


async def test_count_runs_by_state(store: Store) -> None:
    assert all(n == 0 for n in (await store.count_runs()).values())
    await queued(store, 2, job="a")
    await running(store, job="a")
    done = await running(store, job="b")
    await store.finish_runs([outcome(done)], actor="w1")
    await store.create_runs([new_run("b", state=RunState.SKIPPED)], actor=ACTOR)
    counts = await store.count_runs()
    assert {s: n for s, n in counts.items() if n} == {
        RunState.QUEUED: 2,
        RunState.RUNNING: 1,
        RunState.SUCCEEDED: 1,
        RunState.SKIPPED: 1,
    }
    only_a = await store.count_runs(RunFilter(job="a"))
    assert {s: n for s, n in only_a.items() if n} == {RunState.QUEUED: 2, RunState.RUNNING: 1}
