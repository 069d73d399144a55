"""Workers and API tokens on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StrictFloat, StrictInt, TypeAdapter, computed_field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from tss.api.schemas.base import (
    NAME,
    RECORD_OUT,
    FromRecord,
    PoolName,
    StrictIn,
    Timestamp,
    TypeName,
    fields_of,
)
from tss.core.models import Role, WorkerInfo


@pydantic_dataclass(config=RECORD_OUT)
class WorkerOut(WorkerInfo):
    """A worker as it registered itself (every field of :class:`tss.core.models.WorkerInfo`)
    and its load."""

    memory: Annotated[
        int, Field(description="megabytes of 2^20 bytes (as resources.memory), not bytes")
    ]

    @computed_field(description="running / concurrency")  # type: ignore[prop-decorator]
    @property
    def load(self) -> float:
        return round(self.running / self.concurrency, 4) if self.concurrency else 0.0

    @classmethod
    def of(cls, worker: WorkerInfo) -> WorkerOut:
        return cls(**fields_of(worker))


#: reads and writes :class:`WorkerOut` (a pydantic dataclass)
WORKER_OUT = TypeAdapter(WorkerOut)


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
