"""Builders shared by the conformance tests (and the integration tests that drive the
memory store with a clock they move)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tss.core.ids import new_id
from tss.core.models import ErrorInfo, JobSpec, NewRun, Outcome, RetryPolicy, Run, RunPolicy
from tss.core.states import RunState
from tss.core.timeutil import utcnow
from tss.store.base import Store

ACTOR = "test"


class FakeClock:
    """A store clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.value = utcnow()

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


def spec(name: str = "job-a", **fields: Any) -> JobSpec:
    """A valid job definition; ``fields`` override the defaults."""
    data: dict[str, Any] = {"name": name, "type": "noop"}
    data.update(fields)
    return JobSpec.model_validate(data)


def new_run(
    job: str = "job-a",
    *,
    state: RunState = RunState.QUEUED,
    trigger: str = "manual",
    priority: int = 0,
    pool: str = "default",
    scheduled_for: datetime | None = None,
    not_before: datetime | None = None,
    key: str | None = None,
    timeout: float | None = None,
    retries: int = 0,
    params: dict[str, Any] | None = None,
    reason: str | None = None,
    cores: float = 0.0,
    memory: int = 0,
    max_lost: int | None = None,
    task_type: str = "noop",
    requires: tuple[str, ...] = (),
    retry_on: tuple[str, ...] = (),
) -> NewRun:
    policy = RunPolicy(
        task_type, timeout, "auto", RetryPolicy(max=retries, retry_on=list(retry_on)), cores,
        memory, max_lost=max_lost, requires=tuple(sorted(requires)),
    )  # fmt: skip
    return NewRun(
        id=new_id(),
        job=job,
        state=state,
        trigger=trigger,  # type: ignore[arg-type]
        params=params or {},
        priority=priority,
        pool=pool,
        policy=policy,
        scheduled_for=scheduled_for,
        not_before=not_before,
        idempotency_key=key,
        reason=reason,
    )


async def queued(store: Store, count: int = 1, **fields: Any) -> list[Run]:
    """Create ``count`` queued runs (one call each, so their ids and ages are ordered)."""
    runs = []
    for _ in range(count):
        [(run, created)] = await store.create_runs([new_run(**fields)], actor=ACTOR)
        assert created
        runs.append(run)
    return runs


async def running(store: Store, worker: str = "w1", lease: float = 30.0, **fields: Any) -> Run:
    """A run claimed by ``worker``: state running, attempt 1."""
    [run] = await queued(store, **fields)
    [claimed] = await store.claim_runs([run.id], worker_id=worker, lease=lease)
    return claimed


def outcome(run: Run, target: RunState = RunState.SUCCEEDED, **fields: Any) -> Outcome:
    """The outcome of ``run``'s current attempt."""
    return Outcome(run_id=run.id, attempt=run.attempt, target=target, **fields)


def error(message: str = "boom") -> ErrorInfo:
    return ErrorInfo("RuntimeError", message)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
