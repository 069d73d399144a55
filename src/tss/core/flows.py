"""Flows: the rules of runs that wait for other runs (pure; DESIGN.md section 6).

A run of a job that others depend on starts a *flow*: a ``waiting`` run is made for every
job downstream of it, all linked by ``flow_id`` (the id of the run that started it). Every
store calls :func:`settle` in the transaction that ends a run of a flow (a finish, a
cancel, the reaper's finish), so deciding that children are ready is never a separate
step a crash could lose. The rules live here once:

- A parent's *condition* (``depends_on: [{job, on}]``) is met by the states in
  :data:`SATISFIES`: ``success`` by ``succeeded``; ``failure`` by ``failed`` or
  ``timed_out``; ``completion`` by any of those three. A parent that was ``skipped`` or
  ``cancelled`` never ran, so it meets no condition: skips propagate down every edge.
- A parent that is ``retrying`` has not ended: its children decide after its last try.
- ``trigger_rule: all``: queued once every parent in the flow has ended meeting its
  condition; skipped as soon as one has ended without meeting it.
- ``trigger_rule: any``: queued as soon as one parent has ended meeting its condition;
  skipped once every parent has ended and none met it.
- Only parents that take part in the flow count. A run whose job has no parent in the
  flow (the graph changed under it) is queued.
- A job may have several runs in one flow when a run is re-run (``retry_of`` links the
  new run to the one it replaces): the run no other run replaces is the job's current
  one, and children look at that one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tss.core.ids import new_id
from tss.core.models import JobSpec, NewRun, Run, RunPolicy
from tss.core.states import FAILURE_STATES, RunState

#: the parent states that meet each condition of ``depends_on``
SATISFIES: dict[str, frozenset[RunState]] = {
    "success": frozenset({RunState.SUCCEEDED}),
    "failure": FAILURE_STATES,
    "completion": FAILURE_STATES | {RunState.SUCCEEDED},
}
#: the reason a run of a paused job is skipped when its flow starts
PAUSED = "job is paused"


@dataclass(frozen=True, slots=True)
class FlowRun:
    """What :func:`settle` needs of one run of a flow."""

    id: str
    job: str
    state: RunState
    #: ``(parent job, condition)`` pairs, from the run's policy
    depends_on: tuple[tuple[str, str], ...] = ()
    trigger_rule: str = "all"
    retry_of: str | None = None

    @classmethod
    def of(cls, run: Any) -> FlowRun:
        """From a :class:`~tss.core.models.Run` or :class:`~tss.core.models.NewRun`."""
        policy: RunPolicy = run.policy
        return cls(run.id, run.job, run.state, policy.depends_on, policy.trigger_rule, run.retry_of)


@dataclass(frozen=True, slots=True)
class Decision:
    """A waiting run's next state (``queued`` or ``skipped``) and why."""

    run_id: str
    target: RunState
    reason: str


def current_runs(runs: Iterable[FlowRun]) -> dict[str, FlowRun]:
    """Each job's current run in a flow: the one no other run of the flow replaces."""
    runs = list(runs)
    replaced = {run.retry_of for run in runs if run.retry_of is not None}
    current: dict[str, FlowRun] = {}
    for run in runs:
        if run.id not in replaced:
            current[run.job] = run
    return current


def decide(run: FlowRun, states: Mapping[str, RunState]) -> Decision | None:
    """The decision for one waiting ``run`` given the states of the current runs of its
    flow's jobs (``states``), or None while it must still wait."""
    parents = [(job, on) for job, on in run.depends_on if job in states]
    if not parents:
        return Decision(run.id, RunState.QUEUED, "no parent of this job is in the flow")
    met: list[str] = []
    missed: list[str] = []
    for job, on in parents:
        state = states[job]
        if not state.terminal:
            continue
        if state in SATISFIES[on]:
            met.append(job)
        else:
            missed.append(f"parent {job!r} ended {state.value} (needs {on})")
    if run.trigger_rule == "any":
        if met:
            return Decision(run.id, RunState.QUEUED, f"parent {met[0]!r} met its condition")
        if len(missed) == len(parents):
            return Decision(
                run.id, RunState.SKIPPED, "no parent met its condition: " + "; ".join(missed)
            )
        return None
    if missed:
        return Decision(run.id, RunState.SKIPPED, missed[0])
    if len(met) == len(parents):
        return Decision(run.id, RunState.QUEUED, "every parent met its condition")
    return None


def settle(runs: Iterable[FlowRun]) -> list[Decision]:
    """Which waiting runs of one flow become ``queued`` or ``skipped`` now, and why. Skips
    propagate: a run skipped here counts as ended for its own children in the same call.
    Decisions come parents first."""
    runs = list(runs)
    current = current_runs(runs)
    states = {job: run.state for job, run in current.items()}
    waiting = [run for run in runs if run.state is RunState.WAITING]
    decisions: list[Decision] = []
    while waiting:
        still: list[FlowRun] = []
        for run in waiting:
            decision = decide(run, states)
            if decision is None:
                still.append(run)
                continue
            decisions.append(decision)
            if current.get(run.job) is run:
                states[run.job] = decision.target
        if len(still) == len(waiting):
            break
        waiting = still
    return decisions


def starts_flow(new: NewRun) -> bool:
    """Whether a new run may start a flow (if its job has jobs downstream): a scheduled fire
    that is not skipped, or a run whose ``flow_id`` is its own id (a manual run of a root
    job, or one asked to run its descendants)."""
    if new.state is RunState.SKIPPED:
        return False
    return new.flow_id == new.id or (new.trigger == "schedule" and new.flow_id is None)


def downstream(job: str, children: Callable[[str], Collection[str]]) -> list[str]:
    """Every job downstream of ``job`` (not itself), nearest first, given each job's
    direct dependants."""
    seen: dict[str, None] = {}
    frontier = [job]
    while frontier:
        following: list[str] = []
        for name in frontier:
            for child in sorted(children(name)):
                if child != job and child not in seen:
                    seen[child] = None
                    following.append(child)
        frontier = following
    return list(seen)


def flow_members(root: NewRun, specs: Mapping[str, JobSpec]) -> list[NewRun]:
    """The runs ``root`` starts: a ``waiting`` run in ``root``'s flow for each job in
    ``specs`` (the jobs downstream of ``root.job``), or ``skipped`` for a paused job and,
    through it, its own dependants. ``root.flow_id`` must already be ``root.id``."""
    members = [
        NewRun(
            id=new_id(),
            job=spec.name,
            state=RunState.SKIPPED if spec.paused else RunState.WAITING,
            trigger="flow",
            params=dict(spec.params),
            priority=spec.priority,
            pool=spec.pool,
            policy=RunPolicy.of(spec),
            reason=PAUSED if spec.paused else f"waits in the flow of run {root.id}",
            flow_id=root.id,
        )
        for spec in specs.values()
        if spec.name != root.job
    ]
    if any(m.state is RunState.SKIPPED for m in members):
        by_id = {m.id: m for m in members}
        for d in settle(FlowRun.of(r) for r in [root, *members]):
            if d.target is RunState.SKIPPED and d.run_id in by_id:
                by_id[d.run_id].state, by_id[d.run_id].reason = d.target, d.reason
    return members


def with_flows(news: Sequence[NewRun], specs: Mapping[str, Mapping[str, JobSpec]]) -> list[NewRun]:
    """``news`` with ``flow_id`` set on each run that starts a flow: one that
    :func:`starts_flow` and whose job has jobs downstream (``specs``, by root job, as
    :func:`flow_members` takes them); any other run that claimed its own id as its flow
    is left out of flows (a flow of one run is none)."""
    out = []
    for new in news:
        if starts_flow(new):
            flow = new.id if specs.get(new.job) else None
            if new.flow_id != flow:
                new = replace(new, flow_id=flow)
        out.append(new)
    return out


def members_of(
    news: Sequence[NewRun], inserted: Collection[str], specs: Mapping[str, Mapping[str, JobSpec]]
) -> list[NewRun]:
    """The flow members to insert for the runs of ``news`` (as :func:`with_flows` returned
    them) that start a flow and were inserted (their ids in ``inserted``): a duplicate
    fire or idempotency key starts nothing."""
    out: list[NewRun] = []
    for new in news:
        if new.flow_id == new.id and new.id in inserted and specs.get(new.job):
            out += flow_members(new, specs[new.job])
    return out


def rearm(runs: Sequence[FlowRun], retried: FlowRun) -> list[FlowRun]:
    """When ``retried`` (a run of the flow ``runs``) is run again, the current runs of the
    jobs downstream of it in the flow that were skipped: each gets a new waiting run, so
    the flow decides them again once the new run ends."""
    current = current_runs(runs)
    children: dict[str, set[str]] = {}
    for run in current.values():
        for parent, _ in run.depends_on:
            children.setdefault(parent, set()).add(run.job)
    below = downstream(retried.job, lambda job: children.get(job, ()))
    return [
        current[job] for job in below if job in current and current[job].state is RunState.SKIPPED
    ]


@dataclass(frozen=True, slots=True)
class Edge:
    """``child`` waits for ``parent`` to end in a state that meets ``on``."""

    parent: str
    child: str
    on: str


@dataclass(frozen=True, slots=True)
class FlowGraph:
    """The jobs a run of ``root`` sets going: ``jobs`` (root first, then nearest first),
    each job's ``trigger_rule``, and the edges among them."""

    root: str
    jobs: list[str]
    rules: dict[str, str]
    edges: list[Edge]

    @classmethod
    def of(cls, root: str, specs: Mapping[str, JobSpec]) -> FlowGraph:
        """The graph below ``root`` among the jobs ``specs`` (every stored job, by name)."""
        children: dict[str, set[str]] = {}
        for spec in specs.values():
            for dep in spec.depends_on:
                children.setdefault(dep.job, set()).add(spec.name)
        jobs = [root, *downstream(root, lambda name: children.get(name, ()))]
        inside = set(jobs)
        edges = [
            Edge(dep.job, name, dep.on)
            for name in jobs[1:]
            for dep in specs[name].depends_on
            if dep.job in inside
        ]
        return cls(root, jobs, {name: specs[name].trigger_rule for name in jobs}, edges)

    def parents(self, job: str) -> list[Edge]:
        """The edges into ``job``."""
        return [edge for edge in self.edges if edge.child == job]

    def children(self, job: str) -> list[Edge]:
        """The edges out of ``job``."""
        return [edge for edge in self.edges if edge.parent == job]


def in_flow_order(runs: Iterable[Run], flow_id: str) -> list[Run]:
    """``runs`` of one flow with the run that started it first, then oldest first.

    The root must come first even when its children share its creation time: a flow's
    waiting runs are made in the root's transaction, and ids made in the same millisecond
    sort in random order."""
    return sorted(runs, key=lambda r: (r.id != flow_id, r.created_at, r.id))


def graph_of_runs(runs: Sequence[FlowRun]) -> FlowGraph:
    """The graph of a flow under way, from what its runs keep of their jobs (later edits to
    the jobs do not change it); ``runs`` oldest first, the run that started it first."""
    current = current_runs(runs)
    jobs = list(dict.fromkeys(run.job for run in runs))
    edges = [
        Edge(parent, job, on)
        for job in jobs
        for parent, on in current[job].depends_on
        if parent in current and job != jobs[0]
    ]
    rules = {job: current[job].trigger_rule for job in jobs}
    return FlowGraph(jobs[0], jobs, rules, edges)


def flow_state(runs: Iterable[FlowRun]) -> str:
    """One word for a flow: ``running`` while any current run has not ended; then
    ``cancelled`` if one was cancelled, ``failed`` if one failed or timed out, else
    ``succeeded`` (skipped runs do not fail a flow)."""
    states = {run.state for run in current_runs(runs).values()}
    if not all(state.terminal for state in states):
        return "running"
    if RunState.CANCELLED in states:
        return "cancelled"
    if states & FAILURE_STATES:
        return "failed"
    return "succeeded"


@dataclass(frozen=True, slots=True)
class FlowSummary:
    """One flow run in a listing: its id (the id of the run that started it), the root
    job, when it started, one word for it (:func:`flow_state`) and how many of its current
    runs are in each state (by state name, only states that occur)."""

    flow_id: str
    job: str
    created_at: datetime
    state: str
    counts: dict[str, int]

    @classmethod
    def of(cls, root: Any, members: Iterable[FlowRun]) -> FlowSummary:
        """The summary of the flow ``root`` (the :class:`~tss.core.models.Run` that started
        it) started, given every run of the flow (``root`` among them)."""
        current = list(current_runs(members).values())
        counts: dict[str, int] = {}
        for run in current:
            counts[run.state.value] = counts.get(run.state.value, 0) + 1
        return cls(
            root.id, root.job, root.created_at, flow_state(current), dict(sorted(counts.items()))
        )
