"""Alerts, as users write their rules and as the store keeps what was raised (pure: no I/O).

A *rule* says on what to alert (``on``) and where (``channels``). Rules come from the
``alerts:`` section of the config (for every job, or the jobs ``jobs:`` names) and from a
job's own ``alerts:`` (which extends those, or replaces them with ``replace: true``).

An :class:`Alert` is one message for one channel. Its ``id`` is made from what caused it
(the condition, the job or pool, and the event or fire time) and the channel, so raising
the same alert twice stores it once, and a receiver can drop a message delivered twice.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tss.core.timeutil import duration_field

#: what a rule may alert on
AlertKind = Literal[
    "failed",
    "dead",
    "timed_out",
    "consecutive_failures",
    "recovered",
    "late",
    "missed",
    "slow",
    "backlog",
    "no_workers",
]
ALERT_KINDS: tuple[str, ...] = get_args(AlertKind)
#: rules about a pool's queue, not a job: global only
POOL_KINDS = frozenset({"backlog", "no_workers"})
#: conditions a success ends (and that a ``recovered`` rule announces the end of)
FAILURE_KINDS = frozenset({"failed", "dead", "timed_out", "consecutive_failures"})
#: the states a stored alert can be in
ALERT_STATES = ("pending", "delivered", "failed", "silenced", "held")
#: the longest silence, in seconds (a year and a day)
MAX_SILENCE = 366 * 86400.0
#: the most characters of a silence's note
MAX_NOTE = 500
#: a channel's name (the key under ``alerts.channels``)
CHANNEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

#: which of a rule's settings each kind takes (the rest are refused), and their defaults
_SETTINGS: dict[str, dict[str, Any]] = {
    "failed": {},
    "dead": {},
    "timed_out": {},
    "consecutive_failures": {"count": 3},
    "recovered": {},
    "late": {"after": 60.0},
    "missed": {"after": 300.0},
    "slow": {"seconds": None, "factor": None},
    "backlog": {"depth": 100, "for_": 300.0, "pool": None},
    "no_workers": {"for_": 60.0, "pool": None},
}
_OPTIONAL = ("count", "after", "seconds", "factor", "depth", "for_", "pool")


class AlertRule(BaseModel):
    """One rule: alert on ``on`` through ``channels``."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    on: AlertKind = Field(description="what to alert on")
    channels: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="channel names (keys of `alerts.channels`); empty: `alerts.default_channels`",
    )
    jobs: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="global rules only: the jobs it covers, by name or glob (`etl-*`); "
        "empty: every job",
    )
    count: int | None = Field(None, ge=1, le=1000, description="consecutive_failures: how many")
    after: float | None = Field(
        None, gt=0, le=31 * 86400, description="late, missed: seconds of delay that alert"
    )
    seconds: float | None = Field(None, gt=0, le=31 * 86400, description="slow: a bound")
    factor: float | None = Field(
        None, gt=1, le=1000, description="slow: times the job's recent p95 duration"
    )
    depth: int | None = Field(None, ge=1, le=10**9, description="backlog: queued runs")
    for_: float | None = Field(
        None,
        alias="for",
        ge=0,
        le=86400,
        description="backlog, no_workers: seconds the condition lasts before it alerts",
    )
    pool: str | None = Field(None, description="backlog, no_workers: one pool (default: each)")

    _durations = field_validator("after", "seconds", "for_", mode="before")(duration_field)

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, value: Any) -> Any:
        # `- dead` is `- {on: dead}`
        if isinstance(value, str):
            return {"on": value}
        # YAML 1.1 reads a bare `on` key as true (as GitHub Actions users know): take it back
        if isinstance(value, dict) and True in value and "on" not in value:
            value = {("on" if k is True else k): v for k, v in value.items()}
        return value

    @field_validator("channels")
    @classmethod
    def _check_channels(cls, value: list[str]) -> list[str]:
        for name in value:
            if not CHANNEL_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a channel name")
        return value

    @field_validator("jobs")
    @classmethod
    def _check_jobs(cls, value: list[str]) -> list[str]:
        for pattern in value:
            if not pattern or len(pattern) > 200 or any(c.isspace() for c in pattern):
                raise ValueError(f"{pattern!r} is not a job name or glob")
        return value

    @model_validator(mode="after")
    def _check_settings(self) -> AlertRule:
        takes = _SETTINGS[self.on]
        for name in _OPTIONAL:
            if getattr(self, name) is not None and name not in takes:
                key = "for" if name == "for_" else name
                raise ValueError(f"`{key}` does not apply to `on: {self.on}`")
        if self.on == "slow" and self.seconds is None and self.factor is None:
            raise ValueError("`on: slow` needs `seconds` (a bound) or `factor` (times p95)")
        return self

    def setting(self, name: str) -> Any:
        """The rule's ``name`` setting, or the kind's default."""
        value = getattr(self, name)
        return _SETTINGS[self.on].get(name) if value is None else value

    def covers(self, job: str) -> bool:
        """Whether this (global) rule applies to ``job``."""
        return not self.jobs or any(fnmatch.fnmatchcase(job, p) for p in self.jobs)


class JobAlerts(BaseModel):
    """A job's own ``alerts:``: rules added to the global ones (or replacing them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rules: list[AlertRule] = Field(default_factory=list, max_length=50)
    replace: bool = Field(False, description="use only these rules, not the global ones")

    @model_validator(mode="before")
    @classmethod
    def _list_form(cls, value: Any) -> Any:
        # `alerts: [dead, {on: late, after: 5m}]` is `alerts: {rules: [...]}`
        return {"rules": value} if isinstance(value, list) else value

    @field_validator("rules")
    @classmethod
    def _no_pool_rules(cls, value: list[AlertRule]) -> list[AlertRule]:
        for rule in value:
            if rule.on in POOL_KINDS:
                raise ValueError(f"`on: {rule.on}` is about a pool: set it under alerts.rules")
            if rule.jobs:
                raise ValueError("`jobs` applies to global rules only")
        return value


def rules_for(job: str, own: JobAlerts | None, common: list[AlertRule]) -> list[AlertRule]:
    """The rules that apply to ``job``."""
    mine = list(own.rules) if own is not None else []
    if own is not None and own.replace:
        return mine
    return [rule for rule in common if rule.on not in POOL_KINDS and rule.covers(job)] + mine


@dataclass(frozen=True, slots=True)
class Alert:
    """One message to one channel, as the store keeps it."""

    id: str
    channel: str
    kind: str
    subject: str
    text: str
    created_at: datetime
    next_at: datetime
    job: str | None = None
    run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    state: str = "pending"
    attempts: int = 0
    error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AlertUpdate:
    """The end of one delivery attempt: ``state`` ``delivered``, ``pending`` (tried again
    at ``next_at``), ``failed`` (given up) or ``held`` (over the channel's rate limit)."""

    id: str
    state: str
    attempts: int
    next_at: datetime | None = None
    error: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Silence:
    """No alert is sent for ``job`` until ``until`` (they are kept, marked silenced)."""

    job: str
    until: datetime
    note: str
    by: str
    created_at: datetime


def alert_id(kind: str, subject: str, cause: str, channel: str) -> str:
    """The id of the alert of ``kind`` about ``subject`` (a job or pool) caused by ``cause``
    (an event id, a fire time), for ``channel``: the same cause gives the same id."""
    return f"{kind}:{subject}:{cause}@{channel}"
