"""Job definitions as users write them, validated at the door (pydantic)."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tss.core.alerts import JobAlerts
from tss.core.retention import JobRetention
from tss.core.schedules import ScheduleSpec
from tss.core.timeutil import duration_field
from tss.core.workers import check_labels

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
#: an entry of a job's ``overridable``: dotted keys into its params (``kwargs.day``)
OVERRIDE_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,99}(\.[A-Za-z0-9_-]{1,100}){0,9}")


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

    _durations = field_validator("delay", "max_delay", "jitter", mode="before")(duration_field)


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
    requires: list[str] = Field(
        default_factory=list,
        description="labels a worker must have to take this job's runs (`gpu`, `region=eu`);"
        " none by default: any worker of the pool with the task type",
    )
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
    alerts: JobAlerts | None = Field(
        None,
        description="alert rules of this job, added to the global ones (docs/alerts.md)",
    )
    retention: JobRetention | None = Field(
        None,
        description="how long this job's ended runs are kept, over the global `retention:` "
        "(docs/retention.md)",
    )

    _timeout = field_validator("timeout", mode="before")(duration_field)

    @field_validator("requires")
    @classmethod
    def _check_requires(cls, value: list[str]) -> list[str]:
        return check_labels(value)

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
