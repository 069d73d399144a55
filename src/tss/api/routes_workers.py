"""``/api/v1/workers/...``: the worker protocol, for workers in any language.

A worker registers (``POST /workers``), then loops: claim runs (``POST
/workers/{id}/claim``, reporting the outcomes of the runs it finished in the same call),
execute them, heartbeat while they run (``POST /workers/{id}/heartbeat``). Each needs a
token of the ``worker`` role, which reaches these routes and nothing else (an admin token
works too). ``docs/workers.md`` walks through it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from tss.api.auth import needs
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, node_of
from tss.api.schemas import WorkerOut
from tss.api.schemas.base import NAME
from tss.api.schemas.workers import (
    MAX_BATCH,
    MAX_WAIT,
    ClaimIn,
    ClaimOut,
    HeartbeatIn,
    HeartbeatOut,
    OutcomeIn,
    OutcomesIn,
    OutcomesOut,
    RunTask,
    WorkerIn,
    WorkerSession,
    WorkerStateIn,
)
from tss.core.models import ErrorInfo, WorkerInfo
from tss.service.workers import Held, Report

router = APIRouter(route_class=TSSRoute, tags=["worker protocol"])
WorkerId = Annotated[str, Path(pattern=NAME, description="the id the worker registered")]


def _report(o: OutcomeIn) -> Report:
    error = None
    if o.error is not None or o.exit_code is not None:
        e = o.error
        error = ErrorInfo(
            e.type if e else "ExitCode",
            e.message if e else f"exited with code {o.exit_code}",
            e.traceback if e else None,
            o.exit_code,
        )
    return Report(o.run_id, o.attempt, o.status, o.result, error, o.stdout, o.stderr,
                  o.retry_after, o.final)  # fmt: skip


@router.post(
    "/workers", status_code=201, response_model=WorkerSession, responses=ERRORS,
    **needs("worker"),
)  # fmt: skip
async def register_worker(request: Request, body: WorkerIn) -> WorkerSession:
    """Register a worker (again after a restart). Runs are routed to it by its pools, task
    types and labels; it shows in ``GET /api/v1/workers``."""
    workers = node_of(request).workers
    info = WorkerInfo(
        id=body.id, hostname=body.hostname, pid=body.pid, pools=list(dict.fromkeys(body.pools)),
        task_types=sorted(set(body.task_types)), labels=sorted(set(body.labels)),
        concurrency=body.concurrency, cores=float(body.cores), memory=body.memory,
        version=body.version,
    )  # fmt: skip
    await workers.register(info)
    return WorkerSession(
        id=info.id, lease=workers.lease, heartbeat_interval=workers.heartbeat_interval,
        max_wait=MAX_WAIT, max_batch=MAX_BATCH,
        max_body=node_of(request).settings.api.max_body,
    )  # fmt: skip


@router.post(
    "/workers/{worker_id}/claim", response_model=ClaimOut, responses=ERRORS, **needs("worker")
)
async def claim_runs(request: Request, worker_id: WorkerId, body: ClaimIn) -> ClaimOut:
    """Report the ``outcomes`` of ended attempts and take up to ``limit`` runs, in one step;
    with none to take, wait up to ``wait`` seconds for one. Each run comes with its attempt
    number (the fencing token) and its lease: heartbeat before the lease ends."""
    node = node_of(request)
    accepted, runs = await node.workers.claim(
        worker_id, limit=body.limit, wait=float(body.wait),
        reports=[_report(o) for o in body.outcomes], cores=body.cores, memory=body.memory,
        gone=request.is_disconnected,
    )  # fmt: skip
    timeout = node.settings.worker.default_timeout
    return ClaimOut(accepted=accepted, runs=[RunTask.of(r, timeout) for r in runs])


@router.post(
    "/workers/{worker_id}/heartbeat", response_model=HeartbeatOut, responses=ERRORS,
    **needs("worker"),
)  # fmt: skip
async def heartbeat(request: Request, worker_id: WorkerId, body: HeartbeatIn) -> HeartbeatOut:
    """The worker is alive and still running ``runs`` (their leases are extended, and their
    output so far saved); ``lost`` lists those it must stop at once."""
    held = [Held(h.run_id, h.attempt, h.stdout, h.stderr) for h in body.runs]
    return HeartbeatOut(lost=await node_of(request).workers.heartbeat(worker_id, held))


@router.post(
    "/workers/{worker_id}/outcomes", response_model=OutcomesOut, responses=ERRORS,
    **needs("worker"),
)  # fmt: skip
async def report_outcomes(request: Request, worker_id: WorkerId, body: OutcomesIn) -> OutcomesOut:
    """Report what became of attempts (``succeeded`` with a result, ``failed`` with an
    error, ``timed_out``, ``handed_back``); ``accepted`` is false for an attempt that is no
    longer the run's (fenced off: the run was cancelled, reaped, or retried elsewhere)."""
    accepted = await node_of(request).workers.report(worker_id, [_report(o) for o in body.outcomes])
    return OutcomesOut(accepted=accepted)


@router.patch("/workers/{worker_id}", response_model=WorkerOut, responses=ERRORS, **needs("worker"))
async def set_worker_state(request: Request, worker_id: WorkerId, body: WorkerStateIn) -> WorkerOut:
    """``draining`` while the worker finishes what it holds, ``down`` once it stopped."""
    return WorkerOut.of(await node_of(request).workers.set_state(worker_id, body.state))
