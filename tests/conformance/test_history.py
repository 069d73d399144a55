"""Job versions and the audit log (every backend): a version is written with the change
itself, a failed change writes none, a deleted job keeps its history; the audit log keeps
every entry, filters by actor, action, target and time, and pages newest first."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest

from tss.core.history import AuditEntry
from tss.errors import Conflict, NotFound, ValidationError
from tss.store.base import Store

from .support import seconds, spec


def entry(
    action: str, target: str, at: datetime, actor: str = "token:ops", **details: object
) -> AuditEntry:
    return AuditEntry(0, at, actor, action, target, dict(details))


async def test_each_change_is_a_version_newest_first(store: Store) -> None:
    first = spec("report", priority=1)
    await store.create_job(first, None, actor="config")
    await store.update_job(spec("report", priority=2), None, actor="token:alice")
    await store.update_job(spec("report", priority=3), None, actor="token:bob", rolled_back=True)
    versions = await store.list_versions("report")
    assert [(v.version, v.change, v.actor) for v in versions] == [
        (3, "rolled_back", "token:bob"),
        (2, "updated", "token:alice"),
        (1, "created", "config"),
    ]
    assert versions[0].spec is not None and versions[0].spec["priority"] == 3
    assert versions[2].spec == first.model_dump(mode="json")
    assert all(v.job == "report" and v.at.tzinfo is not None for v in versions)
    assert versions[0].at >= versions[1].at >= versions[2].at
    got = await store.get_version("report", 2)
    assert got == versions[1]
    assert await store.list_versions("other") == []


async def test_a_version_has_the_time_of_its_change(store: Store) -> None:
    job = await store.create_job(spec("report"), None)
    updated = await store.update_job(spec("report", priority=4), None)
    created_v, updated_v = sorted(await store.list_versions("report"), key=lambda v: v.version)
    assert created_v.at == job.created_at
    assert updated_v.at == updated.updated_at


async def test_a_refused_change_writes_no_version(store: Store) -> None:
    await store.create_job(spec("report"), None)
    with pytest.raises(Conflict):
        await store.create_job(spec("report", priority=9), None, actor="token:late")
    with pytest.raises(Conflict):
        await store.update_job(spec("report", priority=9), None, expected_version=7)
    with pytest.raises(NotFound):
        await store.update_job(spec("ghost"), None)
    with pytest.raises(NotFound):
        await store.delete_job("ghost")
    assert [v.version for v in await store.list_versions("report")] == [1]
    assert await store.list_versions("ghost") == []


async def test_a_deleted_job_keeps_its_history_and_a_new_one_goes_on_from_it(
    store: Store,
) -> None:
    await store.create_job(spec("report"), None, actor="token:a")
    await store.update_job(spec("report", priority=2), None, actor="token:a")
    await store.delete_job("report", actor="cli")
    with pytest.raises(NotFound):
        await store.get_job("report")
    versions = await store.list_versions("report")
    assert [(v.version, v.change, v.actor) for v in versions] == [
        (3, "deleted", "cli"),
        (2, "updated", "token:a"),
        (1, "created", "token:a"),
    ]
    assert versions[0].spec is None
    again = await store.create_job(spec("report", priority=5), None, actor="library")
    assert again.version == 1  # the job's own version starts again; its history does not
    newest = (await store.list_versions("report"))[0]
    assert (newest.version, newest.change, newest.actor) == (4, "created", "library")
    assert newest.spec is not None and newest.spec["priority"] == 5


async def test_a_missing_version_is_not_found_naming_the_field(store: Store) -> None:
    await store.create_job(spec("report"), None)
    for version in (0, 2, -1):
        with pytest.raises(NotFound) as info:
            await store.get_version("report", version)
        assert info.value.field == "version"
    with pytest.raises(NotFound):
        await store.get_version("ghost", 1)


async def test_the_default_actor_is_user(store: Store) -> None:
    await store.create_job(spec("report"), None)
    await store.update_job(spec("report", priority=1), None)
    await store.delete_job("report")
    assert {v.actor for v in await store.list_versions("report")} == {"user"}


async def test_audit_entries_are_kept_with_growing_ids(store: Store) -> None:
    now = await store.now()
    await store.add_audit(
        [
            entry("job.create", "report", now, actor="config"),
            entry("job.pause", "report", now, note="disk full", until=None, nested={"a": [1]}),
        ]
    )
    await store.add_audit([entry("token.create", "ci", now, role="operator")])
    await store.add_audit([])
    page = await store.list_audit()
    assert [e.action for e in page.items] == ["token.create", "job.pause", "job.create"]
    ids = [e.id for e in page.items]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3 and min(ids) > 0
    pause = page.items[1]
    assert pause.details == {"note": "disk full", "until": None, "nested": {"a": [1]}}
    assert pause.actor == "token:ops" and pause.target == "report"
    assert pause.at == now
    assert page.next_cursor is None


async def test_audit_filters(store: Store, advance: Callable[[float], None]) -> None:
    start = await store.now()
    await store.add_audit(
        [
            entry("job.create", "a", start, actor="token:x"),
            entry("job.update", "a", start + seconds(10), actor="token:y"),
            entry("run.trigger", "r1", start + seconds(20), actor="token:x", job="a"),
            entry("job.delete", "b", start + seconds(30), actor="cli"),
        ]
    )

    async def actions(**filters: object) -> list[str]:
        page = await store.list_audit(**filters)  # type: ignore[arg-type]
        return [e.action for e in page.items]

    assert await actions(actor="token:x") == ["run.trigger", "job.create"]
    assert await actions(action="job.update") == ["job.update"]
    assert await actions(target="a") == ["job.update", "job.create"]
    assert await actions(target="a", actor="token:y") == ["job.update"]
    assert await actions(since=start + seconds(10)) == ["job.delete", "run.trigger", "job.update"]
    assert await actions(until=start + seconds(10)) == ["job.create"]
    assert await actions(since=start + seconds(5), until=start + seconds(25)) == [
        "run.trigger",
        "job.update",
    ]
    assert await actions(actor="nobody") == []
    assert await actions(target="a", action="job.delete") == []


async def test_audit_pages_newest_first_without_gaps(store: Store) -> None:
    now = await store.now()
    await store.add_audit([entry("run.trigger", f"r{i}", now, actor=f"a{i % 2}") for i in range(7)])
    for filters in ({}, {"actor": "a1"}, {"action": "run.trigger"}):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            page = await store.list_audit(limit=2, cursor=cursor, **filters)  # type: ignore[arg-type]
            assert len(page.items) <= 2
            seen.extend(e.target for e in page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        everything = await store.list_audit(limit=100, **filters)  # type: ignore[arg-type]
        assert seen == [e.target for e in everything.items]
        assert len(seen) == len(set(seen))
    assert [e.target for e in (await store.list_audit(limit=100)).items] == [
        f"r{i}" for i in reversed(range(7))
    ]


async def test_bad_audit_listing_arguments_name_the_field(store: Store) -> None:
    for limit in (0, 1001):
        with pytest.raises(ValidationError) as info:
            await store.list_audit(limit=limit)
        assert info.value.field == "limit"
    for cursor in ("garbage", "WyJydW5zIiwiYSJd"):
        with pytest.raises(ValidationError) as info:
            await store.list_audit(cursor=cursor)
        assert info.value.field == "cursor"


async def test_concurrent_changes_each_get_their_own_version(store: Store) -> None:
    await store.create_job(spec("report"), None)
    results = await asyncio.gather(
        *(store.update_job(spec("report", priority=p), None, actor=f"a{p}") for p in range(1, 9)),
        return_exceptions=True,
    )
    # A store may refuse a change that kept losing the race (Redis: Conflict); a refused
    # one leaves no version, each stored one exactly one.
    assert all(isinstance(r, Conflict) for r in results if isinstance(r, BaseException))
    stored = [
        p for p, r in zip(range(1, 9), results, strict=True) if not isinstance(r, BaseException)
    ]
    assert stored
    versions = await store.list_versions("report")
    assert [v.version for v in versions] == list(range(len(stored) + 1, 0, -1))
    changed = versions[:-1]
    assert sorted(v.spec["priority"] for v in changed if v.spec) == stored
    assert all(v.actor == f"a{v.spec['priority']}" for v in changed if v.spec)
    job = await store.get_job("report")
    assert versions[0].spec == job.spec.model_dump(mode="json")
    assert job.version == len(stored) + 1
