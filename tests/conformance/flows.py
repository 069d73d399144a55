"""Builders for the flow tests of the conformance suite."""

from __future__ import annotations

from typing import Any

from tss.core import flows
from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, Outcome, Run, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.store.base import Store
from tss.store.paging import collect

from .support import ACTOR, spec

S = RunState


async def define(store: Store, *jobs: tuple[str, Any] | str, **common: Any) -> dict[str, JobSpec]:
    """Store jobs given as a name or ``(name, depends_on)`` or ``(name, fields)``."""
    out = {}
    for item in jobs:
        name, extra = (item, {}) if isinstance(item, str) else item
        fields = extra if isinstance(extra, dict) else {"depends_on": extra}
        job = spec(name, **{**common, **fields})
        await store.create_job(job, None)
        out[name] = job
    return out


def root_run(job: JobSpec, **fields: Any) -> NewRun:
    """A manual run of ``job`` that starts a flow (its ``flow_id`` is its own id)."""
    run_id = new_id()
    return NewRun(
        id=run_id,
        job=job.name,
        state=S.QUEUED,
        trigger="manual",
        params={},
        priority=0,
        pool=job.pool,
        policy=RunPolicy.of(job),
        flow_id=run_id,
        **fields,
    )


async def start(store: Store, job: JobSpec, **fields: Any) -> str:
    """Start a flow at ``job``; returns the flow's id."""
    [(run, created)] = await store.create_runs([root_run(job, **fields)], actor=ACTOR)
    assert created
    assert run.flow_id == run.id
    return run.id


async def flow_runs(store: Store, flow_id: str) -> list[Run]:
    runs: list[Run] = await collect(
        lambda size, cursor: store.list_runs(RunFilter(flow_id=flow_id), limit=size, cursor=cursor)
    )
    return runs


async def current(store: Store, flow_id: str) -> dict[str, Run]:
    """Each job's current run in the flow."""
    runs = await flow_runs(store, flow_id)
    by_id = {run.id: run for run in runs}
    return {job: by_id[r.id] for job, r in flows.current_runs(map(flows.FlowRun.of, runs)).items()}


async def states(store: Store, flow_id: str) -> dict[str, RunState]:
    return {job: run.state for job, run in (await current(store, flow_id)).items()}


async def end(store: Store, run: Run, target: RunState = S.SUCCEEDED, **fields: Any) -> Run:
    """Claim a queued run and end its attempt in ``target``; returns it as stored."""
    [claimed] = await store.claim_runs([run.id], worker_id="w1", lease=30)
    out = Outcome(claimed.id, claimed.attempt, target, **fields)
    assert await store.finish_runs([out], actor="w1") == [True]
    return await store.get_run(run.id)


async def end_job(store: Store, flow_id: str, job: str, target: RunState = S.SUCCEEDED) -> None:
    """End the current (queued) run of ``job`` in the flow."""
    run = (await current(store, flow_id))[job]
    assert run.state is S.QUEUED, f"{job} is {run.state.value}, not queued"
    await end(store, run, target)


async def drive(
    store: Store, flow_id: str, outcomes: dict[str, RunState], *, limit: int = 1000
) -> dict[str, RunState]:
    """Run the flow to its end: each queued run ends in its job's outcome (default
    succeeded), several at once as a worker's batch would. Returns the final states."""
    for _ in range(limit):
        queued = [r for r in (await current(store, flow_id)).values() if r.state is S.QUEUED]
        if not queued:
            break
        claimed = await store.claim_runs([r.id for r in queued], worker_id="w1", lease=30)
        done = [Outcome(r.id, r.attempt, outcomes.get(r.job, S.SUCCEEDED)) for r in claimed]
        assert all(await store.finish_runs(done, actor="w1"))
    return await states(store, flow_id)
