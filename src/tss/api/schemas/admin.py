"""Workers and API tokens on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt

from tss.api.schemas.base import NAME, FromRecord, PoolName, StrictIn, Timestamp, TypeName
from tss.core.models import Role, WorkerInfo


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    pools: list[str]
    task_types: list[str]
    concurrency: int
    running: int
    load: float = Field(description="running / concurrency")
    cores: float
    memory: int = Field(description="megabytes of 2^20 bytes (as resources.memory), not bytes")
    version: str
    state: str
    started_at: datetime | None = None
    last_heartbeat: datetime | None = None

    @classmethod
    def of(cls, w: WorkerInfo) -> WorkerOut:
        return cls(
            id=w.id,
            hostname=w.hostname,
            pid=w.pid,
            pools=w.pools,
            task_types=w.task_types,
            concurrency=w.concurrency,
            running=w.running,
            load=round(w.running / w.concurrency, 4) if w.concurrency else 0.0,
            cores=w.cores,
            memory=w.memory,
            version=w.version,
            state=w.state,
            started_at=w.started_at,
            last_heartbeat=w.last_heartbeat,
        )


class WorkerPage(BaseModel):
    items: list[WorkerOut]
    next_cursor: str | None = None
    total: int | None = None


class WorkerStatusIn(StrictIn):
    """A worker reporting itself (``POST /v1/queue``); it then shows in the workers list."""

    worker_id: str = Field(pattern=NAME)
    hostname: str = Field("unknown", min_length=1, max_length=255)
    pid: StrictInt = Field(0, ge=0, le=2**31 - 1)
    pools: list[PoolName] = Field(default_factory=lambda: ["default"], min_length=1, max_length=100)
    task_types: list[TypeName] = Field(default_factory=list, max_length=100)
    concurrency: StrictInt = Field(1, ge=1, le=10000)
    running: StrictInt = Field(0, ge=0, le=10000)
    cores: StrictFloat | StrictInt = Field(0.0, ge=0, le=1e6)
    memory: StrictInt = Field(0, ge=0, le=2**53)
    version: str = Field("", max_length=64)
    state: Literal["up", "draining", "down"] = "up"


# -- tokens --------------------------------------------------------------------------------


class TokenIn(StrictIn):
    name: str = Field(pattern=NAME)
    role: Role
    expires_at: Timestamp | None = None


class TokenOut(FromRecord):
    id: str
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown once, never stored")


class TokenPage(BaseModel):
    items: list[TokenOut]
    next_cursor: str | None = None
    total: int | None = None
