"""Job listings in every sort order, cursors and offsets; jobs by the state of their newest
run; the newest run of each job; run listing offsets and cursors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tss.core.ids import new_id
from tss.core.models import JOB_SORTS, Job, JobFilter, Run
from tss.core.states import RunState
from tss.errors import ValidationError
from tss.store.base import Store

from .support import ACTOR, new_run, outcome, seconds, spec

#: creation order, deliberately not name order
NAMES = ["kilo", "alpha", "juliet", "bravo", "echo", "hotel", "charlie", "golf", "delta", "fox"]
#: seconds from now to each job's next fire; None: no next fire. Repeats test the ties.
FIRES = [60, None, 30, 60, None, 10, 30, None, 90, 10]


def expected_order(jobs: list[Job], sort: str) -> list[str]:
    """The names in ``sort`` order, worked out here independently of any store."""
    column, descending = sort.lstrip("-"), sort.startswith("-")

    def key(job: Job) -> tuple[object, ...]:
        if column == "name":
            return (job.name,)
        value: datetime | None = getattr(job, column)
        # a missing time is the latest possible time: after every real one
        return (value is None, value or datetime.min, job.name)

    return [job.name for job in sorted(jobs, key=key, reverse=descending)]


async def ten_jobs(store: Store, advance: Callable[[float], None]) -> list[Job]:
    """Ten jobs whose creation, update and next fire times all order them differently,
    with ties in each (two jobs at a time share a creation time on a fake clock)."""
    now = await store.now()
    for n, (name, fire) in enumerate(zip(NAMES, FIRES, strict=True)):
        await store.create_job(spec(name), None if fire is None else now + seconds(fire))
        if n % 2:
            advance(0.002)
    for name in ("delta", "alpha", "kilo"):
        advance(0.002)
        job = await store.get_job(name)
        await store.update_job(job.spec, job.next_fire_at)
    jobs = list((await store.get_jobs(NAMES)).values())
    assert len(jobs) == 10
    return jobs


async def walk(store: Store, sort: str, size: int = 3) -> tuple[list[str], int]:
    """Every job name in ``sort`` order, following cursors; and how many pages it took."""
    names: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = await store.list_jobs(sort=sort, limit=size, cursor=cursor)
        pages += 1
        assert len(page.items) <= size
        assert page.total == 10  # every match, whatever the page
        names.extend(job.name for job in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return names, pages
        assert pages < 10, "a cursor after the last item"


async def test_every_sort_pages_through_cursors_in_order(
    store: Store, advance: Callable[[float], None]
) -> None:
    jobs = await ten_jobs(store, advance)
    orders = set()
    for sort in JOB_SORTS:
        names, pages = await walk(store, sort)
        assert names == expected_order(jobs, sort), sort
        assert pages == 4, sort
        orders.add(tuple(names))
    # the data orders the jobs differently under each sort, so a sort that is ignored fails
    assert len(orders) == len(JOB_SORTS)


async def test_offset_pages_match_the_order(store: Store, advance: Callable[[float], None]) -> None:
    jobs = await ten_jobs(store, advance)
    for sort in ("name", "-next_fire_at", "created_at", "-updated_at"):
        want = expected_order(jobs, sort)
        for offset in range(0, 12, 3):
            page = await store.list_jobs(sort=sort, limit=3, offset=offset)
            assert [job.name for job in page.items] == want[offset : offset + 3], (sort, offset)
            assert page.total == 10
            assert (page.next_cursor is None) == (offset + 3 >= 10), (sort, offset)
        # a cursor first, then the offset from there
        first = await store.list_jobs(sort=sort, limit=3)
        page = await store.list_jobs(sort=sort, limit=3, cursor=first.next_cursor, offset=2)
        assert [job.name for job in page.items] == want[5:8], sort
        rest = await store.list_jobs(sort=sort, limit=10, cursor=page.next_cursor)
        assert [job.name for job in rest.items] == want[8:], sort


async def test_a_missing_next_fire_sorts_as_the_latest_time(store: Store) -> None:
    now = await store.now()
    for name, fire in (("a", 10), ("b", None), ("c", 5), ("d", None), ("e", 3600 * 24 * 3650)):
        await store.create_job(spec(name), None if fire is None else now + seconds(fire))
    ascending = await store.list_jobs(sort="next_fire_at")
    assert [job.name for job in ascending.items] == ["c", "a", "e", "b", "d"]
    descending = await store.list_jobs(sort="-next_fire_at")
    assert [job.name for job in descending.items] == ["d", "b", "e", "a", "c"]
    # and a page boundary among the missing ones still chains
    first = await store.list_jobs(sort="-next_fire_at", limit=1)
    second = await store.list_jobs(sort="-next_fire_at", limit=2, cursor=first.next_cursor)
    assert [job.name for job in second.items] == ["b", "e"]


async def test_sort_and_filters_combine(store: Store) -> None:
    now = await store.now()
    for n in range(6):
        await store.create_job(spec(f"x-{n}"), now + seconds(100 - n))
        await store.create_job(spec(f"y-{n}"), now + seconds(n))
    page = await store.list_jobs(JobFilter(prefix="x-"), sort="next_fire_at", limit=4)
    assert [job.name for job in page.items] == ["x-5", "x-4", "x-3", "x-2"]
    assert page.total == 6
    rest = await store.list_jobs(
        JobFilter(prefix="x-"), sort="next_fire_at", cursor=page.next_cursor
    )
    assert [job.name for job in rest.items] == ["x-1", "x-0"]
    assert rest.next_cursor is None


async def test_an_unknown_sort_is_refused_naming_the_choices(store: Store) -> None:
    await store.create_job(spec("a"), None)
    for sort in ("size", "+name", "NAME", "--name", ""):
        with pytest.raises(ValidationError) as info:
            await store.list_jobs(sort=sort)
        assert info.value.field == "sort"
        assert "next_fire_at" in info.value.message


async def test_a_malformed_or_foreign_cursor_is_refused(store: Store) -> None:
    for n in range(4):
        await store.create_job(spec(f"job-{n}"), None)
    await store.create_runs([new_run("job-0"), new_run("job-0")], actor=ACTOR)
    by_name = (await store.list_jobs(limit=1)).next_cursor
    by_created = (await store.list_jobs(sort="created_at", limit=1)).next_cursor
    of_runs = (await store.list_runs(limit=1)).next_cursor
    assert by_name is not None and by_created is not None and of_runs is not None
    assert (await store.list_jobs(limit=1, cursor=by_name)).items  # the real one works
    bad = ["garbage", "job-0", by_name[:-2], by_name + "x", "W10", "WzEsMl0"]
    cases = [("name", cursor) for cursor in bad]
    cases += [("-name", by_name), ("name", by_created), ("created_at", by_name)]
    cases += [("name", of_runs)]
    for sort, cursor in cases:
        with pytest.raises(ValidationError) as info:
            await store.list_jobs(sort=sort, cursor=cursor)
        assert info.value.field == "cursor", (sort, cursor)
    with pytest.raises(ValidationError) as info:
        await store.list_jobs(offset=-1)
    assert info.value.field == "offset"


async def make_run(store: Store, job: str, state: RunState, run_id: str) -> Run:
    """A run of ``job`` with the given id, brought to ``state``."""
    first = state if state in (RunState.SKIPPED, RunState.SCHEDULED) else RunState.QUEUED
    new = new_run(job, state=first)
    new.id = run_id
    [(run, created)] = await store.create_runs([new], actor=ACTOR)
    assert created
    if state in (RunState.RUNNING, RunState.SUCCEEDED):
        [run] = await store.claim_runs([run.id], worker_id="w1", lease=30.0)
        if state is RunState.SUCCEEDED:
            assert await store.finish_runs([outcome(run)], actor="w1") == [True]
    return await store.get_run(run_id)


def ordered_ids(count: int) -> list[str]:
    """Run ids in creation order: those made in one millisecond are not otherwise."""
    return sorted(new_id() for _ in range(count))


async def test_jobs_by_the_state_of_their_newest_run(store: Store) -> None:
    for name in ("a", "b", "c", "d", "e"):
        await store.create_job(spec(name), None)
    ids = ordered_ids(6)
    # a: succeeded then queued; b: queued then succeeded; c: running; d: none; e: skipped.
    # The newer run of b is made first: the newest is the highest id, not the last made.
    await make_run(store, "b", RunState.SUCCEEDED, ids[3])
    await make_run(store, "b", RunState.QUEUED, ids[0])
    await make_run(store, "a", RunState.SUCCEEDED, ids[1])
    await make_run(store, "a", RunState.QUEUED, ids[4])
    await make_run(store, "c", RunState.RUNNING, ids[2])
    await make_run(store, "e", RunState.SKIPPED, ids[5])

    async def names(state: RunState) -> list[str]:
        page = await store.list_jobs(JobFilter(last_state=state))
        assert page.total == len(page.items)
        return [job.name for job in page.items]

    assert await names(RunState.QUEUED) == ["a"]
    assert await names(RunState.SUCCEEDED) == ["b"]
    assert await names(RunState.RUNNING) == ["c"]
    assert await names(RunState.SKIPPED) == ["e"]
    assert await names(RunState.FAILED) == []
    both = await store.list_jobs(JobFilter(last_state=RunState.QUEUED, prefix="b"))
    assert (both.items, both.total) == ([], 0)
    first = await store.list_jobs(JobFilter(last_state=RunState.SUCCEEDED), sort="-name", limit=1)
    assert [job.name for job in first.items] == ["b"] and first.total == 1


async def test_last_runs_gives_each_jobs_newest_run(store: Store) -> None:
    ids = ordered_ids(5)
    await make_run(store, "a", RunState.QUEUED, ids[3])
    await make_run(store, "a", RunState.SUCCEEDED, ids[1])
    await make_run(store, "b", RunState.SKIPPED, ids[0])
    await make_run(store, "b", RunState.RUNNING, ids[4])
    await make_run(store, "c", RunState.QUEUED, ids[2])
    # many names, most without runs: the backends may split the look-up into batches
    names = [f"none-{n}" for n in range(1500)]
    names[10:10] = ["a"]
    names[700:700] = ["b"]
    names.append("c")
    last = await store.last_runs(names)
    assert sorted(last) == ["a", "b", "c"]
    assert (last["a"].id, last["a"].state) == (ids[3], RunState.QUEUED)
    assert (last["b"].id, last["b"].state) == (ids[4], RunState.RUNNING)
    assert last["c"].id == ids[2]
    assert await store.last_runs(["b", "b", "ghost"]) == {"b": last["b"]}
    assert await store.last_runs([]) == {}


async def test_run_pages_by_offset_and_after_a_cursor(store: Store) -> None:
    ids = ordered_ids(7)
    for run_id in ids:
        await make_run(store, "a", RunState.QUEUED, run_id)
    newest_first = ids[::-1]

    async def page_ids(**args: object) -> tuple[list[str], str | None]:
        page = await store.list_runs(**args)  # type: ignore[arg-type]
        return [run.id for run in page.items], page.next_cursor

    assert (await page_ids(limit=3, offset=2))[0] == newest_first[2:5]
    assert await page_ids(limit=3, offset=6) == ([newest_first[6]], None)
    assert await page_ids(limit=3, offset=7) == ([], None)
    first, cursor = await page_ids(limit=2)
    assert first == newest_first[:2] and cursor is not None
    assert (await page_ids(limit=2, cursor=cursor, offset=1))[0] == newest_first[3:5]
    second, cursor = await page_ids(limit=3, cursor=cursor)
    assert second == newest_first[2:5]
    assert await page_ids(limit=3, cursor=cursor) == (newest_first[5:], None)


async def test_a_malformed_run_cursor_is_refused(store: Store) -> None:
    run = await make_run(store, "a", RunState.QUEUED, new_id())
    await store.create_job(spec("a"), None)
    await store.create_job(spec("b"), None)
    job_cursor = (await store.list_jobs(limit=1)).next_cursor
    assert job_cursor is not None
    for cursor in ("garbage", run.id, "f" * 32, job_cursor):
        with pytest.raises(ValidationError) as info:
            await store.list_runs(cursor=cursor)
        assert info.value.field == "cursor", cursor
    with pytest.raises(ValidationError) as info:
        await store.list_runs(offset=-3)
    assert info.value.field == "offset"
