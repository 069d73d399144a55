"""Runs on the wire: a run is the core record itself (a new field needs no copy here),
with its attempts, output and events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    Field,
    TypeAdapter,
    computed_field,
    field_serializer,
    field_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from tss._secrets import mask_params
from tss.api.schemas.base import RECORD_OUT, FromRecord, fields_of
from tss.core.models import Attempt, Event, Run, RunPolicy, WorkerInfo
from tss.core.states import RunState
from tss.core.waiting import why_waiting


class ErrorInfoOut(FromRecord):
    type: str
    message: str
    traceback: str | None = None
    exit_code: int | None = None


class AttemptOut(FromRecord):
    number: int
    worker_id: str | None
    state: RunState
    started_at: datetime
    finished_at: datetime | None = None
    error: ErrorInfoOut | None = None
    result: Any = None


@pydantic_dataclass(config=RECORD_OUT)
class RunOut(Run):
    """One run as stored (every field of :class:`tss.core.models.Run`, so a new field of a
    run reaches the API without a copy here), ``max_attempts``, why a queued run waits, and
    its attempts when asked for one run. ``policy`` is written as the store writes it."""

    waiting_because: Annotated[
        str | None,
        Field(
            description="why no live worker can take this queued run (its pool, task type, "
            "cores or memory); null when it is not queued or a worker could take it"
        ),
    ] = None
    attempts: list[AttemptOut] | None = None

    @field_validator("policy", mode="before")
    @classmethod
    def _policy_in(cls, value: Any) -> Any:
        return RunPolicy.from_dict(value) if isinstance(value, dict) else value

    @field_serializer("policy")
    def _policy_out(self, policy: RunPolicy) -> dict[str, Any]:
        """What the run keeps of its job: type, timeout, isolation, retries, resources."""
        return policy.to_dict()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def max_attempts(self) -> int:
        """The attempt number this run may reach: its tries plus any hand-backs."""
        return Run.max_attempts.fget(self)  # type: ignore[attr-defined, no-any-return]

    @classmethod
    def of(
        cls,
        run: Run,
        attempts: list[Attempt] | None = None,
        *,
        reveal: bool,
        workers: Sequence[WorkerInfo] | None = None,
    ) -> RunOut:
        """The run as a caller sees it: env values masked unless ``reveal`` (admin); with
        the registered ``workers``, why it waits (:func:`tss.core.waiting.why_waiting`)."""
        waiting = None if workers is None else why_waiting(run, workers)
        return cls(
            **{**fields_of(run), "params": mask_params(run.params, reveal=reveal)},
            waiting_because=waiting.reason if waiting is not None else None,
            attempts=[AttemptOut.of(a) for a in attempts] if attempts is not None else None,
        )


#: reads and writes :class:`RunOut` (a pydantic dataclass: no ``model_validate`` of its own)
RUN_OUT = TypeAdapter(RunOut)


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None = None
    total: int | None = None


class TriggeredRuns(BaseModel):
    """The runs a trigger with ``count`` made (or found by its idempotency key)."""

    items: list[RunOut]


class LogsOut(FromRecord):
    """Output of one attempt from the offsets asked for; ask again from ``*_offset``."""

    run_id: str
    attempt: int
    stdout: str
    stderr: str
    stdout_offset: int
    stderr_offset: int
    done: bool = Field(description="the attempt has ended: nothing more will be written")


@pydantic_dataclass(frozen=True, config=RECORD_OUT)
class EventOut(Event):
    """One state change (every field of :class:`tss.core.models.Event`)."""

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(**fields_of(event))


EVENT_OUT = TypeAdapter(EventOut)


class EventPage(BaseModel):
    """Events after a cursor, oldest first; pass ``next_after`` as ``after`` to go on."""

    items: list[EventOut]
    next_after: int
