"""Flows on the wire: the graph a job starts, a flow run and its runs, listings."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tss.api.schemas.runs import RunOut
from tss.core import flows
from tss.core.models import Run


class EdgeOut(BaseModel):
    """``child`` waits for ``parent`` to end in a state that meets ``on``."""

    parent: str
    child: str
    on: str = Field(description="success, failure or completion")


class NodeOut(BaseModel):
    job: str
    trigger_rule: str = Field(description="all or any")


class FlowGraphOut(BaseModel):
    """A job and every job downstream of it: what a run of the job sets going."""

    root: str
    nodes: list[NodeOut]
    edges: list[EdgeOut]

    @classmethod
    def of(cls, graph: flows.FlowGraph) -> FlowGraphOut:
        return cls(
            root=graph.root,
            nodes=[NodeOut(job=job, trigger_rule=graph.rules[job]) for job in graph.jobs],
            edges=[EdgeOut(parent=e.parent, child=e.child, on=e.on) for e in graph.edges],
        )


class FlowRunOut(FlowGraphOut):
    """A flow run: its graph, one word for it, and its runs (oldest first; a re-run job
    has several, ``retry_of`` links them)."""

    flow_id: str
    state: str = Field(description="running, succeeded, failed or cancelled")
    runs: list[RunOut]

    @classmethod
    def of_runs(cls, flow_id: str, runs: list[Run], *, reveal: bool) -> FlowRunOut:
        members = [flows.FlowRun.of(run) for run in runs]
        graph = FlowGraphOut.of(flows.graph_of_runs(members))
        return cls(
            **graph.model_dump(),
            flow_id=flow_id,
            state=flows.flow_state(members),
            runs=[RunOut.of(run, reveal=reveal) for run in runs],
        )


class FlowSummaryOut(BaseModel):
    """One flow run in a listing: its root run, when it started, one word for it and how
    many of its current runs are in each state."""

    flow_id: str = Field(description="the id of the flow's root run (the run that started it)")
    root_job: str
    root_run: str
    started: datetime = Field(description="when the root run was made")
    state: str = Field(description="running, succeeded, failed or cancelled")
    counts: dict[str, int] = Field(description="current runs by state; states with none left out")

    @classmethod
    def of(cls, summary: flows.FlowSummary) -> FlowSummaryOut:
        return cls(
            flow_id=summary.flow_id,
            root_job=summary.job,
            root_run=summary.flow_id,
            started=summary.created_at,
            state=summary.state,
            counts=summary.counts,
        )


class FlowPage(BaseModel):
    items: list[FlowSummaryOut]
    next_cursor: str | None = None
