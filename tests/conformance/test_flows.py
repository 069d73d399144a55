"""Flows on every store: runs that wait for other runs (DESIGN.md section 6)."""

from __future__ import annotations

import functools
from datetime import timedelta

from tss.core.firing import fire_job
from tss.core.ids import new_id
from tss.core.models import NewRun, Outcome
from tss.core.states import RunState
from tss.store.base import Store

from .flows import current, define, drive, end, end_job, flow_runs, root_run, start, states
from .support import ACTOR

S = RunState


async def test_a_root_run_makes_a_waiting_run_for_every_job_downstream(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]), ("c", ["b"]), "other", ("d", ["other"]))
    flow = await start(store, jobs["a"])
    runs = await flow_runs(store, flow)
    assert sorted(r.job for r in runs) == ["a", "b", "c"]
    assert all(r.flow_id == flow for r in runs)
    assert await states(store, flow) == {"a": S.QUEUED, "b": S.WAITING, "c": S.WAITING}
    waiting = [r for r in runs if r.job != "a"]
    assert all(r.trigger == "flow" and r.queued_at is None for r in waiting)


async def test_a_run_of_a_job_without_dependants_is_no_flow(store: Store) -> None:
    jobs = await define(store, "alone")
    [(run, _)] = await store.create_runs([root_run(jobs["alone"])], actor=ACTOR)
    assert run.flow_id is None
    assert (await store.get_run(run.id)).flow_id is None


async def test_chain_runs_in_order(store: Store) -> None:
    jobs = await define(store, "extract", ("transform", ["extract"]), ("load", ["transform"]))
    flow = await start(store, jobs["extract"])
    await end_job(store, flow, "extract")
    assert await states(store, flow) == {
        "extract": S.SUCCEEDED,
        "transform": S.QUEUED,
        "load": S.WAITING,
    }
    queued = (await current(store, flow))["transform"]
    assert queued.queued_at is not None
    # Announced like any queued run: the outbox holds it until the broker has it.
    unpublished = await store.find_unpublished(older_than=0, republish_after=3600, limit=100)
    assert queued.id in [r.id for r in unpublished]
    await end_job(store, flow, "transform")
    await end_job(store, flow, "load")
    assert set((await states(store, flow)).values()) == {S.SUCCEEDED}


async def test_fan_out(store: Store) -> None:
    jobs = await define(store, "root", *((f"leaf{i}", ["root"]) for i in range(5)))
    flow = await start(store, jobs["root"])
    await end_job(store, flow, "root")
    found = await states(store, flow)
    assert [found[f"leaf{i}"] for i in range(5)] == [S.QUEUED] * 5


async def test_fan_in_waits_for_every_parent(store: Store) -> None:
    jobs = await define(
        store, "root", ("left", ["root"]), ("right", ["root"]), ("join", ["left", "right"])
    )
    flow = await start(store, jobs["root"])
    await end_job(store, flow, "root")
    await end_job(store, flow, "left")
    assert (await states(store, flow))["join"] is S.WAITING
    await end_job(store, flow, "right")
    assert (await states(store, flow))["join"] is S.QUEUED


async def test_failure_branch_runs_cleanup_and_skips_the_rest(store: Store) -> None:
    jobs = await define(
        store,
        "extract",
        ("transform", ["extract"]),
        ("load", ["transform"]),
        ("cleanup", [{"job": "transform", "on": "failure"}]),
    )
    flow = await start(store, jobs["extract"])
    await end_job(store, flow, "extract")
    await end_job(store, flow, "transform", S.FAILED)
    runs = await current(store, flow)
    assert runs["load"].state is S.SKIPPED
    assert runs["load"].reason is not None
    assert "'transform'" in runs["load"].reason and "failed" in runs["load"].reason
    assert runs["load"].finished_at is not None
    assert runs["cleanup"].state is S.QUEUED
    await end_job(store, flow, "cleanup")
    assert (await states(store, flow))["cleanup"] is S.SUCCEEDED


async def test_failure_branch_is_skipped_when_the_parent_succeeds(store: Store) -> None:
    jobs = await define(store, "work", ("cleanup", [{"job": "work", "on": "failure"}]))
    flow = await start(store, jobs["work"])
    await end_job(store, flow, "work")
    run = (await current(store, flow))["cleanup"]
    assert run.state is S.SKIPPED
    assert run.reason is not None and "succeeded" in run.reason and "failure" in run.reason


async def test_completion_runs_whatever_the_parent_ended_in(store: Store) -> None:
    for outcome in (S.SUCCEEDED, S.FAILED, S.TIMED_OUT):
        name = f"w-{outcome.value}"
        jobs = await define(store, name, (f"after-{name}", [{"job": name, "on": "completion"}]))
        flow = await start(store, jobs[name])
        await end_job(store, flow, name, outcome)
        assert (await states(store, flow))[f"after-{name}"] is S.QUEUED


async def test_any_starts_on_the_first_parent_that_meets_its_condition(store: Store) -> None:
    jobs = await define(
        store,
        "root",
        ("a", ["root"]),
        ("b", ["root"]),
        ("either", {"depends_on": ["a", "b"], "trigger_rule": "any"}),
    )
    flow = await start(store, jobs["root"])
    await end_job(store, flow, "root")
    await end_job(store, flow, "a", S.FAILED)
    assert (await states(store, flow))["either"] is S.WAITING
    await end_job(store, flow, "b")
    run = (await current(store, flow))["either"]
    assert run.state is S.QUEUED
    assert run.reason is not None and "'b'" in run.reason


async def test_any_is_skipped_when_no_parent_meets_its_condition(store: Store) -> None:
    jobs = await define(
        store,
        "root",
        ("a", ["root"]),
        ("b", ["root"]),
        ("either", {"depends_on": ["a", "b"], "trigger_rule": "any"}),
    )
    flow = await start(store, jobs["root"])
    assert await drive(store, flow, {"a": S.FAILED, "b": S.TIMED_OUT}) == {
        "root": S.SUCCEEDED,
        "a": S.FAILED,
        "b": S.TIMED_OUT,
        "either": S.SKIPPED,
    }
    reason = (await current(store, flow))["either"].reason or ""
    assert "'a' ended failed" in reason and "'b' ended timed_out" in reason


async def test_children_wait_for_the_retries_of_a_parent(store: Store, advance: object) -> None:
    jobs = await define(store, ("parent", {"retries": 1}), ("child", ["parent"]))
    flow = await start(store, jobs["parent"])
    parent = (await current(store, flow))["parent"]
    retried = await end(store, parent, S.RETRYING, retry_delay=0.0)
    assert retried.state is S.RETRYING
    assert (await states(store, flow))["child"] is S.WAITING
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler")
    assert promoted.id == parent.id
    await end(store, promoted, S.SUCCEEDED)
    assert (await states(store, flow))["child"] is S.QUEUED


async def test_a_skip_propagates_three_levels(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]), ("c", ["b"]), ("d", ["c"]), ("e", ["d"]))
    flow = await start(store, jobs["a"])
    await end_job(store, flow, "a", S.FAILED)
    runs = await current(store, flow)
    assert [runs[j].state for j in "bcde"] == [S.SKIPPED] * 4
    assert "parent 'a' ended failed" in (runs["b"].reason or "")
    assert "parent 'b' ended skipped" in (runs["c"].reason or "")
    assert "parent 'c' ended skipped" in (runs["d"].reason or "")
    assert "parent 'd' ended skipped" in (runs["e"].reason or "")
    events = await store.list_events(run_id=runs["d"].id)
    assert [(e.source, e.target) for e in events] == [(None, S.WAITING), (S.WAITING, S.SKIPPED)]


async def test_cancelling_a_parent_skips_its_children(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]))
    flow = await start(store, jobs["a"])
    a = (await current(store, flow))["a"]
    await store.cancel_runs([a.id], actor="user", reason="no")
    run = (await current(store, flow))["b"]
    assert run.state is S.SKIPPED
    assert "parent 'a' ended cancelled" in (run.reason or "")


async def test_cancel_of_a_flow_run_ends_its_waiting_and_running_runs(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"]))
    flow = await start(store, jobs["a"])
    await end_job(store, flow, "a")
    b = (await current(store, flow))["b"]
    [running] = await store.claim_runs([b.id], worker_id="w1", lease=30)
    live = [r.id for r in await flow_runs(store, flow) if not r.state.terminal]
    cancelled = await store.cancel_runs(live, actor="user", reason="flow cancelled")
    assert {r.job for r in cancelled} == {"b", "c", "d"}
    assert await states(store, flow) == {
        "a": S.SUCCEEDED,
        "b": S.CANCELLED,
        "c": S.CANCELLED,
        "d": S.CANCELLED,
    }
    # The worker holding b learns at its next heartbeat.
    assert await store.heartbeat("w1", [(running.id, running.attempt)], lease=30) == [b.id]


async def test_the_reapers_finish_decides_the_children(store: Store, advance: object) -> None:
    jobs = await define(store, "a", ("b", ["a"]), ("c", [{"job": "a", "on": "failure"}]))
    flow = await start(store, jobs["a"])
    a = (await current(store, flow))["a"]
    [claimed] = await store.claim_runs([a.id], worker_id="w1", lease=0.05)
    advance(0.2)  # type: ignore[operator]
    [expired] = await store.expired_runs(limit=10)
    reaped = Outcome(expired.id, expired.attempt, S.FAILED, reason="lease expired")
    reaped.require_expired = True
    assert await store.finish_runs([reaped], actor="reaper") == [True]
    assert await states(store, flow) == {"a": S.FAILED, "b": S.SKIPPED, "c": S.QUEUED}
    assert claimed.attempt == 1


async def test_a_rerun_in_a_flow_decides_its_children_again(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]), ("c", ["b"]))
    flow = await start(store, jobs["a"])
    await end_job(store, flow, "a", S.FAILED)
    old = await current(store, flow)
    assert old["b"].state is S.SKIPPED and old["c"].state is S.SKIPPED

    def again(run_job: str, state: RunState) -> NewRun:
        prior = old[run_job]
        return NewRun(
            id=new_id(), job=run_job, state=state, trigger="retry" if state is S.QUEUED else "flow",
            params={}, priority=0, pool="default", policy=prior.policy,
            retry_of=prior.id, flow_id=flow,
        )  # fmt: skip

    await store.create_runs(
        [again("a", S.QUEUED), again("b", S.WAITING), again("c", S.WAITING)], actor=ACTOR
    )
    assert await states(store, flow) == {"a": S.QUEUED, "b": S.WAITING, "c": S.WAITING}
    assert await drive(store, flow, {}) == {"a": S.SUCCEEDED, "b": S.SUCCEEDED, "c": S.SUCCEEDED}
    assert len(await flow_runs(store, flow)) == 6


async def test_a_paused_job_in_a_flow_is_skipped_and_so_are_its_dependants(store: Store) -> None:
    jobs = await define(store, "a", ("b", {"depends_on": ["a"], "paused": True}), ("c", ["b"]))
    flow = await start(store, jobs["a"])
    runs = await current(store, flow)
    assert runs["b"].state is S.SKIPPED and runs["b"].reason == "job is paused"
    assert runs["c"].state is S.SKIPPED
    assert "parent 'b' ended skipped" in (runs["c"].reason or "")


async def test_only_parents_in_the_flow_count(store: Store) -> None:
    # join depends on two roots; a flow of one root waits for that root only.
    jobs = await define(store, "r1", "r2", ("join", ["r1", "r2"]))
    flow = await start(store, jobs["r1"])
    assert sorted(await states(store, flow)) == ["join", "r1"]
    await end_job(store, flow, "r1")
    assert (await states(store, flow))["join"] is S.QUEUED


async def test_a_duplicate_run_starts_no_second_flow(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]))
    first = root_run(jobs["a"], idempotency_key="k1")
    second = root_run(jobs["a"], idempotency_key="k1")
    await store.create_runs([first], actor=ACTOR)
    [(found, created)] = await store.create_runs([second], actor=ACTOR)
    assert not created and found.id == first.id
    assert len(await flow_runs(store, first.id)) == 2
    assert await flow_runs(store, second.id) == []


async def test_a_scheduled_fire_starts_a_flow(store: Store) -> None:
    jobs = await define(store, ("root", {"schedule": {"every": 60}}), ("child", ["root"]))
    del jobs
    now = await store.now()
    await store.update_job((await store.get_job("root")).spec, now - timedelta(seconds=1))
    planner = functools.partial(fire_job, lookahead=0.0)
    created, fired = await store.fire_due_jobs(planner, limit=10, actor="scheduler")
    assert fired == 1
    [root] = created
    assert root.flow_id == root.id
    assert await states(store, root.id) == {"root": S.QUEUED, "child": S.WAITING}
    await end_job(store, root.id, "root")
    assert (await states(store, root.id))["child"] is S.QUEUED


async def test_a_downstream_job_with_its_own_schedule_fires_a_flow_of_its_own(
    store: Store,
) -> None:
    await define(store, "top", ("mid", {"depends_on": ["top"], "schedule": {"every": 60}}))
    await define(store, ("low", ["mid"]))
    now = await store.now()
    await store.update_job((await store.get_job("mid")).spec, now - timedelta(seconds=1))
    created, _ = await store.fire_due_jobs(
        functools.partial(fire_job, lookahead=0.0), limit=10, actor="scheduler"
    )
    [mid] = created
    assert await states(store, mid.id) == {"mid": S.QUEUED, "low": S.WAITING}


async def test_changed_dependencies_change_the_next_flow(store: Store) -> None:
    jobs = await define(store, "a", ("b", ["a"]))
    first = await start(store, jobs["a"])  # what a store keeps of the edges is read now
    assert sorted(await states(store, first)) == ["a", "b"]
    await store.update_job(jobs["b"].model_copy(update={"depends_on": []}), None)
    await define(store, ("c", ["a"]))
    flow = await start(store, jobs["a"])
    assert sorted(await states(store, flow)) == ["a", "c"]
    await store.delete_job("c")
    [(run, _)] = await store.create_runs([root_run(jobs["a"])], actor=ACTOR)
    assert run.flow_id is None
    await store.update_job(jobs["b"], None)  # depends on a again
    again = await start(store, jobs["a"])
    assert sorted(await states(store, again)) == ["a", "b"]


async def test_downstream_follows_the_edges_and_their_changes(store: Store) -> None:
    await define(
        store,
        "root",
        ("left", ["root"]),
        ("right", ["root"]),
        ("join", ["left", "right"]),
        ("alone", {}),
        ("elsewhere", ["alone"]),
    )
    below = await store.downstream("root")
    assert sorted(below) == ["join", "left", "right"]
    assert [d.job for d in below["join"].depends_on] == ["left", "right"]
    assert sorted(await store.downstream("left")) == ["join"]
    assert await store.downstream("join") == {}
    assert await store.downstream("nobody") == {}
    # an edge removed by an update is gone; one added is there
    job = await store.get_job("join")
    changed = job.spec.model_copy(update={"depends_on": job.spec.depends_on[:1]})
    await store.update_job(changed, None, expected_version=job.version)
    assert await store.downstream("right") == {}
    assert sorted(await store.downstream("alone")) == ["elsewhere"]
    await store.delete_job("elsewhere")
    assert await store.downstream("alone") == {}
