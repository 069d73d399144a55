"""``/api/v1/stats/...``: what an operator's overview needs beyond ``/stats``: queue depth
per pool, fire lateness, and how each job's recent runs went (the figures are computed by
:class:`tss.service.reports.Reports`, bounded whatever the size of the history)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tss.api.auth import needs
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, node_of
from tss.api.schemas import JobHealth, JobHealthOut, LatenessOut, PoolQueue, QueuesOut

router = APIRouter(route_class=TSSRoute, tags=["stats"])


@router.get("/stats/queues", response_model=QueuesOut, responses=ERRORS, **needs("viewer"))
async def queues(request: Request) -> QueuesOut:
    """Queued runs per pool, with the workers up that serve each pool."""
    pools = await node_of(request).reports.queues()
    return QueuesOut(pools=[PoolQueue.of(p) for p in pools])


@router.get("/stats/lateness", response_model=LatenessOut, responses=ERRORS, **needs("viewer"))
async def lateness(
    request: Request,
    window: Annotated[int, Query(ge=60, le=30 * 86400, description="seconds")] = 3600,
) -> LatenessOut:
    """How late scheduled fires started: the first attempt's start minus the scheduled
    time, over the newest scheduled runs created in the last ``window`` seconds. Manual,
    retry and flow runs are left out, and a retried run counts its first attempt only: a
    retry's back-off is the job's policy, not the scheduler being late."""
    return LatenessOut.of(await node_of(request).reports.lateness(window))


@router.get("/stats/jobs", response_model=JobHealthOut, responses=ERRORS, **needs("viewer"))
async def job_health(
    request: Request,
    job: Annotated[
        list[str], Query(max_length=200, description="repeat for several (at most 200)")
    ],
) -> JobHealthOut:
    """How the newest runs of each job went: success rate and mean duration."""
    items = await node_of(request).reports.job_health(job)
    return JobHealthOut(items=[JobHealth.of(h) for h in items])
