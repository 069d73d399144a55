"""``/api/v1/jobs``: define, list, change, pause and trigger jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Header, Query, Request, Response

from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.schemas import ErrorBody, JobOut, JobPage, NextFires, RunOut, TriggerIn
from tss.app import TSSApp
from tss.core.models import JOB_SORTS, NAME_PATTERN, JobSpec
from tss.core.states import RunState
from tss.errors import ValidationError

router = APIRouter(route_class=TSSRoute, tags=["jobs"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (401, 403)}
JobName = Annotated[str, Query(pattern=NAME_PATTERN.pattern)]
Limit = Annotated[int, Query(ge=1, le=500, description="items per page")]
Page = Annotated[int | None, Query(ge=1, le=1_000_000, description="page number (from 1)")]
Cursor = Annotated[str | None, Query(max_length=1000, description="next_cursor of a page")]


T = TypeVar("T")


def page_of(
    items: list[T], key: Callable[[T], str], limit: int, cursor: str | None, page: int | None
) -> tuple[list[T], str | None, int]:
    """One page of a short list held in memory (workers, tokens), sorted by ``key``: after
    ``cursor`` (a key) or at page number ``page``. Returns the items, the next cursor and
    the total."""
    items = sorted(items, key=key)
    total = len(items)
    if cursor is not None:
        items = [item for item in items if key(item) > cursor]
    if page:
        items = items[(page - 1) * limit :]
    more = len(items) > limit
    items = items[:limit]
    return items, key(items[-1]) if more and items else None, total


def tss_of(request: Request) -> TSSApp:
    app: TSSApp = request.app.state.api.tss
    return app


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


@router.get("/jobs", response_model=JobPage, responses=_ERRORS, **needs("viewer"))
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
    page: Page = None,
) -> JobPage:
    """Jobs, filtered and sorted; page with ``cursor`` (fast) or ``page`` numbers."""
    offset = (page - 1) * limit if page else 0
    found, last = await tss_of(request).list_jobs(
        prefix=prefix, tag=tag, pool=pool, paused=paused, last_state=last_state,
        sort=sort, limit=limit, cursor=cursor, offset=offset,
    )  # fmt: skip
    items = [JobOut.of(job, last.get(job.name), reveal=reveals(request)) for job in found.items]
    return JobPage(items=items, next_cursor=found.next_cursor, total=found.total)


@router.post("/jobs", status_code=201, response_model=JobOut, responses=_ERRORS, **needs("admin"))
async def create_job(request: Request, spec: JobSpec) -> JobOut:
    """Create a job (409 if the name is taken)."""
    tss = tss_of(request)
    await tss.apply([spec], create_only=True)
    return JobOut.of(await tss.store.get_job(spec.name), reveal=reveals(request))


@router.get("/jobs/{name}", response_model=JobOut, responses=_ERRORS, **needs("viewer"))
async def get_job(request: Request, response: Response, name: str) -> JobOut:
    """One job; its ``ETag`` is its version, for ``If-Match`` on updates."""
    store = tss_of(request).store
    job = await store.get_job(name)
    _etag(response, job.version)
    return JobOut.of(job, (await store.last_runs([name])).get(name), reveal=reveals(request))


@router.put("/jobs/{name}", response_model=JobOut, responses=_ERRORS, **needs("admin"))
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
    job = await tss_of(request).replace_job(
        {**body, "name": name}, expected_version=version_of(if_match)
    )
    _etag(response, job.version)
    return JobOut.of(job, reveal=reveals(request))


@router.patch("/jobs/{name}", response_model=JobOut, responses=_ERRORS, **needs("admin"))
async def patch_job(
    request: Request,
    response: Response,
    name: str,
    body: Annotated[dict[str, Any], Body(description="keys to change; null resets a key")],
    if_match: Annotated[str | None, Header()] = None,
) -> JobOut:
    """Change some keys of a job (JSON Merge Patch)."""
    job = await tss_of(request).patch_job(name, body, expected_version=version_of(if_match))
    _etag(response, job.version)
    return JobOut.of(job, reveal=reveals(request))


@router.delete("/jobs/{name}", status_code=204, responses=_ERRORS, **needs("admin"))
async def delete_job(request: Request, name: str, force: bool = False) -> Response:
    """Delete a job; its runs stay as history. Refused while others depend on it."""
    await tss_of(request).delete_job(name, force=force)
    return Response(status_code=204)


@router.post("/jobs/{name}/pause", response_model=JobOut, responses=_ERRORS, **needs("operator"))
async def pause_job(request: Request, name: str) -> JobOut:
    """Stop firing a job until it is resumed."""
    return JobOut.of(await tss_of(request).set_paused(name, True), reveal=reveals(request))


@router.post("/jobs/{name}/resume", response_model=JobOut, responses=_ERRORS, **needs("operator"))
async def resume_job(request: Request, name: str) -> JobOut:
    """Fire a paused job again (missed fires follow its misfire policy)."""
    return JobOut.of(await tss_of(request).set_paused(name, False), reveal=reveals(request))


@router.get("/jobs/{name}/next", response_model=NextFires, responses=_ERRORS, **needs("viewer"))
async def next_fires(
    request: Request, name: str, n: Annotated[int, Query(ge=1, le=1000)] = 10
) -> NextFires:
    """The next ``n`` times the job will fire (empty for a job with no schedule)."""
    return NextFires(job=name, times=await tss_of(request).next_fires(name, n))


@router.post(
    "/jobs/{name}/runs",
    status_code=201,
    response_model=RunOut,
    responses={**_ERRORS, 200: {"model": RunOut, "description": "idempotency_key matched"}},
    **needs("operator"),
)
async def trigger_job(
    request: Request, response: Response, name: str, body: TriggerIn | None = None
) -> RunOut:
    """Run a job now or at ``run_at``. A repeated ``idempotency_key`` returns the run it
    made before, with 200 instead of 201."""
    body = body or TriggerIn()
    ((run, created),) = await tss_of(request).trigger(
        name,
        params=body.params,
        run_at=body.run_at,
        priority=body.priority,
        idempotency_key=body.idempotency_key,
        actor=principal_of(request).actor,
        with_descendants=body.with_descendants,
    )
    if not created:
        response.status_code = 200
    return RunOut.of(run, reveal=reveals(request))
