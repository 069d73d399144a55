"""``/api/v1/alerts`` and silences: what was sent, to whom, whether it was delivered; a
test message through a channel; a job's alerts silenced for a while, with a note."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from tss.api.auth import needs, principal_of
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, Limit, node_of
from tss.api.schemas import (
    AlertOut,
    AlertPage,
    AlertTestIn,
    SilenceIn,
    SilenceOut,
    SilencePage,
)
from tss.core.alerts import ALERT_STATES

router = APIRouter(route_class=TSSRoute, tags=["alerts"])

_STATES = "|".join(ALERT_STATES)


@router.get("/alerts", response_model=AlertPage, responses=ERRORS, **needs("viewer"))
async def list_alerts(
    request: Request,
    job: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(pattern=f"^({_STATES})$")] = None,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AlertPage:
    """Alerts raised, newest first: to which channel, and whether they were delivered."""
    page = await node_of(request).alerts.list_alerts(
        job=job, state=state, channel=channel, limit=limit, cursor=cursor
    )
    return AlertPage(
        items=[AlertOut.of(a) for a in page.items], next_cursor=page.next_cursor, total=page.total
    )


@router.get("/alerts/{alert_id}", response_model=AlertOut, responses=ERRORS, **needs("viewer"))
async def get_alert(request: Request, alert_id: str) -> AlertOut:
    """One alert."""
    return AlertOut.of(await node_of(request).alerts.get(alert_id))


@router.post(
    "/alerts/test", status_code=201, response_model=AlertOut, responses=ERRORS,
    **needs("operator"),
)  # fmt: skip
async def test_alert(request: Request, body: AlertTestIn) -> AlertOut:
    """Send a test message through a configured channel now; the answer says whether it
    was delivered (state) or why not (error)."""
    alert = await node_of(request).alerts.test(body.channel, by=principal_of(request).actor)
    return AlertOut.of(alert)


@router.get("/silences", response_model=SilencePage, responses=ERRORS, **needs("viewer"))
async def list_silences(request: Request) -> SilencePage:
    """Jobs whose alerts are silenced now, until when, by whom and why."""
    silences = await node_of(request).alerts.silences()
    return SilencePage(items=[SilenceOut.of(s) for s in silences])


@router.put(
    "/jobs/{name}/silence", response_model=SilenceOut, responses=ERRORS, **needs("operator")
)
async def silence_job(request: Request, name: str, body: SilenceIn) -> SilenceOut:
    """Silence a job's alerts until a time or for ``duration`` seconds (they are still
    recorded, with state ``silenced``); replaces the job's silence if it has one."""
    silence = await node_of(request).alerts.silence(
        name,
        until=body.until,
        duration=body.duration,
        note=body.note,
        by=principal_of(request).actor,
    )
    return SilenceOut.of(silence)


@router.delete("/jobs/{name}/silence", status_code=204, responses=ERRORS, **needs("operator"))
async def unsilence_job(request: Request, name: str) -> Response:
    """End a job's silence."""
    await node_of(request).alerts.unsilence(name, actor=principal_of(request).actor)
    return Response(status_code=204)
