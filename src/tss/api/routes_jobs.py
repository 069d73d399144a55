"""``/api/v1/jobs``: define, list, change, pause and trigger jobs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response

from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, Limit, PageNumber, node_of
from tss.api.schemas import (
    AppliedJob,
    ApplyIn,
    ApplyOut,
    JobOut,
    JobPage,
    NextFires,
    PauseIn,
    RunOut,
    TriggeredRuns,
    TriggerIn,
)
from tss.core.models import JOB_SORTS, JobSpec
from tss.core.states import RunState
from tss.errors import ValidationError

router = APIRouter(route_class=TSSRoute, tags=["jobs"])


def version_of(if_match: str | None) -> int | None:
    """The job version an ``If-Match`` header names (``3`` or ``"3"``), if any."""
    if if_match is None:
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    if not text.isdigit() or len(text) > 12:
        raise ValidationError(
            "If-Match must be the job's version, as the ETag of GET /jobs/{name} gives it",
            field="If-Match",
        )
    return int(text)


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("/jobs", response_model=JobPage, responses=ERRORS, **needs("viewer"))
async def list_jobs(
    request: Request,
    prefix: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    pool: Annotated[str | None, Query(max_length=200)] = None,
    paused: bool | None = None,
    last_state: Annotated[RunState | None, Query(description="state of the newest run")] = None,
    sort: Annotated[str, Query(description=f"one of {', '.join(JOB_SORTS)}")] = "name",
    limit: Limit = 50,
    cursor: Cursor = None,
    page: PageNumber = None,
) -> JobPage:
    """Jobs, filtered and sorted; page with ``cursor`` (fast) or ``page`` numbers."""
    offset = (page - 1) * limit if page else 0
    found, last = await node_of(request).reports.list_jobs(
        prefix=prefix, tag=tag, pool=pool, paused=paused, last_state=last_state,
        sort=sort, limit=limit, cursor=cursor, offset=offset,
    )  # fmt: skip
    items = [JobOut.of(job, last.get(job.name), reveal=reveals(request)) for job in found.items]
    return JobPage(items=items, next_cursor=found.next_cursor, total=found.total)


@router.post("/jobs", status_code=201, response_model=JobOut, responses=ERRORS, **needs("admin"))
async def create_job(request: Request, spec: JobSpec) -> JobOut:
    """Create a job (409 if the name is taken)."""
    node = node_of(request)
    await node.jobs.apply([spec], create_only=True, actor=principal_of(request).actor)
    return JobOut.of(await node.reports.get_job(spec.name), reveal=reveals(request))


@router.post("/jobs/apply", response_model=ApplyOut, responses=ERRORS, **needs("admin"))
async def apply_jobs(request: Request, body: ApplyIn) -> ApplyOut:
    """Create or update a batch of jobs so they match the definitions sent, as one apply:
    every definition is checked (types, params, duplicate names, unknown parents,
    dependency cycles) before any is stored, so one bad job stores nothing. A job's pause
    state is kept unless its definition sets ``paused``. Answers what happened to each."""
    actor = principal_of(request).actor
    done = await node_of(request).jobs.apply(body.jobs, create_only=body.create_only, actor=actor)
    return ApplyOut(items=[AppliedJob(name=name, action=action) for name, action in done])


@router.get("/jobs/{name}", response_model=JobOut, responses=ERRORS, **needs("viewer"))
async def get_job(request: Request, response: Response, name: str) -> JobOut:
    """One job; its ``ETag`` is its version, for ``If-Match`` on updates."""
    job, last = await node_of(request).reports.job_with_last_run(name)
    _etag(response, job.version)
    return JobOut.of(job, last, reveal=reveals(request))


@router.put("/jobs/{name}", response_model=JobOut, responses=ERRORS, **needs("admin"))
async def replace_job(
    request: Request,
    response: Response,
    name: str,
    body: Annotated[dict[str, Any], Body(description="a whole job definition")],
    if_match: Annotated[str | None, Header()] = None,
) -> JobOut:
    """Replace a job's whole definition (keys left out take their defaults)."""
    if body.get("name", name) != name:
        raise ValidationError(
            f"name: the body names {body.get('name')!r} but the path names {name!r}",
            field="name",
        )
    job = await node_of(request).jobs.replace(
        {**body, "name": name},
        expected_version=version_of(if_match),
        actor=principal_of(request).actor,
    )
    _etag(response, job.version)
    return JobOut.of(job, reveal=reveals(request))


@router.patch("/jobs/{name}", response_model=JobOut, responses=ERRORS, **needs("admin"))
async def patch_job(
    request: Request,
    response: Response,
    name: str,
    body: Annotated[dict[str, Any], Body(description="keys to change; null resets a key")],
    if_match: Annotated[str | None, Header()] = None,
) -> JobOut:
    """Change some keys of a job (JSON Merge Patch)."""
    job = await node_of(request).jobs.patch(
        name, body, expected_version=version_of(if_match), actor=principal_of(request).actor
    )
    _etag(response, job.version)
    return JobOut.of(job, reveal=reveals(request))


@router.delete("/jobs/{name}", status_code=204, responses=ERRORS, **needs("admin"))
async def delete_job(
    request: Request, name: str, force: bool = False, history: bool = False
) -> Response:
    """Delete a job. Refused while others depend on it, unless ``force``. Its runs stay as
    history unless ``history``: then its runs not started are cancelled and every ended
    run is deleted with its attempts, logs and events (a run still going ends and stays)."""
    actor = principal_of(request).actor
    await node_of(request).jobs.delete(name, force=force, history=history, actor=actor)
    return Response(status_code=204)


@router.post("/jobs/{name}/pause", response_model=JobOut, responses=ERRORS, **needs("operator"))
async def pause_job(request: Request, name: str, body: PauseIn | None = None) -> JobOut:
    """Stop firing a job until it is resumed, or until ``until`` (a date-time, or a
    duration like ``2h``), with an optional ``note`` saying why. Pausing a paused job
    replaces its note and end time."""
    body = body or PauseIn()
    job = await node_of(request).jobs.set_paused(
        name, True, note=body.note, until=body.until, actor=principal_of(request).actor
    )
    return JobOut.of(job, reveal=reveals(request))


@router.post("/jobs/{name}/resume", response_model=JobOut, responses=ERRORS, **needs("operator"))
async def resume_job(request: Request, name: str) -> JobOut:
    """Fire a paused job again (missed fires follow its misfire policy)."""
    actor = principal_of(request).actor
    job = await node_of(request).jobs.set_paused(name, False, actor=actor)
    return JobOut.of(job, reveal=reveals(request))


@router.get("/jobs/{name}/next", response_model=NextFires, responses=ERRORS, **needs("viewer"))
async def next_fires(
    request: Request, name: str, n: Annotated[int, Query(ge=1, le=1000)] = 10
) -> NextFires:
    """The next ``n`` times the job will fire (empty for a job with no schedule)."""
    return NextFires(job=name, times=await node_of(request).jobs.next_fires(name, n))


@router.post(
    "/jobs/{name}/runs",
    status_code=201,
    response_model=RunOut | TriggeredRuns,
    responses={
        **ERRORS,
        200: {"model": RunOut | TriggeredRuns, "description": "idempotency_key matched"},
        201: {"model": RunOut | TriggeredRuns, "description": "a run, or the runs with count"},
    },
    **needs("operator"),
)
async def trigger_job(
    request: Request, response: Response, name: str, body: TriggerIn | None = None
) -> RunOut | TriggeredRuns:
    """Run a job now or at ``run_at``. A repeated ``idempotency_key`` returns the run it
    made before, with 200 instead of 201. With ``count`` it makes that many runs and
    answers ``{"items": [...]}``, the runs in order."""
    body = body or TriggerIn()
    if body.count is not None and body.count > 1 and body.idempotency_key is not None:
        raise ValidationError(
            "idempotency_key: names a single run; leave out count or set it to 1",
            field="idempotency_key",
        )
    made = await node_of(request).runs.trigger(
        name,
        params=body.params,
        count=body.count or 1,
        run_at=body.run_at,
        priority=body.priority,
        idempotency_key=body.idempotency_key,
        actor=principal_of(request).actor,
        with_descendants=body.with_descendants,
    )
    if not any(created for _, created in made):
        response.status_code = 200
    runs = [RunOut.of(run, reveal=reveals(request)) for run, _ in made]
    return runs[0] if body.count is None else TriggeredRuns(items=runs)
