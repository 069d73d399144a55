"""Job definitions (validated at the door) and the records the store keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tss.core.schedules import ScheduleSpec
from tss.core.states import RunState
from tss.core.timeutil import parse_duration

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
#: an entry of a job's ``overridable``: dotted keys into its params (``kwargs.day``)
OVERRIDE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}(\.[A-Za-z0-9_-]{1,100}){0,9}")


def _duration(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | str):
        return parse_duration(value)
    return value


class RetryPolicy(BaseModel):
    """How a failed attempt is retried."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max: int = Field(0, ge=0, le=1000, description="retries after the first attempt")
    delay: float = Field(10.0, ge=0, description="seconds before the first retry")
    backoff: Literal["fixed", "exponential"] = "exponential"
    max_delay: float = Field(3600.0, ge=0, description="cap on any one retry delay")
    jitter: float = Field(0.0, ge=0, description="up to this many random seconds added")
    retry_on: list[str | int] = Field(
        default_factory=list,
        description="exception class names or exit codes that are retried; empty: any error",
    )

    _durations = field_validator("delay", "max_delay", "jitter", mode="before")(_duration)


class Resources(BaseModel):
    """What one run needs from a worker."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cores: float = Field(0.0, ge=0, le=1024)
    memory: int = Field(0, ge=0, le=2**40, description="megabytes")


class Dependency(BaseModel):
    """One parent of a job in a flow."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job: str
    on: Literal["success", "failure", "completion"] = "success"

    @model_validator(mode="before")
    @classmethod
    def _bare_name(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"job": value}
        if isinstance(value, dict) and True in value:
            # YAML 1.1 reads an unquoted `on:` key as the boolean true.
            value = {("on" if k is True else k): v for k, v in value.items()}
        return value


class JobSpec(BaseModel):
    """A job as a user writes it (YAML, JSON or Python); the same shape everywhere."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    type: str = "python"
    params: dict[str, Any] = Field(default_factory=dict)
    schedule: ScheduleSpec | None = None
    retries: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: float | None = Field(None, gt=0, description="seconds an attempt may run")
    max_lost: int | None = Field(
        None,
        ge=0,
        le=1000,
        description="times a run whose worker died is re-queued without spending a try;"
        " unset: the scheduler's max_lost",
    )
    isolation: Literal["auto", "loop", "thread", "process"] = "auto"
    priority: int = Field(0, ge=0, le=9)
    pool: str = "default"
    tags: list[str] = Field(default_factory=list)
    resources: Resources = Field(default_factory=Resources)
    concurrency: Literal["allow", "forbid", "replace"] = "allow"
    max_active_runs: int | None = Field(None, ge=1, le=1_000_000)
    paused: bool = False
    description: str = ""
    depends_on: list[Dependency] = Field(default_factory=list)
    trigger_rule: Literal["all", "any"] = "all"
    overridable: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="params a run may override, as dotted paths (kwargs.day); none by default",
    )

    _timeout = field_validator("timeout", mode="before")(_duration)

    @field_validator("overridable")
    @classmethod
    def _check_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not OVERRIDE_PATH.fullmatch(path):
                raise ValueError(
                    f"{path!r} is not a params path: use dotted keys such as 'kwargs.day'"
                )
        return value

    @model_validator(mode="before")
    @classmethod
    def _seed_spellings(cls, value: Any) -> Any:
        # The STS seed spells dependencies `parent_tasks: [a, b]`.
        if isinstance(value, dict) and "parent_tasks" in value:
            value = dict(value)
            parents = value.pop("parent_tasks") or []
            value.setdefault("depends_on", parents)
        if isinstance(value, dict) and isinstance(value.get("retries"), int):
            value = {**value, "retries": {"max": value["retries"]}}
        return value

    @field_validator("name", "pool")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a valid name: use 1-200 letters, digits, '-', '_' or '.',"
                " starting with a letter or digit"
            )
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_.-]{0,63}", value):
            raise ValueError(f"{value!r} is not a valid task type name")
        return value

    @field_validator("depends_on")
    @classmethod
    def _no_self_dependency(cls, value: list[Dependency], info: ValidationInfo) -> list[Dependency]:
        name = info.data.get("name")
        for dep in value:
            if dep.job == name:
                raise ValueError(f"job {name!r} depends on itself")
        return value


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job: its definition plus what the scheduler keeps about it."""

    spec: JobSpec
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None
    version: int = 1

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class RunPolicy:
    """The part of a job's definition a run keeps: later edits to the job do not change it."""

    type: str
    timeout: float | None
    isolation: str
    retries: RetryPolicy
    cores: float = 0.0
    memory: int = 0
    #: ``(parent job, condition)`` pairs: what the run waits for in a flow
    depends_on: tuple[tuple[str, str], ...] = ()
    trigger_rule: str = "all"
    #: lost leases re-queued for free before a loss counts as a failed try (None: the
    #: scheduler's setting)
    max_lost: int | None = None
    #: why the stored policy could not be read (the store quarantines such a run: a worker
    #: fails its attempt with this reason instead of running it); never stored
    malformed: str | None = None

    @classmethod
    def quarantined(cls, task_type: str, reason: str) -> RunPolicy:
        """The policy of a run whose stored one is unreadable: no retries, and the reason."""
        return cls(type=task_type, timeout=None, isolation="auto", retries=RetryPolicy(),
                   malformed=reason)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type,
            "timeout": self.timeout,
            "isolation": self.isolation,
            "retries": self.retries.model_dump(),
            "cores": self.cores,
            "memory": self.memory,
        }
        # Written only when set: most runs wait for nothing, and the policy is on every run.
        if self.depends_on:
            out["depends_on"] = [list(dep) for dep in self.depends_on]
        if self.trigger_rule != "all":
            out["trigger_rule"] = self.trigger_rule
        if self.max_lost is not None:
            out["max_lost"] = self.max_lost
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPolicy:
        return cls(
            type=data["type"],
            timeout=data.get("timeout"),
            isolation=data.get("isolation", "auto"),
            retries=RetryPolicy.model_validate(data.get("retries") or {}),
            cores=data.get("cores", 0.0),
            memory=data.get("memory", 0),
            depends_on=tuple((job, on) for job, on in data.get("depends_on") or ()),
            trigger_rule=data.get("trigger_rule", "all"),
            max_lost=_optional_count(data.get("max_lost")),
        )

    @classmethod
    def of(cls, spec: JobSpec) -> RunPolicy:
        """The policy of ``spec``'s runs; the same object for the same spec, so backends
        can cache its encoding."""
        hit = _POLICIES.get(id(spec))
        if hit is not None and hit[0] is spec:
            return hit[1]
        policy = cls(
            type=spec.type,
            timeout=spec.timeout,
            isolation=spec.isolation,
            retries=spec.retries,
            cores=spec.resources.cores,
            memory=spec.resources.memory,
            depends_on=tuple((dep.job, dep.on) for dep in spec.depends_on),
            trigger_rule=spec.trigger_rule,
            max_lost=spec.max_lost,
        )
        if len(_POLICIES) >= 4096:
            _POLICIES.clear()
        _POLICIES[id(spec)] = (spec, policy)  # holding the spec keeps its id unique
        return policy


_POLICIES: dict[int, tuple[JobSpec, RunPolicy]] = {}


def _optional_count(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:  # bool is an int: refuse it too
        raise ValueError(f"max_lost must be a count, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why an attempt failed, in words first."""

    type: str
    message: str
    traceback: str | None = None
    exit_code: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "traceback": self.traceback,
            "exit_code": self.exit_code,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ErrorInfo | None:
        if not data:
            return None
        return cls(data["type"], data["message"], data.get("traceback"), data.get("exit_code"))


@dataclass(slots=True)
class NewRun:
    """A run to be created; the store assigns state timestamps."""

    id: str
    job: str
    state: RunState
    trigger: Literal["schedule", "manual", "retry", "flow"]
    params: dict[str, Any]
    priority: int
    pool: str
    policy: RunPolicy
    scheduled_for: datetime | None = None
    not_before: datetime | None = None
    idempotency_key: str | None = None
    reason: str | None = None
    retry_of: str | None = None
    flow_id: str | None = None


@dataclass(slots=True)
class Run:
    """One execution request of a job, as stored."""

    id: str
    job: str
    state: RunState
    trigger: str
    params: dict[str, Any]
    priority: int
    pool: str
    policy: RunPolicy
    attempt: int
    created_at: datetime
    updated_at: datetime
    scheduled_for: datetime | None = None
    not_before: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    lease_until: datetime | None = None
    worker_id: str | None = None
    idempotency_key: str | None = None
    result: Any = None
    error: ErrorInfo | None = None
    reason: str | None = None
    retry_of: str | None = None
    flow_id: str | None = None
    #: attempts handed back by a worker shutting down; they do not use up a try
    handbacks: int = 0

    @property
    def max_attempts(self) -> int:
        """The attempt number this run may reach: its tries plus any hand-backs."""
        return self.policy.retries.max + 1 + self.handbacks


@dataclass(slots=True)
class Attempt:
    """One try of a run on one worker; ``number`` is the run's fencing token."""

    run_id: str
    number: int
    worker_id: str | None
    state: RunState
    started_at: datetime
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    result: Any = None
    stdout: str = ""
    stderr: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One state change: who, when, from, to, why. The audit trail."""

    id: int
    at: datetime
    run_id: str
    job: str
    source: RunState | None
    target: RunState
    actor: str
    reason: str | None = None
    attempt: int = 0


@dataclass(slots=True)
class Outcome:
    """What became of one attempt, reported by a worker or decided by the reaper."""

    run_id: str
    attempt: int
    target: RunState
    reason: str | None = None
    result: Any = None
    error: ErrorInfo | None = None
    #: the state the attempt itself ended in (a retried failure: run retrying, attempt failed)
    attempt_state: RunState | None = None
    #: for a retry: seconds from now, by the store's clock, until the next attempt may start
    retry_delay: float | None = None
    stdout: str = ""
    stderr: str = ""
    #: reaper only: refuse unless the lease has really expired (a late heartbeat wins)
    require_expired: bool = False


@dataclass(slots=True)
class WorkerInfo:
    """A worker as it registers itself."""

    id: str
    hostname: str
    pid: int
    pools: list[str]
    task_types: list[str]
    concurrency: int
    cores: float
    memory: int
    version: str
    state: Literal["up", "draining", "down", "dead"] = "up"
    started_at: datetime | None = None
    last_heartbeat: datetime | None = None
    running: int = 0


Role = Literal["viewer", "operator", "admin"]
#: each role can do what the roles before it can
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")


@dataclass(frozen=True, slots=True)
class Token:
    """An API token as stored: only a hash of its secret is kept."""

    id: str
    name: str
    role: Role
    secret_hash: str
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Not revoked and not expired at ``now``."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a listing; ``next_cursor`` is None on the last page. ``total`` counts
    every matching item where a backend can afford it (None otherwise)."""

    items: list[Any]
    next_cursor: str | None = None
    total: int | None = None


#: the orders `Store.list_jobs` can sort by; ``-`` means descending
JOB_SORTS = (
    "name",
    "-name",
    "next_fire_at",
    "-next_fire_at",
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
)


@dataclass(frozen=True, slots=True)
class RunFilter:
    """What `list_runs` selects."""

    job: str | None = None
    states: tuple[RunState, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    flow_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
