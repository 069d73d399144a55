"""The REST API's wire shapes, shared by the server and :mod:`tss.client`.

Only pydantic here (no FastAPI), so the client can import it without the server's
dependencies. Inputs forbid unknown keys; outputs are built from the core records with
the ``of`` constructors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    computed_field,
    field_serializer,
    field_validator,
)
from pydantic.dataclasses import dataclass as pydantic_dataclass

from tss._secrets import mask_params
from tss.core import flows
from tss.core.models import (
    NAME_PATTERN,
    Attempt,
    Event,
    Job,
    JobSpec,
    Role,
    Run,
    RunPolicy,
    WorkerInfo,
)
from tss.core.states import RunState
from tss.core.timeutil import checked_utc
from tss.core.waiting import why_waiting

_NAME = NAME_PATTERN.pattern
#: the most runs one trigger makes (as :data:`tss.service.runs.MAX_COUNT`)
MAX_TRIGGER_COUNT = 10000
#: the most job definitions one apply takes
MAX_APPLY = 1000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _iso_time(value: Any) -> Any:
    """Only an ISO 8601 time with a zone: pydantic would also take a number as a Unix time,
    which a caller never means."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("use an ISO 8601 time such as 2026-11-23T10:00:00Z") from None
    else:
        raise ValueError("use an ISO 8601 time such as 2026-11-23T10:00:00Z")
    if parsed.tzinfo is None:
        raise ValueError("give the time zone, e.g. Z or +02:00")
    return checked_utc(parsed)


#: a time as the API takes it: ISO 8601 with its zone
Timestamp = Annotated[datetime, BeforeValidator(_iso_time)]
_PoolName = Annotated[str, Field(pattern=_NAME)]
_TypeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


def fields_of(record: Any) -> dict[str, Any]:
    """Every field of a core dataclass record, by name: no hand-kept list to fall behind."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


class _Record(BaseModel):
    """An output read from the attributes of the core record with the same field names."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: Any) -> Self:
        return cls.model_validate(record)


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a sentence, and the field it concerns."""

    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail


# -- jobs ----------------------------------------------------------------------------------


class RunBrief(_Record):
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

    @classmethod
    def of(cls, job: Job, last: Run | None = None, *, reveal: bool) -> JobOut:
        """The job as a caller sees it: env values masked unless ``reveal`` (admin)."""
        spec = job.spec
        if not reveal and "env" in spec.params:
            spec = spec.model_copy(update={"params": mask_params(spec.params, reveal=False)})
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
        )


class JobPage(BaseModel):
    """One page of jobs. Pass ``next_cursor`` as ``cursor`` for the next one."""

    items: list[JobOut]
    next_cursor: str | None = None
    total: int | None = None


class NextFires(BaseModel):
    job: str
    times: list[datetime]


class TriggerIn(_In):
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


class ApplyIn(_In):
    """A batch of job definitions to create or update together."""

    jobs: list[JobSpec] = Field(max_length=MAX_APPLY, description="whole job definitions")
    create_only: bool = Field(False, description="refuse (409) if any name is taken")


class AppliedJob(BaseModel):
    name: str
    action: Literal["created", "updated", "unchanged"]


class ApplyOut(BaseModel):
    """What applying did to each job, in the order sent."""

    items: list[AppliedJob]


# -- runs ----------------------------------------------------------------------------------


class ErrorInfoOut(_Record):
    type: str
    message: str
    traceback: str | None = None
    exit_code: int | None = None


class AttemptOut(_Record):
    number: int
    worker_id: str | None
    state: RunState
    started_at: datetime
    finished_at: datetime | None = None
    error: ErrorInfoOut | None = None
    result: Any = None


@pydantic_dataclass
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


class LogsOut(_Record):
    """Output of one attempt from the offsets asked for; ask again from ``*_offset``."""

    run_id: str
    attempt: int
    stdout: str
    stderr: str
    stdout_offset: int
    stderr_offset: int
    done: bool = Field(description="the attempt has ended: nothing more will be written")


# -- workers, events, stats ----------------------------------------------------------------


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


class WorkerStatusIn(_In):
    """A worker reporting itself (``POST /v1/queue``); it then shows in the workers list."""

    worker_id: str = Field(pattern=_NAME)
    hostname: str = Field("unknown", min_length=1, max_length=255)
    pid: StrictInt = Field(0, ge=0, le=2**31 - 1)
    pools: list[_PoolName] = Field(
        default_factory=lambda: ["default"], min_length=1, max_length=100
    )
    task_types: list[_TypeName] = Field(default_factory=list, max_length=100)
    concurrency: StrictInt = Field(1, ge=1, le=10000)
    running: StrictInt = Field(0, ge=0, le=10000)
    cores: StrictFloat | StrictInt = Field(0.0, ge=0, le=1e6)
    memory: StrictInt = Field(0, ge=0, le=2**53)
    version: str = Field("", max_length=64)
    state: Literal["up", "draining", "down"] = "up"


@pydantic_dataclass(frozen=True)
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


class ThroughputPoint(BaseModel):
    at: datetime = Field(description="start of the minute")
    counts: dict[str, int] = Field(description="runs that ended in that minute, by state")


class StatsOut(BaseModel):
    counts: dict[str, int] = Field(description="runs in each state now")
    window: int = Field(description="seconds covered by throughput")
    bucket: int = Field(description="seconds per throughput point")
    throughput: list[ThroughputPoint]


class PoolQueue(_Record):
    pool: str
    queued: int = Field(description="runs waiting for a worker (at most QUEUE_CAP)")
    capped: bool = Field(description="the count stopped at the cap: there are more")
    workers: int = Field(description="workers up that serve the pool")
    slots: int = Field(description="runs those workers can hold at once")


class QueuesOut(BaseModel):
    pools: list[PoolQueue]


class LatePoint(_Record):
    at: str = Field(description="the time the run was scheduled for (ISO 8601)")
    job: str
    late: float = Field(description="seconds from its scheduled time to its first attempt's start")


class LatenessOut(_Record):
    window: int
    samples: int
    p50: float | None
    p95: float | None
    max: float | None
    points: list[LatePoint]


class JobHealth(_Record):
    job: str
    runs: int = Field(description="runs looked at (the newest, at most HEALTH_RUNS)")
    ended: int
    succeeded: int
    failed: int = Field(description="failed or timed out")
    success_rate: float | None = Field(description="succeeded / ended; None before any ended")
    mean_duration: float | None = Field(description="seconds, over the ended runs")


class JobHealthOut(BaseModel):
    items: list[JobHealth]


# -- tokens --------------------------------------------------------------------------------


class TokenIn(_In):
    name: str = Field(pattern=_NAME)
    role: Role
    expires_at: Timestamp | None = None


class TokenOut(_Record):
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


# -- flows ---------------------------------------------------------------------------------


class EdgeOut(BaseModel):
    """``child`` waits for ``parent`` to end in a state that meets ``on``."""

    parent: str
    child: str
    on: str = Field(description="success, failure or completion")


class NodeOut(BaseModel):
    job: str
    trigger_rule: str = Field(description="all or any")


class FlowGraphOut(BaseModel):
    """A job and every job downstream of it: what a run of the job sets going."""

    root: str
    nodes: list[NodeOut]
    edges: list[EdgeOut]

    @classmethod
    def of(cls, graph: flows.FlowGraph) -> FlowGraphOut:
        return cls(
            root=graph.root,
            nodes=[NodeOut(job=job, trigger_rule=graph.rules[job]) for job in graph.jobs],
            edges=[EdgeOut(parent=e.parent, child=e.child, on=e.on) for e in graph.edges],
        )


class FlowRunOut(FlowGraphOut):
    """A flow run: its graph, one word for it, and its runs (oldest first; a re-run job
    has several, ``retry_of`` links them)."""

    flow_id: str
    state: str = Field(description="running, succeeded, failed or cancelled")
    runs: list[RunOut]

    @classmethod
    def of_runs(cls, flow_id: str, runs: list[Run], *, reveal: bool) -> FlowRunOut:
        members = [flows.FlowRun.of(run) for run in runs]
        graph = FlowGraphOut.of(flows.graph_of_runs(members))
        return cls(
            **graph.model_dump(),
            flow_id=flow_id,
            state=flows.flow_state(members),
            runs=[RunOut.of(run, reveal=reveal) for run in runs],
        )


class FlowSummaryOut(BaseModel):
    """One flow run in a listing: its root run, when it started, one word for it and how
    many of its current runs are in each state."""

    flow_id: str = Field(description="the id of the flow's root run (the run that started it)")
    root_job: str
    root_run: str
    started: datetime = Field(description="when the root run was made")
    state: str = Field(description="running, succeeded, failed or cancelled")
    counts: dict[str, int] = Field(description="current runs by state; states with none left out")

    @classmethod
    def of(cls, summary: flows.FlowSummary) -> FlowSummaryOut:
        return cls(
            flow_id=summary.flow_id,
            root_job=summary.job,
            root_run=summary.flow_id,
            started=summary.created_at,
            state=summary.state,
            counts=summary.counts,
        )


class FlowPage(BaseModel):
    items: list[FlowSummaryOut]
    next_cursor: str | None = None
