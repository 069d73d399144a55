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
from tss.api.routes_jobs import _ERRORS, Cursor, Limit, Page, page_of, tss_of
from tss.api.schemas import (
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


@router.get("/runs", response_model=RunPage, responses=_ERRORS, **needs("viewer"))
async def list_runs(
    request: Request,
    job: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[list[RunState] | None, Query(description="repeat for several")] = None,
    since: Annotated[Timestamp | None, Query(description="created at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="created before")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
    page: Page = None,
) -> RunPage:
    """Runs, newest first."""
    run_filter = RunFilter(job=job, states=tuple(state or ()), since=since, until=until)
    offset = (page - 1) * limit if page else 0
    store = tss_of(request).store
    found = await store.list_runs(run_filter, limit=limit, cursor=cursor, offset=offset)
    # Why a queued run waits needs the workers: read them once, and only then.
    queued = any(r.state is RunState.QUEUED for r in found.items)
    workers = await store.list_workers() if queued else None
    return RunPage(
        items=[RunOut.of(r, reveal=reveals(request), workers=workers) for r in found.items],
        next_cursor=found.next_cursor,
        total=found.total,
    )


@router.get("/runs/{run_id}", response_model=RunOut, responses=_ERRORS, **needs("viewer"))
async def get_run(request: Request, run_id: str) -> RunOut:
    """One run with all its attempts, and why it waits when no live worker can take it."""
    store = tss_of(request).store
    run = await store.get_run(run_id)
    workers = await store.list_workers() if run.state is RunState.QUEUED else None
    attempts = await store.list_attempts(run_id)
    return RunOut.of(run, attempts, reveal=reveals(request), workers=workers)


@router.get("/runs/{run_id}/logs", response_model=LogsOut, responses=_ERRORS, **needs("viewer"))
async def run_logs(
    request: Request,
    run_id: str,
    attempt: Annotated[int | None, Query(ge=1, le=100_000, description="default: last")] = None,
    stdout_offset: Annotated[int, Query(ge=0)] = 0,
    stderr_offset: Annotated[int, Query(ge=0)] = 0,
) -> LogsOut:
    """An attempt's output from the given offsets: poll with the returned offsets to follow
    a run while it runs, until ``done``."""
    store = tss_of(request).store
    run = await store.get_run(run_id)
    number = attempt or run.attempt
    stdout, stderr = await store.get_logs(run_id, number) if number else ("", "")
    done = run.state.terminal or number < run.attempt or run.state is not RunState.RUNNING
    return LogsOut(
        run_id=run_id,
        attempt=number,
        stdout=stdout[stdout_offset:],
        stderr=stderr[stderr_offset:],
        stdout_offset=max(len(stdout), stdout_offset),
        stderr_offset=max(len(stderr), stderr_offset),
        done=done,
    )


@router.post("/runs/{run_id}/cancel", response_model=RunOut, responses=_ERRORS, **needs("operator"))
async def cancel_run(request: Request, run_id: str) -> RunOut:
    """Cancel a run that has not ended (409 if it has); a running one is stopped."""
    run = await tss_of(request).cancel_run(run_id, actor=principal_of(request).actor)
    return RunOut.of(run, reveal=reveals(request))


@router.post(
    "/runs/{run_id}/retry",
    status_code=201,
    response_model=RunOut,
    responses=_ERRORS,
    **needs("operator"),
)
async def retry_run(request: Request, run_id: str) -> RunOut:
    """Run an ended run again, as a new run linked by ``retry_of`` (409 if not ended)."""
    run = await tss_of(request).retry_run(run_id, actor=principal_of(request).actor)
    return RunOut.of(run, reveal=reveals(request))


@router.get(
    "/workers", response_model=WorkerPage, responses=_ERRORS, tags=["workers"], **needs("viewer")
)
async def list_workers(
    request: Request,
    state: Annotated[str | None, Query(pattern="^(up|draining|down|dead)$")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
    page: Page = None,
) -> WorkerPage:
    """Workers by id: pools, capacity, load, last heartbeat and state."""
    workers = await tss_of(request).store.list_workers()
    if state is not None:
        workers = [w for w in workers if w.state == state]
    items, next_cursor, total = page_of(workers, lambda w: w.id, limit, cursor, page)
    return WorkerPage(items=[WorkerOut.of(w) for w in items], next_cursor=next_cursor, total=total)


@router.get(
    "/events", response_model=EventPage, responses=_ERRORS, tags=["events"], **needs("viewer")
)
async def list_events(
    request: Request,
    after: Annotated[int, Query(ge=0, le=2**62, description="events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    """State changes, oldest first: who, when, from, to, why."""
    events = await tss_of(request).store.list_events(after=after, limit=limit, run_id=run_id)
    return EventPage(
        items=[EventOut.of(e) for e in events], next_after=events[-1].id if events else after
    )


@router.get(
    "/events/stream",
    tags=["events"],
    responses={
        **_ERRORS,
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
    store = tss_of(request).store
    if last_event_id is not None and last_event_id.isdigit() and len(last_event_id) < 19:
        after = int(last_event_id)
    if after is None:
        after = await store.last_event_id()

    closing: asyncio.Event = request.app.state.api.closing

    async def feed(cursor: int) -> AsyncIterator[bytes]:
        yield b": connected\n\n"
        idle = 0.0
        while not closing.is_set() and not await request.is_disconnected():
            events = await store.list_events(after=cursor, limit=500)
            for event in events:
                data = orjson.dumps(EventOut.of(event).model_dump(mode="json"))
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


@router.get("/stats", response_model=StatsOut, responses=_ERRORS, tags=["stats"], **needs("viewer"))
async def stats(
    request: Request,
    window: Annotated[int, Query(ge=60, le=30 * 86400, description="seconds")] = 3600,
) -> StatsOut:
    """Runs in each state now, and runs ended per minute over the last ``window`` seconds."""
    bucket = 60 if window <= 86400 else 3600
    counts, points = await tss_of(request).stats(window=window, bucket=bucket)
    by_time: dict[datetime, dict[str, int]] = {}
    for at, state, count in points:
        by_time.setdefault(at, {})[state.value] = count
    return StatsOut(
        counts={s.value: n for s, n in counts.items()},
        window=window,
        bucket=bucket,
        throughput=[ThroughputPoint(at=at, counts=c) for at, c in sorted(by_time.items())],
    )
