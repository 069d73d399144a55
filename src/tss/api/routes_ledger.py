"""The fire ledger of a job (``/jobs/{name}/fires``), backfills and the upcoming fires of
every job: why did it (not) fire, make what was missed, see a pile-up before it happens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from tss.api.auth import needs, principal_of
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, node_of
from tss.api.schemas.base import Timestamp
from tss.api.schemas.ledger import (
    BackfillIn,
    BackfillList,
    BackfillOut,
    BackfillRecord,
    FirePage,
    UpcomingOut,
)
from tss.core.ledger import MAX_FIRES
from tss.service.ledger import MAX_BACKFILLS, MAX_HOURS

router = APIRouter(route_class=TSSRoute, tags=["ledger"])


@router.get("/jobs/{name}/fires", response_model=FirePage, responses=ERRORS, **needs("viewer"))
async def job_fires(
    request: Request,
    name: str,
    since: Annotated[
        Timestamp | None, Query(description="at or after (default: a day ago)")
    ] = None,
    until: Annotated[Timestamp | None, Query(description="before (default: in an hour)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_FIRES, description="fires per page")] = MAX_FIRES,
    cursor: Cursor = None,
) -> FirePage:
    """Every fire the job's schedule intended in the window, in order, with what became of
    it: fired, skipped, replaced, missed, paused, backfilled, pruned, due or upcoming."""
    page = await node_of(request).ledger.fires(
        name, since=since, until=until, limit=limit, cursor=cursor
    )
    return FirePage.model_validate(page.to_dict())


@router.post(
    "/jobs/{name}/backfill", response_model=BackfillOut, responses=ERRORS, **needs("admin")
)
async def backfill_job(request: Request, name: str, body: BackfillIn) -> BackfillOut:
    """Make the job's past fires in ``[from, to)`` that have no run (with ``only_missed``,
    only those the ledger calls missed), each at most once; ``dry_run`` lists them only."""
    result = await node_of(request).ledger.backfill(
        name, start=body.from_, end=body.to, only_missed=body.only_missed,
        dry_run=body.dry_run, max_active=body.max_active, actor=principal_of(request).actor,
    )  # fmt: skip
    return BackfillOut.model_validate(result.to_dict())


@router.get(
    "/jobs/{name}/backfills", response_model=BackfillList, responses=ERRORS, **needs("viewer")
)
async def job_backfills(
    request: Request,
    name: str,
    limit: Annotated[
        int, Query(ge=1, le=MAX_BACKFILLS, description="backfills listed, newest first")
    ] = 100,
) -> BackfillList:
    """The job's backfills, newest first: each one's fires (``count``, ``first``,
    ``last``), how many were ``made``, ``max_active``, who asked and when, and its
    ``state``: ``active`` (the scheduler makes the rest), ``done`` or ``stopped``."""
    found = await node_of(request).ledger.backfills(name, limit=limit)
    return BackfillList(job=name, items=[BackfillRecord.model_validate(b.to_dict()) for b in found])


@router.post(
    "/jobs/{name}/backfills/{backfill_id}/stop",
    response_model=BackfillRecord,
    responses=ERRORS,
    **needs("operator"),
)
async def stop_backfill(request: Request, name: str, backfill_id: str) -> BackfillRecord:
    """Stop an active backfill: the scheduler makes no more of its fires. The runs it made
    stay (cancel them as runs). 404 naming ``backfill`` for an id that is not one of the
    job's backfills, 409 when it is done or stopped already."""
    stopped = await node_of(request).ledger.stop_backfill(
        name, backfill_id, actor=principal_of(request).actor
    )
    return BackfillRecord.model_validate(stopped.to_dict())


@router.get("/upcoming", response_model=UpcomingOut, responses=ERRORS, **needs("viewer"))
async def upcoming(
    request: Request,
    hours: Annotated[float, Query(gt=0, le=MAX_HOURS, description="the horizon")] = 24,
    limit: Annotated[int, Query(ge=1, le=MAX_FIRES, description="fires listed")] = 200,
) -> UpcomingOut:
    """The next fires of every unpaused scheduled job, with the load per minute and the
    busiest minutes."""
    found = await node_of(request).ledger.upcoming(hours=hours, limit=limit)
    return UpcomingOut.model_validate(found.to_dict())
