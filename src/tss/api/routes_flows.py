"""``/api/v1/jobs/{name}/flow`` and ``/api/v1/flows``: the graph of a job's flow, a flow
run's runs and states, and cancelling a flow run."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from tss.api.auth import needs, principal_of
from tss.api.errors import TSSRoute
from tss.api.routes_jobs import _ERRORS, tss_of
from tss.api.schemas import RunOut
from tss.core import flows
from tss.core.models import Run

router = APIRouter(route_class=TSSRoute, tags=["flows"])


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
    def of_runs(cls, flow_id: str, runs: list[Run]) -> FlowRunOut:
        members = [flows.FlowRun.of(run) for run in runs]
        graph = FlowGraphOut.of(flows.graph_of_runs(members))
        return cls(
            **graph.model_dump(),
            flow_id=flow_id,
            state=flows.flow_state(members),
            runs=[RunOut.of(run) for run in runs],
        )


@router.get(
    "/jobs/{name}/flow", response_model=FlowGraphOut, responses=_ERRORS, **needs("viewer")
)
async def job_flow(request: Request, name: str) -> FlowGraphOut:
    """The flow a run of this job starts: the job, every job downstream, and the edges
    with their conditions."""
    return FlowGraphOut.of(await tss_of(request).flow_graph(name))


@router.get("/flows/{flow_id}", response_model=FlowRunOut, responses=_ERRORS, **needs("viewer"))
async def get_flow(request: Request, flow_id: str) -> FlowRunOut:
    """A flow run (its id is the id of the run that started it): its runs and states."""
    return FlowRunOut.of_runs(flow_id, await tss_of(request).flow_runs(flow_id))


@router.post(
    "/flows/{flow_id}/cancel", response_model=FlowRunOut, responses=_ERRORS, **needs("operator")
)
async def cancel_flow(request: Request, flow_id: str) -> FlowRunOut:
    """Cancel every run of the flow that has not ended: waiting, queued and running ones
    (a worker stops a running one at its next heartbeat)."""
    tss = tss_of(request)
    await tss.cancel_flow(flow_id, actor=principal_of(request).actor)
    return FlowRunOut.of_runs(flow_id, await tss.flow_runs(flow_id))
