"""``/api/v1/jobs/pause`` and ``/api/v1/jobs/resume``: pause or resume every job a filter
selects (the single-job routes are in :mod:`tss.api.routes_jobs`)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tss.api.auth import needs, principal_of
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, node_of
from tss.api.schemas import BulkPauseIn, BulkResumeIn, ChangedJobs, JobSelection
from tss.service.pauses import PauseFilter

router = APIRouter(route_class=TSSRoute, tags=["jobs"])


def _filter(body: JobSelection) -> PauseFilter:
    return PauseFilter(
        prefix=body.prefix, tag=body.tag, pool=body.pool, names=tuple(body.names), all=body.all
    )


@router.post("/jobs/pause", response_model=ChangedJobs, responses=ERRORS, **needs("operator"))
async def pause_jobs(request: Request, body: BulkPauseIn) -> ChangedJobs:
    """Pause every job that matches all of ``prefix``, ``tag``, ``pool`` and ``names``
    (those given; ``all: true`` to pause every job) and is not paused yet, with one
    ``note`` and ``until``. Answers the names paused."""
    names = await node_of(request).jobs.pause_matching(
        _filter(body), note=body.note, until=body.until, actor=principal_of(request).actor
    )
    return ChangedJobs(items=names, count=len(names))


@router.post("/jobs/resume", response_model=ChangedJobs, responses=ERRORS, **needs("operator"))
async def resume_jobs(request: Request, body: BulkResumeIn) -> ChangedJobs:
    """Resume every paused job that matches the filter (as ``POST /jobs/pause``). Answers
    the names resumed."""
    names = await node_of(request).jobs.resume_matching(
        _filter(body), actor=principal_of(request).actor
    )
    return ChangedJobs(items=names, count=len(names))
