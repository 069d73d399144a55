"""``/api/v1/runs``, ``/workers``, ``/events`` (and their live stream) and ``/stats``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

import orjson
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import StreamingResponse

from tss._aio import wait_first
from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, Limit, PageNumber, node_of, page_of
from tss.api.schemas import (
    EVENT_OUT,
    EventOut,
    EventPage,
    LogsOut,
    RunOut,
    RunPage,
    StatsOut,
    ThroughputPoint,
    Timestamp,
    WorkerOut,
    WorkerPage,
)
from tss.core.models import RunFilter
from tss.core.states import RunState

router = APIRouter(route_class=TSSRoute, tags=["runs"])
#: how often the live stream looks for new events
STREAM_POLL = 0.25


@router.get("/runs", response_model=RunPage, responses=ERRORS, **needs("viewer"))
async def list_runs(
    request: Request,
    job: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[list[RunState] | None, Query(description="repeat for several")] = None,
    since: Annotated[Timestamp | None, Query(description="created at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="created before")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    page: PageNumber = None,
) -> RunPage:
    """Runs, newest first."""
    run_filter = RunFilter(job=job, states=tuple(state or ()), since=since, until=until)
    offset = (page - 1) * limit if page else 0
    found, workers = await node_of(request).reports.list_runs(
        run_filter, limit=limit, cursor=cursor, offset=offset
    )
    return RunPage(
        items=[RunOut.of(r, reveal=reveals(request), workers=workers) for r in found.items],
        next_cursor=found.next_cursor,
        total=found.total,
    )


@router.get("/runs/{run_id}", response_model=RunOut, responses=ERRORS, **needs("viewer"))
async def get_run(request: Request, run_id: str) -> RunOut:
    """One run with all its attempts, and why it waits when no live worker can take it."""
    run, attempts, workers = await node_of(request).reports.run_detail(run_id)
    return RunOut.of(run, attempts, reveal=reveals(request), workers=workers)


@router.get("/runs/{run_id}/logs", response_model=LogsOut, responses=ERRORS, **needs("viewer"))
async def run_logs(
    request: Request,
    run_id: str,
    attempt: Annotated[int | None, Query(ge=1, le=100_000, description="default: last")] = None,
    stdout_offset: Annotated[int, Query(ge=0)] = 0,
    stderr_offset: Annotated[int, Query(ge=0)] = 0,
) -> LogsOut:
    """An attempt's output from the given offsets: poll with the returned offsets to follow
    a run while it runs, until ``done``."""
    logs = await node_of(request).reports.logs(
        run_id, attempt, stdout_from=stdout_offset, stderr_from=stderr_offset
    )
    return LogsOut.of(logs)


@router.post("/runs/{run_id}/cancel", response_model=RunOut, responses=ERRORS, **needs("operator"))
async def cancel_run(request: Request, run_id: str) -> RunOut:
    """Cancel a run that has not ended (409 if it has); a running one is stopped."""
    run = await node_of(request).runs.cancel(run_id, actor=principal_of(request).actor)
    return RunOut.of(run, reveal=reveals(request))


@router.post(
    "/runs/{run_id}/retry",
    status_code=201,
    response_model=RunOut,
    responses=ERRORS,
    **needs("operator"),
)
async def retry_run(request: Request, run_id: str) -> RunOut:
    """Run an ended run again, as a new run linked by ``retry_of`` (409 if not ended)."""
    run = await node_of(request).runs.retry(run_id, actor=principal_of(request).actor)
    return RunOut.of(run, reveal=reveals(request))


@router.get(
    "/workers", response_model=WorkerPage, responses=ERRORS, tags=["workers"], **needs("viewer")
)
async def list_workers(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(up|draining|down|dead)$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    page: PageNumber = None,
) -> WorkerPage:
    """Workers by id: pools, capacity, load, last heartbeat and state."""
    workers = await node_of(request).admin.list_workers(state)
    items, next_cursor, total = page_of(workers, lambda w: w.id, limit, cursor, page)
    return WorkerPage(items=[WorkerOut.of(w) for w in items], next_cursor=next_cursor, total=total)


@router.get(
    "/events", response_model=EventPage, responses=ERRORS, tags=["events"], **needs("viewer")
)
async def list_events(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    """State changes, oldest first: who, when, from, to, why."""
    events = await node_of(request).reports.events(after=after, limit=limit, run_id=run_id)
    return EventPage(
        items=[EventOut.of(e) for e in events], next_after=events[-1].id if events else after
    )


@router.get(
    "/events/stream",
    tags=["events"],
    responses={
        **ERRORS,
        200: {"content": {"text/event-stream": {}}, "description": "one event per change"},
    },
    **needs("viewer"),
)
async def stream_events(
    request: Request,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="default: from now")] = None,
    last_event_id: Annotated[str | None, Header()] = None,
) -> StreamingResponse:
    """State changes as they happen (Server-Sent Events; ``id`` is the event id, so a
    reconnecting client resumes where it stopped)."""
    reports = node_of(request).reports
    if last_event_id is not None and last_event_id.isdigit() and len(last_event_id) < 19:
        after = int(last_event_id)
    if after is None:
        after = await reports.last_event_id()

    closing: asyncio.Event = request.app.state.api.closing

    async def feed(cursor: int) -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        idle = 0.0
        while not closing.is_set() and not await request.is_disconnected():
            events = await reports.events(after=cursor, limit=500)
            for event in events:
                data = orjson.dumps(EVENT_OUT.dump_python(EventOut.of(event), mode="json"))
                yield b"id: %d\nevent: run\ndata: %s\n\n" % (event.id, data)
                cursor = event.id
            if events:
                idle = 0.0
                continue
            idle += STREAM_POLL
            if idle >= 15:  # a comment keeps proxies from closing a quiet stream
                idle = 0.0
                yield b": keep-alive\n\n"
            await wait_first(closing, timeout=STREAM_POLL)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(feed(after), media_type="text/event-stream", headers=headers)


@router.get("/stats", response_model=StatsOut, responses=ERRORS, tags=["stats"], **needs("viewer"))
async def stats(
    request: Request,
    window: Annotated[int, Query(ge=60, le=30 * 86400, description="seconds")] = 3600,
) -> StatsOut:
    """Runs in each state now, and runs ended per minute over the last ``window`` seconds."""
    bucket = 60 if window <= 86400 else 3600
    counts, points = await node_of(request).reports.stats(window=window, bucket=bucket)
    by_time: dict[datetime, dict[str, int]] = {}
    for at, state, count in points:
        by_time.setdefault(at, {})[state.value] = count
    return StatsOut(
        counts={s.value: n for s, n in counts.items()},
        window=window,
        bucket=bucket,
        throughput=[ThroughputPoint(at=at, counts=c) for at, c in sorted(by_time.items())],
    )
