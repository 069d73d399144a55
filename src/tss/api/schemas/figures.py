"""The figures of ``/stats`` and ``/stats/...``: runs by state and throughput, queue
depth per pool, fire lateness and job health."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tss.api.schemas.base import FromRecord


class ThroughputPoint(BaseModel):
    at: datetime = Field(description="start of the minute")
    counts: dict[str, int] = Field(description="runs that ended in that minute, by state")


class StatsOut(BaseModel):
    counts: dict[str, int] = Field(description="runs in each state now")
    window: int = Field(description="seconds covered by throughput")
    bucket: int = Field(description="seconds per throughput point")
    throughput: list[ThroughputPoint]


class PoolQueue(FromRecord):
    pool: str
    queued: int = Field(description="runs waiting for a worker (at most QUEUE_CAP)")
    capped: bool = Field(description="the count stopped at the cap: there are more")
    workers: int = Field(description="workers up that serve the pool")
    slots: int = Field(description="runs those workers can hold at once")


class QueuesOut(BaseModel):
    pools: list[PoolQueue]


class LatePoint(FromRecord):
    at: str = Field(description="the time the run was scheduled for (ISO 8601)")
    job: str
    late: float = Field(description="seconds from its scheduled time to its first attempt's start")


class LatenessOut(FromRecord):
    window: int
    samples: int
    p50: float | None
    p95: float | None
    max: float | None
    points: list[LatePoint]


class JobHealth(FromRecord):
    job: str
    runs: int = Field(description="runs looked at (the newest, at most HEALTH_RUNS)")
    ended: int
    succeeded: int
    failed: int = Field(description="failed or timed out")
    success_rate: float | None = Field(description="succeeded / ended; None before any ended")
    mean_duration: float | None = Field(description="seconds, over the ended runs")


class JobHealthOut(BaseModel):
    items: list[JobHealth]
