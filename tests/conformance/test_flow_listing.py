"""Listing flow runs on every store: newest first, paged, each summed up."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tss.core.flows import FlowSummary
from tss.core.models import RunFilter
from tss.core.states import RunState
from tss.errors import ValidationError
from tss.store.base import Store
from tss.store.paging import collect

from .flows import current, define, drive, root_run, start
from .support import ACTOR

S = RunState


async def test_no_flow_lists_nothing(store: Store) -> None:
    await define(store, "alone")
    page = await store.list_flows()
    assert page.items == [] and page.next_cursor is None


async def test_flows_newest_first_with_their_state_and_counts(store: Store) -> None:
    jobs = await define(
        store,
        "extract",
        ("transform", ["extract"]),
        ("load", ["transform"]),
        ("cleanup", [{"job": "transform", "on": "failure"}]),
        "alone",
    )
    older = await start(store, jobs["extract"])
    await drive(store, older, {"transform": S.FAILED})
    newer = await start(store, jobs["extract"])
    # Runs outside any flow are not listed.
    await store.create_runs([replace(root_run(jobs["alone"]), flow_id=None)], actor=ACTOR)

    page = await store.list_flows()
    # Newest first, as run ids sort (two made in one millisecond sort at random).
    assert [f.flow_id for f in page.items] == sorted([newer, older], reverse=True)
    found = {f.flow_id: f for f in page.items}
    first, second = found[newer], found[older]
    assert isinstance(first, FlowSummary)
    assert (first.job, first.state) == ("extract", "running")
    assert first.counts == {"queued": 1, "waiting": 3}
    assert second.state == "failed"
    assert second.counts == {"failed": 1, "skipped": 1, "succeeded": 2}
    assert second.created_at == (await store.get_run(older)).created_at


async def test_flows_page_by_cursor(store: Store) -> None:
    jobs = await define(store, "root", ("child", ["root"]))
    made = [await start(store, jobs["root"]) for _ in range(5)]
    found = await collect(
        lambda size, cursor: store.list_flows(limit=size, cursor=cursor), None, page_size=2
    )
    assert [f.flow_id for f in found] == sorted(made, reverse=True)
    last = await store.list_flows(limit=5)
    assert last.next_cursor is None and len(last.items) == 5
    assert (await store.list_flows(limit=0)).items == []


async def test_a_rerun_counts_in_place_of_the_run_it_replaces(store: Store) -> None:
    jobs = await define(store, "root", ("child", ["root"]))
    flow = await start(store, jobs["root"])
    await drive(store, flow, {"root": S.FAILED})
    failed = (await current(store, flow))["root"]
    again = replace(root_run(jobs["root"]), flow_id=flow, retry_of=failed.id)
    await store.create_runs([again], actor=ACTOR)
    [summary] = (await store.list_flows()).items
    assert summary.flow_id == flow
    assert summary.counts == {"queued": 1, "skipped": 1}
    assert summary.state == "running"
    assert len((await store.list_runs(RunFilter(flow_id=flow))).items) == 3


async def test_a_cursor_of_another_listing_is_refused(store: Store) -> None:
    jobs = await define(store, "root", ("child", ["root"]))
    for _ in range(2):
        await start(store, jobs["root"])
    runs_cursor = (await store.list_runs(limit=1)).next_cursor
    with pytest.raises(ValidationError) as caught:
        await store.list_flows(cursor=runs_cursor)
    assert caught.value.field == "cursor"
    with pytest.raises(ValidationError):
        await store.list_flows(cursor="nonsense")
