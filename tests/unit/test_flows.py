"""The pure rules of flows (tss.core.flows)."""

from __future__ import annotations

from tss.core import flows
from tss.core.flows import FlowGraph, FlowRun
from tss.core.models import JobSpec, NewRun, RunPolicy
from tss.core.states import RunState

S = RunState


def run(run_id: str, job: str, state: RunState, *deps: tuple[str, str], rule: str = "all",
        retry_of: str | None = None) -> FlowRun:  # fmt: skip
    return FlowRun(run_id, job, state, tuple(deps), rule, retry_of)


def test_settle_queues_skips_and_propagates_in_one_call() -> None:
    runs = [
        run("1", "a", S.FAILED),
        run("2", "b", S.WAITING, ("a", "success")),
        run("3", "c", S.WAITING, ("b", "completion")),
        run("4", "d", S.WAITING, ("a", "failure")),
    ]
    found = {d.run_id: (d.target, d.reason) for d in flows.settle(runs)}
    assert found == {
        "2": (S.SKIPPED, "parent 'a' ended failed (needs success)"),
        "3": (S.SKIPPED, "parent 'b' ended skipped (needs completion)"),
        "4": (S.QUEUED, "every parent met its condition"),
    }


def test_a_retrying_parent_has_not_ended() -> None:
    runs = [run("1", "a", S.RETRYING), run("2", "b", S.WAITING, ("a", "failure"))]
    assert flows.settle(runs) == []


def test_any_waits_until_every_parent_ended_before_skipping() -> None:
    base = [run("3", "c", S.WAITING, ("a", "success"), ("b", "success"), rule="any")]
    assert flows.settle([run("1", "a", S.FAILED), run("2", "b", S.RUNNING), *base]) == []
    [d] = flows.settle([run("1", "a", S.FAILED), run("2", "b", S.CANCELLED), *base])
    assert d.target is S.SKIPPED


def test_the_current_run_of_a_job_is_the_one_not_replaced() -> None:
    runs = [
        run("1", "a", S.FAILED),
        run("0", "a", S.SUCCEEDED, retry_of="1"),
        run("2", "b", S.WAITING, ("a", "success")),
    ]
    assert flows.current_runs(runs)["a"].id == "0"
    [d] = flows.settle(runs)
    assert d.target is S.QUEUED


def test_rearm_picks_the_skipped_runs_downstream() -> None:
    runs = [
        run("1", "a", S.FAILED),
        run("2", "b", S.SKIPPED, ("a", "success")),
        run("3", "c", S.SUCCEEDED, ("a", "failure")),
        run("4", "d", S.SKIPPED, ("b", "success")),
        run("5", "x", S.SKIPPED),
    ]
    assert [r.id for r in flows.rearm(runs, runs[0])] == ["2", "4"]


def _spec(name: str, *deps: str, **fields: object) -> JobSpec:
    return JobSpec.model_validate(
        {"name": name, "type": "noop", "depends_on": list(deps), **fields}
    )


def test_graph_and_members() -> None:
    specs = {s.name: s for s in [_spec("a"), _spec("b", "a"), _spec("c", "b", "z"), _spec("z")]}
    graph = FlowGraph.of("a", specs)
    assert graph.jobs == ["a", "b", "c"]
    assert [(e.parent, e.child, e.on) for e in graph.edges] == [
        ("a", "b", "success"),
        ("b", "c", "success"),
    ]
    root = NewRun("r", "a", S.QUEUED, "manual", {}, 0, "default", RunPolicy.of(specs["a"]),
                  flow_id="r")  # fmt: skip
    members = flows.flow_members(root, {"b": specs["b"], "c": specs["c"]})
    assert [(m.job, m.state, m.flow_id) for m in members] == [
        ("b", S.WAITING, "r"),
        ("c", S.WAITING, "r"),
    ]
    assert members[1].policy.depends_on == (("b", "success"), ("z", "success"))


def test_only_a_root_claim_or_a_scheduled_fire_starts_a_flow() -> None:
    policy = RunPolicy.of(_spec("a"))
    manual = NewRun("m", "a", S.QUEUED, "manual", {}, 0, "default", policy)
    fire = NewRun("f", "a", S.QUEUED, "schedule", {}, 0, "default", policy)
    skipped = NewRun("s", "a", S.SKIPPED, "schedule", {}, 0, "default", policy)
    assert [flows.starts_flow(r) for r in (manual, fire, skipped)] == [False, True, False]
    specs = {"a": {"b": _spec("b", "a")}}
    out = flows.with_flows([manual, fire], specs)
    assert [r.flow_id for r in out] == [None, "f"]
    assert [m.job for m in flows.members_of(out, {"f"}, specs)] == ["b"]
    assert flows.members_of(out, set(), specs) == []


def test_the_root_comes_first_even_when_its_children_share_its_millisecond() -> None:
    from datetime import UTC, datetime

    from tss.core.models import RetryPolicy, Run

    at = datetime(2026, 1, 1, tzinfo=UTC)
    policy = RunPolicy("noop", None, "auto", RetryPolicy())

    def made(run_id: str, job: str, deps: tuple[tuple[str, str], ...] = ()) -> Run:
        p = RunPolicy("noop", None, "auto", RetryPolicy(), depends_on=deps) if deps else policy
        return Run(run_id, job, RunState.WAITING, "manual", {}, 0, "default", p, 0, at, at,
                   flow_id="0f")  # fmt: skip

    # Made in the root's transaction: the same time, and a child's id sorts first.
    runs = [made("0a", "load", (("extract", "success"),)), made("0f", "extract")]
    ordered = flows.in_flow_order(runs, "0f")
    assert [r.id for r in ordered] == ["0f", "0a"]
    graph = flows.graph_of_runs([FlowRun.of(r) for r in ordered])
    assert graph.root == "extract"
    assert [(e.parent, e.child) for e in graph.edges] == [("extract", "load")]
