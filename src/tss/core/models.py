"""The domain's models in one import: job definitions (:mod:`tss.core.jobspec`), the
records the store keeps (:mod:`tss.core.records`) and listing filters
(:mod:`tss.core.filters`). New code may import from those modules directly."""

from __future__ import annotations

from tss.core.filters import JOB_SORTS, JobFilter, Page, RunFilter
from tss.core.jobspec import (
    NAME_PATTERN,
    OVERRIDE_PATH,
    Dependency,
    JobSpec,
    Resources,
    RetryPolicy,
)
from tss.core.records import (
    RANKS,
    ROLES,
    Attempt,
    DashboardSession,
    ErrorInfo,
    Event,
    Job,
    NewRun,
    Outcome,
    PauseInfo,
    Role,
    Run,
    RunPolicy,
    Token,
    WorkerInfo,
    allows,
)

__all__ = [
    "JOB_SORTS",
    "NAME_PATTERN",
    "OVERRIDE_PATH",
    "RANKS",
    "ROLES",
    "Attempt",
    "DashboardSession",
    "Dependency",
    "ErrorInfo",
    "Event",
    "Job",
    "JobFilter",
    "JobSpec",
    "NewRun",
    "Outcome",
    "Page",
    "PauseInfo",
    "Resources",
    "RetryPolicy",
    "Role",
    "Run",
    "RunFilter",
    "RunPolicy",
    "Token",
    "WorkerInfo",
    "allows",
]
