"""The records the store keeps and hands out: jobs, runs, attempts, events, workers, tokens.

Frozen or slotted dataclasses: they are made by the thousand on the hot path. A job's
definition is a :class:`~tss.core.jobspec.JobSpec`, validated once at the door.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from tss.core.jobspec import JobSpec, RetryPolicy
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import WorkerState


@dataclass(frozen=True, slots=True)
class PauseInfo:
    """Who paused a job, when, why (``note``, may be empty) and until when (``until``: the
    scheduler resumes it then; None: until someone resumes it)."""

    by: str
    at: datetime
    note: str = ""
    until: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """As stored: times in microseconds since the epoch, UTC."""
        return {
            "by": self.by,
            "at": to_micros(self.at),
            "note": self.note,
            "until": None if self.until is None else to_micros(self.until),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PauseInfo | None:
        if not data:
            return None
        until = data.get("until")
        return cls(
            by=str(data.get("by", "")),
            at=from_micros(int(data["at"])),
            note=str(data.get("note") or ""),
            until=None if until is None else from_micros(int(until)),
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A stored job: its definition plus what the scheduler keeps about it."""

    spec: JobSpec
    created_at: datetime
    updated_at: datetime
    next_fire_at: datetime | None
    version: int = 1
    #: who paused it, why and until when; set only while it is paused (and None when it
    #: was paused by its definition, ``paused: true``)
    pause: PauseInfo | None = None

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
    #: the labels a worker must have to take the run (the job's ``requires``), sorted
    requires: tuple[str, ...] = ()
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
        if self.requires:
            out["requires"] = list(self.requires)
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
            requires=_labels(data.get("requires")),
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
            requires=tuple(sorted(spec.requires)),
        )
        if len(_POLICIES) >= 4096:
            _POLICIES.clear()
        _POLICIES[id(spec)] = (spec, policy)  # holding the spec keeps its id unique
        return policy


_POLICIES: dict[int, tuple[JobSpec, RunPolicy]] = {}


def _labels(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise ValueError(f"requires must be a list of labels, not {value!r}")
    return tuple(sorted(value))


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
    state: WorkerState = "up"
    started_at: datetime | None = None
    last_heartbeat: datetime | None = None
    running: int = 0
    #: what the worker offers beyond its task types (``gpu``, ``region=eu``): a run whose
    #: job ``requires`` labels goes only to a worker that has all of them
    labels: list[str] = field(default_factory=list)


Role = Literal["viewer", "operator", "admin", "worker"]
#: the roles people hold: each can do what the ones before it can
RANKS: tuple[Role, ...] = ("viewer", "operator", "admin")
#: every role: the ranks, then ``worker``, which may only take runs, heartbeat and report
#: outcomes (the worker protocol) and nothing else, not even read
ROLES: tuple[Role, ...] = (*RANKS, "worker")


def allows(held: Role, needed: Role) -> bool:
    """Whether a caller holding ``held`` may call a route that needs ``needed``. A worker
    token reaches only the worker protocol; an admin reaches everything, that included."""
    if needed == "worker":
        return held in ("worker", "admin")
    return held != "worker" and RANKS.index(held) >= RANKS.index(needed)


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
class DashboardSession:
    """A dashboard login as stored: the SHA-256 of its random id (the cookie holds the id,
    the store never does), the token it was opened with, and when it ends."""

    id_hash: str
    #: the token's id, or ``env:<hash>`` for the configured admin token (see tss.tokens)
    token_id: str
    created_at: datetime
    expires_at: datetime
