"""``/api/v1/stats/...``: what an operator's overview needs beyond ``/stats``: queue depth
per pool, fire lateness, and how each job's recent runs went.

Each answer is bounded whatever the size of the history: queues are counted up to
:data:`QUEUE_CAP`, lateness is read from the newest :data:`LATENESS_SAMPLE` runs, and a
job's health from its newest :data:`HEALTH_RUNS` runs (one indexed read per job).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from tss.api.auth import needs
from tss.api.errors import TSSRoute
from tss.api.routes_jobs import _ERRORS, tss_of
from tss.core.models import NAME_PATTERN, RunFilter
from tss.core.states import RunState

router = APIRouter(route_class=TSSRoute, tags=["stats"])
#: queued runs counted per pool; beyond it the count says "at least"
QUEUE_CAP = 10_000
#: newest runs read for the lateness figures
LATENESS_SAMPLE = 1000
#: retried runs (newest first) whose first attempt is read for the lateness figures
LATENESS_RETRIED = 100
#: newest runs of a job its health is computed from
HEALTH_RUNS = 20
_FAILED = (RunState.FAILED, RunState.TIMED_OUT)
#: the ends that say how a job is doing (cancelled and skipped runs say nothing)
_ENDED = (RunState.SUCCEEDED, *_FAILED)


class PoolQueue(BaseModel):
    pool: str
    queued: int = Field(description="runs waiting for a worker (at most QUEUE_CAP)")
    capped: bool = Field(description="the count stopped at the cap: there are more")
    workers: int = Field(description="workers up that serve the pool")
    slots: int = Field(description="runs those workers can hold at once")


class QueuesOut(BaseModel):
    pools: list[PoolQueue]


class LatePoint(BaseModel):
    at: str = Field(description="the time the run was scheduled for (ISO 8601)")
    job: str
    late: float = Field(description="seconds from its scheduled time to its first attempt's start")


class LatenessOut(BaseModel):
    window: int
    samples: int
    p50: float | None
    p95: float | None
    max: float | None
    points: list[LatePoint]


class JobHealth(BaseModel):
    job: str
    runs: int = Field(description="runs looked at (the newest, at most HEALTH_RUNS)")
    ended: int
    succeeded: int
    failed: int = Field(description="failed or timed out")
    success_rate: float | None = Field(description="succeeded / ended; None before any ended")
    mean_duration: float | None = Field(description="seconds, over the ended runs")


class JobHealthOut(BaseModel):
    items: list[JobHealth]


@router.get("/stats/queues", response_model=QueuesOut, responses=_ERRORS, **needs("viewer"))
async def queues(request: Request) -> QueuesOut:
    """Queued runs per pool, with the workers up that serve each pool."""
    store = tss_of(request).store
    workers = [w for w in await store.list_workers() if w.state == "up"]
    sample = await store.list_runs(RunFilter(states=(RunState.QUEUED,)), limit=500)
    pools = sorted({p for w in workers for p in w.pools} | {r.pool for r in sample.items})
    found = await asyncio.gather(*(store.fetch_queued([p], limit=QUEUE_CAP + 1) for p in pools))
    out = []
    for pool, runs in zip(pools, found, strict=True):
        serving = [w for w in workers if pool in w.pools]
        out.append(
            PoolQueue(
                pool=pool,
                queued=min(len(runs), QUEUE_CAP),
                capped=len(runs) > QUEUE_CAP,
                workers=len(serving),
                slots=sum(w.concurrency for w in serving),
            )
        )
    return QueuesOut(pools=out)


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@router.get("/stats/lateness", response_model=LatenessOut, responses=_ERRORS, **needs("viewer"))
async def lateness(
    request: Request,
    window: Annotated[int, Query(ge=60, le=30 * 86400, description="seconds")] = 3600,
) -> LatenessOut:
    """How late scheduled fires started: the first attempt's start minus the scheduled
    time, over the newest scheduled runs created in the last ``window`` seconds. Manual,
    retry and flow runs are left out, and a retried run counts its first attempt only: a
    retry's back-off is the job's policy, not the scheduler being late."""
    store = tss_of(request).store
    since = await store.now() - timedelta(seconds=window)
    page = await store.list_runs(RunFilter(since=since), limit=LATENESS_SAMPLE)
    fires = [
        run
        for run in page.items
        if run.trigger == "schedule" and run.scheduled_for and run.started_at
    ]
    # A run's started_at is its latest attempt's start: read the first from its attempts,
    # for the newest LATENESS_RETRIED retried runs (a bounded number of reads).
    retried = [run for run in fires if run.attempt > 1][:LATENESS_RETRIED]
    found = await asyncio.gather(*(store.list_attempts(run.id) for run in retried))
    first_start = {run.id: a[0].started_at for run, a in zip(retried, found, strict=True) if a}
    points = []
    for run in reversed(fires):
        started = run.started_at if run.attempt <= 1 else first_start.get(run.id)
        if started is None or run.scheduled_for is None:
            continue  # retried beyond the bound: left out rather than counted wrong
        late = max((started - run.scheduled_for).total_seconds(), 0.0)
        points.append(LatePoint(at=run.scheduled_for.isoformat(), job=run.job, late=round(late, 4)))
    values = [p.late for p in points]
    return LatenessOut(
        window=window,
        samples=len(values),
        p50=_quantile(values, 0.5),
        p95=_quantile(values, 0.95),
        max=max(values) if values else None,
        points=points,
    )


@router.get("/stats/jobs", response_model=JobHealthOut, responses=_ERRORS, **needs("viewer"))
async def job_health(
    request: Request,
    job: Annotated[
        list[str], Query(max_length=200, description="repeat for several (at most 200)")
    ],
) -> JobHealthOut:
    """How the newest runs of each job went: success rate and mean duration."""
    store = tss_of(request).store
    names = [n for n in dict.fromkeys(job) if NAME_PATTERN.fullmatch(n)]
    pages = await asyncio.gather(
        *(store.list_runs(RunFilter(job=n), limit=HEALTH_RUNS) for n in names)
    )
    items = []
    for name, page in zip(names, pages, strict=True):
        ended = [r for r in page.items if r.state in _ENDED]
        good = sum(r.state is RunState.SUCCEEDED for r in ended)
        timed = [
            (r.finished_at - r.started_at).total_seconds()
            for r in ended
            if r.started_at and r.finished_at
        ]
        items.append(
            JobHealth(
                job=name,
                runs=len(page.items),
                ended=len(ended),
                succeeded=good,
                failed=sum(r.state in _FAILED for r in ended),
                success_rate=round(good / len(ended), 4) if ended else None,
                mean_duration=round(sum(timed) / len(timed), 4) if timed else None,
            )
        )
    return JobHealthOut(items=items)
