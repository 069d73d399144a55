"""The worker protocol on the wire: how a worker outside the server (in any language)
registers, claims runs, heartbeats and reports what became of them.

A claimed run carries its attempt number: the fencing token. Every later call about the
run names it with that number, and the server refuses (``accepted: false``, or the run in
``lost``) a call about an attempt that is no longer the run's current one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt

from tss.api.schemas.base import NAME, PoolName, StrictIn, TypeName
from tss.core.models import Run

#: the most runs one claim takes, and the most outcomes or held runs one call carries
MAX_BATCH = 500
#: the longest a claim waits for runs (seconds): long enough to spare idle polling, short
#: enough for proxies that end quiet connections
MAX_WAIT = 30.0
#: a label a worker offers (``gpu``, ``region=eu``)
Label = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s,]+$")]
RunId = Annotated[str, Field(min_length=1, max_length=64)]
Attempt = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]
Seconds = Annotated[StrictFloat | StrictInt, Field(ge=0)]


class WorkerIn(StrictIn):
    """A worker introducing itself. It is then listed with the server's own workers, and
    runs are routed to it by its pools, task types and labels."""

    id: str = Field(pattern=NAME, description="unique among workers; e.g. host-pid")
    hostname: str = Field("unknown", min_length=1, max_length=255)
    pid: StrictInt = Field(0, ge=0, le=2**31 - 1)
    pools: list[PoolName] = Field(default_factory=lambda: ["default"], min_length=1, max_length=100)
    task_types: list[TypeName] = Field(
        min_length=1, max_length=100, description="the task types it can run: it gets no other"
    )
    labels: list[Label] = Field(
        default_factory=list, max_length=64, description="what it offers: `gpu`, `region=eu`"
    )
    concurrency: StrictInt = Field(1, ge=1, le=10000)
    cores: StrictFloat | StrictInt = Field(0.0, ge=0, le=1e6)
    memory: StrictInt = Field(0, ge=0, le=2**53, description="megabytes")
    version: str = Field("", max_length=64)


class WorkerSession(BaseModel):
    """What a registered worker needs to know: how often to heartbeat, and the lease."""

    id: str
    lease: float = Field(
        description="seconds a claimed run stays this worker's without a heartbeat"
    )
    heartbeat_interval: float = Field(description="seconds between heartbeats")
    max_wait: float = Field(description="the longest `wait` a claim takes")
    max_batch: int = Field(description="the most runs a claim takes, and outcomes a call carries")
    max_body: int = Field(description="bytes a request body may hold (more gets 413)")


class ErrorIn(StrictIn):
    type: str = Field("Error", min_length=1, max_length=200)
    message: str = Field("", max_length=64 * 1024)
    traceback: str | None = Field(None, max_length=256 * 1024)


class OutcomeIn(StrictIn):
    """What became of one attempt: dist-sched-tasks' ``success()`` and ``failure()``.

    ``succeeded`` records ``result``; ``failed`` and ``timed_out`` follow the job's retry
    policy (the server decides: another attempt later, or the end); ``handed_back`` returns
    the run to the queue without spending a try (the worker is shutting down)."""

    run_id: RunId
    attempt: Attempt
    status: Literal["succeeded", "failed", "timed_out", "handed_back"]
    result: Any = None
    error: ErrorIn | None = None
    exit_code: StrictInt | None = Field(None, ge=-(2**31), le=2**31 - 1)
    stdout: str = Field("", max_length=16 * 1024 * 1024)
    stderr: str = Field("", max_length=16 * 1024 * 1024)
    retry_after: Seconds | None = Field(
        None, le=86400, description="for a failure: wait at least this long before retrying"
    )
    final: bool = Field(
        False,
        description="for a failure: trying again cannot help (an HTTP 404), so the job's "
        "retries are not spent on it unless its `retries.retry_on` names the error type",
    )


class ClaimIn(StrictIn):
    """Take up to ``limit`` runs, waiting up to ``wait`` seconds for the first; report the
    ``outcomes`` of ended attempts in the same call (one round trip for both)."""

    limit: StrictInt = Field(1, ge=0, le=MAX_BATCH)
    wait: Seconds = Field(0.0, le=MAX_WAIT)
    outcomes: list[OutcomeIn] = Field(default_factory=list, max_length=MAX_BATCH)
    cores: StrictFloat | StrictInt | None = Field(
        None, ge=0, le=1e6, description="cores free now (default: all it registered)"
    )
    memory: StrictInt | None = Field(
        None, ge=0, le=2**53, description="megabytes free now (default: all it registered)"
    )


class RunTask(BaseModel):
    """A claimed run: what to execute, and the attempt number to report it with."""

    id: str
    job: str
    attempt: int = Field(description="the fencing token: name the run with it in every call")
    type: str
    params: dict[str, Any]
    timeout: float | None = Field(description="seconds the attempt may take (null: no bound)")
    lease_until: datetime | None
    scheduled_for: datetime | None
    not_before: datetime | None = Field(description="do not start before this")
    pool: str
    priority: int
    flow_id: str | None
    policy: dict[str, Any] = Field(description="the run's whole policy (retries, resources)")

    @classmethod
    def of(cls, run: Run, default_timeout: float | None) -> RunTask:
        policy = run.policy
        return cls(
            id=run.id, job=run.job, attempt=run.attempt, type=policy.type, params=run.params,
            timeout=policy.timeout if policy.timeout is not None else default_timeout,
            lease_until=run.lease_until, scheduled_for=run.scheduled_for,
            not_before=run.not_before, pool=run.pool, priority=run.priority,
            flow_id=run.flow_id, policy=policy.to_dict(),
        )  # fmt: skip


class ClaimOut(BaseModel):
    accepted: list[bool] = Field(description="per outcome sent, whether it was recorded")
    runs: list[RunTask]


class HeldIn(StrictIn):
    run_id: RunId
    attempt: Attempt
    stdout: str | None = Field(None, max_length=16 * 1024 * 1024, description="output so far")
    stderr: str | None = Field(None, max_length=16 * 1024 * 1024)


class HeartbeatIn(StrictIn):
    runs: list[HeldIn] = Field(default_factory=list, max_length=MAX_BATCH)


class HeartbeatOut(BaseModel):
    lost: list[str] = Field(description="runs to stop at once: cancelled, reaped or fenced off")


class OutcomesIn(StrictIn):
    outcomes: list[OutcomeIn] = Field(min_length=1, max_length=MAX_BATCH)


class OutcomesOut(BaseModel):
    accepted: list[bool]


class WorkerStateIn(StrictIn):
    state: Literal["up", "draining", "down"]
