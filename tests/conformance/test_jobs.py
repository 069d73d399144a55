"""Jobs: create, read, update with optimistic versions, delete, pause, list filters."""

from __future__ import annotations

from typing import Any

import pytest

from tss.core.models import Job, JobFilter
from tss.errors import Conflict, NotFound
from tss.store.base import Store

from .support import ACTOR, new_run, seconds, spec


async def test_create_then_get_returns_the_definition(store: Store) -> None:
    now = await store.now()
    fire = now + seconds(60)
    definition = spec("report", params={"day": "yesterday"}, tags=["nightly"], priority=5)
    created = await store.create_job(definition, fire)
    fetched = await store.get_job("report")
    for job in (created, fetched):
        assert isinstance(job, Job)
        assert job.spec == definition
        assert job.name == "report"
        assert job.version == 1
        assert job.next_fire_at == fire
        assert job.created_at.tzinfo is not None
    assert fetched.spec.params == {"day": "yesterday"}


async def test_duplicate_name_is_a_conflict_naming_the_field(store: Store) -> None:
    await store.create_job(spec("report"), None)
    with pytest.raises(Conflict) as info:
        await store.create_job(spec("report", priority=3), None)
    assert info.value.field == "name"
    assert (await store.get_job("report")).spec.priority == 0


async def test_missing_job_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_job("nope")
    with pytest.raises(NotFound):
        await store.update_job(spec("nope"), None)
    with pytest.raises(NotFound):
        await store.delete_job("nope")
    with pytest.raises(NotFound):
        await store.set_paused("nope", True)


async def test_get_jobs_returns_those_that_exist(store: Store) -> None:
    await store.create_job(spec("a"), None)
    await store.create_job(spec("b"), None)
    found = await store.get_jobs(["a", "b", "ghost"])
    assert sorted(found) == ["a", "b"]
    assert found["b"].name == "b"
    assert await store.get_jobs([]) == {}


async def test_update_replaces_definition_and_bumps_version(store: Store) -> None:
    now = await store.now()
    await store.create_job(spec("a", priority=1), now)
    later = now + seconds(3600)
    updated = await store.update_job(spec("a", priority=7), later, expected_version=1)
    assert updated.version == 2
    assert updated.spec.priority == 7
    assert updated.next_fire_at == later
    fetched = await store.get_job("a")
    assert (fetched.version, fetched.spec.priority, fetched.next_fire_at) == (2, 7, later)
    again = await store.update_job(spec("a", priority=8), None)  # no version check
    assert again.version == 3
    assert again.next_fire_at is None


async def test_update_with_a_stale_version_is_refused_and_changes_nothing(store: Store) -> None:
    await store.create_job(spec("a", priority=1), None)
    await store.update_job(spec("a", priority=2), None, expected_version=1)
    with pytest.raises(Conflict):
        await store.update_job(spec("a", priority=9), None, expected_version=1)
    job = await store.get_job("a")
    assert (job.version, job.spec.priority) == (2, 2)


async def test_delete_removes_the_job_but_keeps_its_runs(store: Store) -> None:
    await store.create_job(spec("a"), None)
    [(run, _)] = await store.create_runs([new_run("a")], actor=ACTOR)
    await store.delete_job("a")
    with pytest.raises(NotFound):
        await store.get_job("a")
    assert (await store.get_run(run.id)).job == "a"
    await store.create_job(spec("a"), None)  # the name is free again
    assert (await store.get_job("a")).version == 1


async def test_pause_and_resume(store: Store) -> None:
    now = await store.now()
    await store.create_job(spec("a"), now + seconds(60))
    paused = await store.set_paused("a", True)
    assert paused.spec.paused is True
    assert (await store.get_job("a")).spec.paused is True
    assert paused.next_fire_at == now + seconds(60)
    resumed = await store.set_paused("a", False)
    assert resumed.spec.paused is False
    assert (await store.get_job("a")).spec.paused is False


async def test_list_filters(store: Store) -> None:
    await store.create_job(spec("etl.extract", tags=["etl"], pool="io"), None)
    await store.create_job(spec("etl.load", tags=["etl", "db"]), None)
    await store.create_job(spec("report", tags=["db"]), None)
    await store.set_paused("etl.load", True)

    async def names(**kwargs: Any) -> list[str]:
        page = await store.list_jobs(JobFilter(**kwargs))
        return [job.name for job in page.items]

    assert await names() == ["etl.extract", "etl.load", "report"]
    assert await names(prefix="etl.") == ["etl.extract", "etl.load"]
    assert await names(tag="db") == ["etl.load", "report"]
    assert await names(pool="io") == ["etl.extract"]
    assert await names(paused=True) == ["etl.load"]
    assert await names(paused=False) == ["etl.extract", "report"]
    assert await names(prefix="etl.", tag="db", paused=True) == ["etl.load"]
    assert await names(prefix="zzz") == []
    assert await names(prefix="e") == ["etl.extract", "etl.load"]
    assert await names(prefix="etl.load") == ["etl.load"]
    assert await names(prefix="etl/") == []  # "/" sorts just after "."


async def test_prefix_bounds_are_exact(store: Store) -> None:
    for name in ("a", "a-1", "a.z", "az", "b", "b-0", "a9"):
        await store.create_job(spec(name), None)
    page = await store.list_jobs(JobFilter(prefix="a"), limit=100)
    assert [j.name for j in page.items] == ["a", "a-1", "a.z", "a9", "az"]
    assert page.total == 5
    assert (await store.list_jobs(JobFilter(prefix="a-"), limit=100)).total == 1
    assert (await store.list_jobs(JobFilter(prefix="b"), limit=100)).total == 2
