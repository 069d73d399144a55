"""Jobs on the wire: a stored job, pages of them, a trigger, a batch to apply."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, StrictInt

from tss._secrets import mask_params
from tss.api.schemas.base import MAX_APPLY, MAX_TRIGGER_COUNT, FromRecord, StrictIn, Timestamp
from tss.api.schemas.pauses import PauseOut
from tss.core.models import Job, JobSpec, Run
from tss.core.states import RunState


class RunBrief(FromRecord):
    """A run in a listing of jobs: enough to show how the last one went."""

    id: str
    state: RunState
    trigger: str
    created_at: datetime
    finished_at: datetime | None = None


class JobOut(BaseModel):
    """A stored job: its definition and what the scheduler keeps about it."""

    name: str
    spec: JobSpec
    paused: bool
    schedule: str | None = Field(None, description="the schedule in words")
    next_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="goes up on every change; send it as If-Match to update")
    last_run: RunBrief | None = None
    pause: PauseOut | None = Field(
        None, description="who paused it, when, why and until when (null when not paused)"
    )

    @classmethod
    def of(cls, job: Job, last: Run | None = None, *, reveal: bool) -> JobOut:
        """The job as a caller sees it: env and header values, URL credentials masked
        unless ``reveal`` (admin)."""
        spec = job.spec
        masked = mask_params(spec.params, reveal=reveal)
        if masked is not spec.params:
            spec = spec.model_copy(update={"params": masked})
        return cls(
            name=spec.name,
            spec=spec,
            paused=spec.paused,
            schedule=spec.schedule.describe() if spec.schedule else None,
            next_fire_at=job.next_fire_at,
            created_at=job.created_at,
            updated_at=job.updated_at,
            version=job.version,
            last_run=RunBrief.of(last) if last else None,
            pause=PauseOut.of(job.pause),
        )


class JobPage(BaseModel):
    """One page of jobs. Pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[JobOut]
    next_cursor: str | None = None
    total: int | None = None


class NextFires(BaseModel):
    job: str
    times: list[datetime]


class TriggerIn(StrictIn):
    """A manual run: now, or at ``run_at``, with ``params`` merged over the job's."""

    params: dict[str, Any] = Field(default_factory=dict)
    run_at: Timestamp | None = None
    priority: StrictInt | None = Field(None, ge=0, le=9)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    with_descendants: bool | None = Field(
        None,
        description="start a flow with the jobs downstream (default: only for a job that"
        " depends on none)",
    )
    count: StrictInt | None = Field(
        None,
        ge=1,
        le=MAX_TRIGGER_COUNT,
        description="make this many runs at once; the answer is then the list of them"
        " (a TriggeredRuns), even for 1",
    )


class ApplyIn(StrictIn):
    """A batch of job definitions to create or update together."""

    jobs: list[JobSpec] = Field(max_length=MAX_APPLY, description="whole job definitions")
    create_only: bool = Field(False, description="refuse (409) if any name is taken")


class AppliedJob(BaseModel):
    name: str
    action: Literal["created", "updated", "unchanged"]


class ApplyOut(BaseModel):
    """What applying did to each job, in the order sent."""

    items: list[AppliedJob]
