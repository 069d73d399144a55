"""``/api/v1/jobs/{name}/flow`` and ``/api/v1/flows``: the graph of a job's flow, a flow
run's runs and states, and cancelling a flow run."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, Limit, node_of
from tss.api.schemas import FlowGraphOut, FlowPage, FlowRunOut, FlowSummaryOut

router = APIRouter(route_class=TSSRoute, tags=["flows"])


@router.get("/jobs/{name}/flow", response_model=FlowGraphOut, responses=ERRORS, **needs("viewer"))
async def job_flow(request: Request, name: str) -> FlowGraphOut:
    """The flow a run of this job starts: the job, every job downstream, and the edges
    with their conditions."""
    return FlowGraphOut.of(await node_of(request).jobs.flow_graph(name))


@router.get("/flows", response_model=FlowPage, responses=ERRORS, **needs("viewer"))
async def list_flows(request: Request, limit: Limit = 50, cursor: Cursor = None) -> FlowPage:
    """Flow runs, newest first: each one's root job and run, when it started, one word for
    it and its current runs counted by state."""
    found = await node_of(request).reports.list_flows(limit=limit, cursor=cursor)
    return FlowPage(
        items=[FlowSummaryOut.of(s) for s in found.items], next_cursor=found.next_cursor
    )


@router.get("/flows/{flow_id}", response_model=FlowRunOut, responses=ERRORS, **needs("viewer"))
async def get_flow(request: Request, flow_id: str) -> FlowRunOut:
    """A flow run (its id is the id of the run that started it): its runs and states."""
    return FlowRunOut.of_runs(
        flow_id, await node_of(request).runs.flow_runs(flow_id), reveal=reveals(request)
    )


@router.post(
    "/flows/{flow_id}/cancel", response_model=FlowRunOut, responses=ERRORS, **needs("operator")
)
async def cancel_flow(request: Request, flow_id: str) -> FlowRunOut:
    """Cancel every run of the flow that has not ended: waiting, queued and running ones
    (a worker stops a running one at its next heartbeat)."""
    runs = node_of(request).runs
    await runs.cancel_flow(flow_id, actor=principal_of(request).actor)
    return FlowRunOut.of_runs(flow_id, await runs.flow_runs(flow_id), reveal=reveals(request))
