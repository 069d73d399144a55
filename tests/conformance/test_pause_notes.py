"""Pauses with a note and an end time, on every backend: kept while paused, cleared on
resume and by an update that resumes, kept by an update that leaves the job paused, and
resumed by the sweep once (and only once) their time has come."""

from __future__ import annotations

import asyncio

from tss.core.models import PauseInfo
from tss.core.states import RunState
from tss.store.base import Store

from .support import seconds, spec
from .test_pause_ahead import live_fires, made_ahead, tick


async def _pause(store: Store, name: str, *, until: float | None, note: str = "") -> PauseInfo:
    now = await store.now()
    end = None if until is None else now + seconds(until)
    info = PauseInfo(by="token:ops", at=now, note=note, until=end)
    job = await store.set_paused(name, True, pause=info)
    assert job.pause == info
    return info


async def test_pause_info_is_kept_while_paused_and_cleared_on_resume(store: Store) -> None:
    await store.create_job(spec("a"), None)
    info = await _pause(store, "a", until=3600, note="db migration — ask ops")
    stored = await store.get_job("a")
    assert stored.spec.paused and stored.pause == info
    assert (await store.get_jobs(["a"]))["a"].pause == info
    [listed] = (await store.list_jobs()).items
    assert listed.pause == info
    resumed = await store.set_paused("a", False)
    assert resumed.pause is None and not resumed.spec.paused
    assert (await store.get_job("a")).pause is None


async def test_pausing_without_info_stores_none_and_a_new_pause_replaces_the_old(
    store: Store,
) -> None:
    await store.create_job(spec("a"), None)
    assert (await store.set_paused("a", True)).pause is None
    assert (await store.get_job("a")).pause is None
    await _pause(store, "a", until=None, note="first")
    second = await _pause(store, "a", until=60, note="second")
    assert (await store.get_job("a")).pause == second


async def test_update_keeps_the_pause_of_a_job_left_paused_and_drops_it_on_resume(
    store: Store,
) -> None:
    await store.create_job(spec("a"), None)
    info = await _pause(store, "a", until=3600, note="kept")
    paused_spec = (await store.get_job("a")).spec
    updated = await store.update_job(paused_spec.model_copy(update={"priority": 3}), None)
    assert updated.pause == info
    assert (await store.get_job("a")).pause == info
    active = paused_spec.model_copy(update={"paused": False})
    assert (await store.update_job(active, None)).pause is None
    assert (await store.get_job("a")).pause is None
    assert await store.resume_due_pauses(limit=10) == []  # its end time went with it


async def test_the_sweep_resumes_only_the_pauses_that_ended(store: Store) -> None:
    for name in ("ended", "later", "forever", "resumed"):
        await store.create_job(spec(name), None)
    await _pause(store, "ended", until=-5, note="over")
    await _pause(store, "later", until=3600)
    await _pause(store, "forever", until=None)
    await _pause(store, "resumed", until=-1)
    await store.set_paused("resumed", False)  # resumed by hand: nothing left to sweep
    [job] = await store.resume_due_pauses(limit=10)
    assert job.name == "ended" and not job.spec.paused and job.pause is None
    stored = await store.get_job("ended")
    assert not stored.spec.paused and stored.pause is None
    assert (await store.get_job("later")).pause is not None
    assert (await store.get_job("forever")).spec.paused
    assert await store.resume_due_pauses(limit=10) == []


async def test_the_sweep_takes_a_bounded_batch_earliest_first(store: Store) -> None:
    for n in range(3):
        await store.create_job(spec(f"j{n}"), None)
        await _pause(store, f"j{n}", until=-10 + n)
    first = await store.resume_due_pauses(limit=2)
    assert [job.name for job in first] == ["j0", "j1"]
    assert [job.name for job in await store.resume_due_pauses(limit=2)] == ["j2"]


async def test_two_sweeps_at_once_resume_each_job_once(store: Store) -> None:
    for n in range(6):
        await store.create_job(spec(f"j{n}"), None)
        await _pause(store, f"j{n}", until=-1)
    both = await asyncio.gather(*(store.resume_due_pauses(limit=100) for _ in range(2)))
    names = [job.name for batch in both for job in batch]
    assert sorted(names) == [f"j{n}" for n in range(6)]


async def test_a_swept_job_fires_again(store: Store) -> None:
    fire = await made_ahead(store)
    await _pause(store, "j", until=-1, note="maintenance")
    assert await live_fires(store, "j") == []  # the fire made ahead was withdrawn
    [job] = await store.resume_due_pauses(limit=10)
    assert job.next_fire_at == fire
    await tick(store)
    [run] = await live_fires(store, "j")
    assert (run.state, run.scheduled_for) == (RunState.SCHEDULED, fire)


async def test_deleting_a_paused_job_leaves_nothing_to_sweep(store: Store) -> None:
    await store.create_job(spec("gone"), None)
    await _pause(store, "gone", until=-1)
    await store.delete_job("gone")
    assert await store.resume_due_pauses(limit=10) == []
