"""The sections of the engine: where things are kept (store, broker, redis), and how the
scheduler and the worker behave. :class:`~tss.scheduler.scheduler.Scheduler` and
:class:`~tss.worker.worker.Worker` take their section as it is."""

from __future__ import annotations

from pydantic import Field, field_validator

from tss.config.values import SECONDS, Section, seconds, shown
from tss.core.retry import DEFAULT_MAX_LOST
from tss.core.workers import check_labels


class StoreConfig(Section):
    """Where jobs, runs and their history are kept."""

    url: str = Field(
        "sqlite:///tss.db",
        description="the store: `sqlite:///relative.db`, `sqlite:////absolute.db`, "
        "`postgresql://user:pw@host/db`, `redis://host:6379/0?prefix=tss`, `memory://` "
        "(one process, nothing kept); see Backends below",
    )


class BrokerConfig(Section):
    """How queued runs reach the workers."""

    url: str = Field(
        "local://",
        description="`local://` (in-process; scheduler and worker in one `tss server`), "
        "`store://` (workers claim from the store; lets `tss scheduler` and `tss worker` run "
        "as separate processes), `amqp://...` (RabbitMQ), `redis://...` (Redis streams); "
        "see Backends below",
    )


class RedisConfig(Section):
    """Redis shared by the Redis backends."""

    url: str = Field(
        "redis://127.0.0.1:6379/0", description="for the Redis backends (a later release)"
    )


class SchedulerConfig(Section):
    """How one scheduler behaves: what ``tss scheduler`` and ``tss server`` run."""

    id: str | None = Field(
        None,
        description="name in events and logs (default: the host name and the process id)",
        json_schema_extra=shown("host-pid"),
    )
    enabled: bool = Field(True, description="run a scheduler in `tss server`")
    batch_size: int = Field(
        10000,
        ge=1,
        le=10000,
        description="due jobs fired, or runs promoted, per store transaction (a burst due "
        "together is promoted in one statement)",
    )
    max_sleep: float = Field(
        1.0,
        gt=0,
        le=60,
        description="longest sleep between ticks; bounds how soon a change made by another "
        "process is seen (the scheduler otherwise wakes at the next due time)",
        json_schema_extra=SECONDS,
    )
    wake_jitter: float = Field(
        0.005,
        ge=0,
        le=5,
        description="random delay added to each wake-up so several schedulers do not tick in step",
        json_schema_extra=SECONDS,
    )
    reap_interval: float = Field(
        1.0,
        gt=0,
        description="how often expired leases, overdue runs and dead workers are repaired",
        json_schema_extra=SECONDS,
    )
    reconcile_interval: float = Field(
        1.0,
        gt=0,
        description="how often unpublished queued runs are looked for",
        json_schema_extra=SECONDS,
    )
    unpublished_after: float = Field(
        1.0,
        ge=0,
        description="a queued run never published after this long is published by the "
        "reconciler (e.g. one made by `tss job run` from another process)",
        json_schema_extra=SECONDS,
    )
    republish_after: float = Field(
        60.0,
        gt=0,
        description="a published run still queued after this long is published again",
        json_schema_extra=SECONDS,
    )
    dead_worker_after: float = Field(
        30.0,
        gt=0,
        description="a worker silent this long is marked dead",
        json_schema_extra=SECONDS,
    )
    timeout_grace: float = Field(
        30.0,
        ge=0,
        description="a run this long past its timeout is ended by the reaper if its worker "
        "did not end it",
        json_schema_extra=SECONDS,
    )
    max_lost: int = Field(
        DEFAULT_MAX_LOST,
        ge=0,
        le=1000,
        description="a run whose worker died (its lease ran out) is re-queued this many "
        "times without spending a try; past it each loss is a failed try, so a run that "
        "kills its workers ends. A job's own `max_lost` wins; 0 makes every loss a try",
    )
    lookahead: float = Field(
        5.0,
        ge=0,
        le=60,
        description="jobs are fired this far ahead of their time as `scheduled` runs that "
        "become `queued` at it: a burst of thousands due in the same second is fired before "
        "it is due and promoted in one statement; changing, pausing or deleting a job "
        "withdraws its fires made ahead, and a resume or an edit with the same schedule "
        "makes them again, so each fire still runs once (docs/schedules.md)",
        json_schema_extra=SECONDS,
    )
    announce_ahead: float = Field(
        2.0,
        ge=0,
        le=60,
        description="with a broker other than `store://`, runs due within this are queued "
        "and published early with their time; the worker holds each until then and claims "
        "it at its time (never before), so a burst is in the workers' hands when it is due. "
        "Changing, pausing or deleting the job withdraws such runs like its other fires "
        "made ahead",
        json_schema_extra=SECONDS,
    )
    unrunnable_after: float | None = Field(
        600.0,
        ge=0,
        description="a queued run that no live worker can ever take (a pool nobody serves, "
        "a task type no worker has, `requires` labels no worker with its type has, more cores "
        "or memory than the largest worker of its pool) is failed after this long, with error "
        "type `Unrunnable` and the reason (the "
        "run's `waiting_because`); `0` or `null`: such runs wait forever. The time counts "
        "only while the condition holds, from the first check that finds it (checks every "
        "quarter of the bound, 1-15 s): a worker that comes back in time stops it, and "
        "while no worker is up at all (a deploy, an outage) nothing is failed. Clocks are "
        "kept per scheduler process, so a restarted scheduler starts them again (a run can "
        "only wait longer, never fail sooner)",
        json_schema_extra=SECONDS,
    )

    _durations = field_validator(
        "lookahead",
        "announce_ahead",
        "max_sleep",
        "reap_interval",
        "reconcile_interval",
        "unpublished_after",
        "republish_after",
        "dead_worker_after",
        "timeout_grace",
        "unrunnable_after",
        mode="before",
    )(seconds)


class WorkerConfig(Section):
    """How one worker behaves: what ``tss worker`` and ``tss server`` run."""

    id: str | None = Field(
        None,
        description="the worker's id (also `tss worker --worker-id`; default: the host name "
        "and the process id)",
        json_schema_extra=shown("host-pid"),
    )
    enabled: bool = Field(True, description="run a worker in `tss server`")
    pools: list[str] = Field(
        default_factory=lambda: ["default"], min_length=1, description="pools served"
    )
    labels: list[str] = Field(
        default_factory=list,
        description="what this worker offers beyond its task types, as names (`gpu`) or "
        "`name=value` pairs (`region=eu`); it takes only runs whose job `requires` labels it "
        "all has (also `tss worker --label`)",
    )
    concurrency: int = Field(
        8,
        ge=1,
        le=10000,
        description="runs at once (the Python library's own worker: 32 unless set)",
    )
    lease: float = Field(
        30.0,
        gt=0,
        description="how long a claim holds without a heartbeat",
        json_schema_extra=SECONDS,
    )
    heartbeat_interval: float = Field(
        2.0,
        gt=0,
        description="heartbeat period; also how soon a cancel reaches a running run, and "
        "how often the output of running runs is saved",
        json_schema_extra=SECONDS,
    )
    grace_period: float = Field(
        30.0,
        ge=0,
        description="on SIGTERM/SIGINT, how long running runs may finish before they are "
        "stopped and handed back",
        json_schema_extra=SECONDS,
    )
    default_timeout: float | None = Field(
        None,
        gt=0,
        description="seconds an attempt may run when its job sets no `timeout` (none: no "
        "limit); the seeds' `task_timeout`",
        json_schema_extra=SECONDS,
    )
    log_limit: int = Field(
        1 << 20,
        ge=1024,
        description="bytes of stdout and of stderr kept per attempt (head and tail; the "
        "cut is marked)",
    )
    result_limit: int = Field(
        64 << 10,
        ge=256,
        description="bytes of JSON result kept; a larger result is stored as a marked preview",
    )
    cores: float | None = Field(
        None,
        gt=0,
        description="cores offered to runs that declare `resources` (default: the machine's)",
        json_schema_extra=shown("the machine's"),
    )
    memory: int | None = Field(
        None,
        gt=0,
        description="memory in MB offered to runs that declare `resources` (default: the "
        "machine's)",
        json_schema_extra=shown("the machine's"),
    )
    batch_size: int = Field(
        10000,
        ge=1,
        le=10000,
        description="the most runs taken from the broker in one fetch, and the most flow "
        "runs published at once after outcomes are recorded",
    )
    status_registry: str | None = Field(
        None,
        description="a TSS server's URL (`http://host:8000`): `tss worker` then takes runs, "
        "reports them and posts its status through that server's API (the worker protocol, "
        "docs/workers.md) instead of the store and broker, with the worker token in "
        "`TSS_TOKEN`; TSSv5's `TSS_WORKER_STATUS_REGISTRY` (also `tss worker --url`)",
        json_schema_extra=shown("none: the store and broker"),
    )

    @field_validator("status_registry")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http:// or https:// URL, not {value!r}")
        return value

    _durations = field_validator(
        "lease", "heartbeat_interval", "grace_period", "default_timeout", mode="before"
    )(seconds)

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, value: list[str]) -> list[str]:
        return check_labels(value)
