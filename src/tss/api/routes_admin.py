"""API tokens (``/api/v1/tokens``) and the routes the seed documents name, served by the
same handlers as ``/api/v1``: ``/tasks/``, ``/task/{id}`` and ``POST /v1/queue``.

In the seed routes a *task* is a job and its id is the job's name.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from pydantic import Field

from tss.api import routes_jobs as jobs
from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, Limit, PageNumber, node_of, page_of
from tss.api.schemas import (
    JobOut,
    JobPage,
    RunOut,
    StrictIn,
    TokenCreated,
    TokenIn,
    TokenOut,
    TokenPage,
    WorkerOut,
    WorkerStatusIn,
)
from tss.core.models import JobSpec, WorkerInfo
from tss.core.waiting import EXTERNAL_PREFIX
from tss.errors import ValidationError

tokens = APIRouter(route_class=TSSRoute, tags=["tokens"])
seed = APIRouter(route_class=TSSRoute, tags=["seed routes"])


@tokens.get("/tokens", response_model=TokenPage, responses=ERRORS, **needs("admin"))
async def list_tokens(
    request: Request,
    limit: Limit = 100,
    cursor: Cursor = None,
    page: PageNumber = None,
) -> TokenPage:
    """Tokens (never their secrets), revoked ones included, oldest first."""
    tokens = await node_of(request).admin.list_tokens()
    # Oldest first, ties by id; the cursor is the last token's "created_at id".
    items, next_cursor, total = page_of(
        tokens, lambda t: f"{t.created_at.isoformat()} {t.id}", limit, cursor, page
    )
    return TokenPage(items=[TokenOut.of(t) for t in items], next_cursor=next_cursor, total=total)


@tokens.post(
    "/tokens", status_code=201, response_model=TokenCreated, responses=ERRORS, **needs("admin")
)
async def create_token(request: Request, body: TokenIn) -> TokenCreated:
    """Make a token. Its secret is in this response only: it is stored as a hash."""
    record, text = await node_of(request).admin.create_token(
        body.name, body.role, expires_at=body.expires_at, actor=principal_of(request).actor
    )
    return TokenCreated(**TokenOut.of(record).model_dump(), token=text)


@tokens.delete("/tokens/{id_or_name}", status_code=204, responses=ERRORS, **needs("admin"))
async def revoke_token(request: Request, id_or_name: str) -> Response:
    """Revoke the tokens with this id or name; they stop working at once."""
    await node_of(request).admin.revoke_tokens(id_or_name, actor=principal_of(request).actor)
    return Response(status_code=204)


# -- the seed's routes ---------------------------------------------------------------------


@seed.get("/tasks/", response_model=JobPage, responses=ERRORS, **needs("viewer"))
async def seed_list(
    request: Request,
    limit: Limit = 50,
    cursor: Cursor = None,
    page: PageNumber = None,
    prefix: Annotated[str | None, Query(max_length=200)] = None,
) -> JobPage:
    """Jobs with the state of their last run (as ``GET /api/v1/jobs``)."""
    return await jobs.list_jobs(
        request, prefix=prefix, limit=limit, cursor=cursor, page=page, tag=None, pool=None,
        paused=None, last_state=None, sort="name",
    )  # fmt: skip


@seed.post(
    "/tasks/create", status_code=201, response_model=JobOut, responses=ERRORS, **needs("admin")
)
async def seed_create(request: Request, spec: JobSpec) -> JobOut:
    """Create a job (as ``POST /api/v1/jobs``)."""
    return await jobs.create_job(request, spec)


@seed.get("/task/{task_id}", response_model=JobOut, responses=ERRORS, **needs("viewer"))
async def seed_get(request: Request, response: Response, task_id: str) -> JobOut:
    """A job and the state of its last run (as ``GET /api/v1/jobs/{name}``)."""
    return await jobs.get_job(request, response, task_id)


_Whole = Annotated[
    dict[str, Any],
    Body(description="a whole job definition; or a report with `status` (see TaskReportIn)"),
]
_Partial = Annotated[
    dict[str, Any],
    Body(description="keys to change; null resets a key; or a report with `status`"),
]
#: what TME executors say of a task, as the run's next step
_STATUS = {
    "started": "started",
    "complete": "complete",
    "completed": "complete",
    "succeeded": "complete",
    "fail": "fail",
    "failed": "fail",
}


class TaskReportIn(StrictIn):
    """TME's state report: ``PUT|PATCH /task/<id>/`` with ``status`` (started, complete or
    fail), the log output and details. ``<id>`` is the job (its oldest queued run, or the
    run the caller holds) or a run id. Needs the worker role (or admin)."""

    status: str = Field(description="started, complete or fail")
    log: str | None = Field(None, max_length=16 * 1024 * 1024, description="the output so far")
    details: Any = Field(None, description="complete: the result; fail: what went wrong")


async def _report(request: Request, task_id: str, body: dict[str, Any]) -> RunOut:
    report = TaskReportIn.model_validate(body)
    status = _STATUS.get(report.status.lower())
    if status is None:
        raise ValidationError(
            f"status must be started, complete or fail, not {report.status!r}", field="status"
        )
    details = report.details
    run = await node_of(request).workers.report_task(
        task_id, status, reporter=principal_of(request).name, log=report.log,
        result=details if status == "complete" else None,
        message=None if details is None or status != "fail" else str(details)[:64 * 1024],
    )  # fmt: skip
    return RunOut.of(run, reveal=reveals(request))


def _job_edit(request: Request) -> None:
    """A job definition changes what runs: only an admin (the route also lets workers in,
    for their reports)."""
    principal_of(request).require("admin")


@seed.put("/task/{task_id}", response_model=JobOut | RunOut, responses=ERRORS, **needs("worker"))
@seed.put("/task/{task_id}/", response_model=JobOut | RunOut, responses=ERRORS, **needs("worker"))
async def seed_replace(
    request: Request,
    response: Response,
    task_id: str,
    body: _Whole,
    if_match: Annotated[str | None, Header()] = None,
) -> JobOut | RunOut:
    """Replace a job's definition (as ``PUT /api/v1/jobs/{name}``; admin only), or, with a
    ``status`` in the body, report on the job's run (TME; worker or admin role)."""
    if "status" in body:
        return await _report(request, task_id, body)
    _job_edit(request)
    return await jobs.replace_job(request, response, task_id, body, if_match)


@seed.patch("/task/{task_id}/", response_model=JobOut | RunOut, responses=ERRORS, **needs("worker"))
async def seed_patch(
    request: Request,
    response: Response,
    task_id: str,
    body: _Partial,
    if_match: Annotated[str | None, Header()] = None,
) -> JobOut | RunOut:
    """Change some keys of a job (as ``PATCH /api/v1/jobs/{name}``; admin only), or, with
    a ``status`` in the body, report on the job's run (TME; worker or admin role)."""
    if "status" in body:
        return await _report(request, task_id, body)
    _job_edit(request)
    return await jobs.patch_job(request, response, task_id, body, if_match)


@seed.delete("/task/{task_id}/", status_code=204, responses=ERRORS, **needs("admin"))
async def seed_delete(request: Request, task_id: str, force: bool = False) -> Response:
    """Delete a job (as ``DELETE /api/v1/jobs/{name}``); 204 on success."""
    return await jobs.delete_job(request, task_id, force)


# Workers reported through ``POST /v1/queue`` live under EXTERNAL_PREFIX (``ext:``): a TSS
# worker's id never starts with it (names cannot hold ``:``), so a report can never alter
# a TSS worker; such workers take no runs (tss.core.waiting).


@seed.post("/v1/queue", response_model=WorkerOut, responses=ERRORS, **needs("operator"))
async def seed_worker_status(request: Request, body: WorkerStatusIn) -> WorkerOut:
    """A worker outside TSS reports its status; it shows in ``GET /api/v1/workers`` as
    ``ext:<worker_id>``, apart from TSS's own workers, whose records a report never
    touches. A worker that stops reporting is marked dead like any other."""
    info = WorkerInfo(
        id=EXTERNAL_PREFIX + body.worker_id,
        hostname=body.hostname,
        pid=body.pid,
        pools=body.pools,
        task_types=body.task_types,
        concurrency=body.concurrency,
        cores=body.cores,
        memory=body.memory,
        version=body.version,
        state=body.state,
        running=body.running,
    )
    return WorkerOut.of(await node_of(request).admin.report_worker(info))
