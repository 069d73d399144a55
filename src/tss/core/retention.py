"""Retention: which history goes and which stays (pure; the pruner and the stores act on it).

A run is pruned when it has ended longer ago than its job's ``max_age`` and is not among the
job's ``keep_last`` newest runs; a run still going never is, nor an ended run of a flow that
still has a run going. A scheduled run leaves a :class:`PrunedFire` in the fire ledger, so the
ledger never calls a pruned fire "missed". Alerts, silences, the fire ledger and the audit log
have an age each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tss.core.states import RunState
from tss.core.timeutil import duration_field

#: what the pruner prunes besides runs (each by its own age)
RowKind = Literal["alerts", "silences", "ledger", "audit"]
#: every kind, in the order a pass prunes them (runs first)
KINDS: tuple[str, ...] = ("runs", "alerts", "silences", "ledger", "audit")
ROW_KINDS: tuple[RowKind, ...] = ("alerts", "silences", "ledger", "audit")
#: the alert states that are settled (nothing left to deliver)
SETTLED_ALERTS = frozenset({"sent", "failed", "held", "silenced"})
#: seconds of slack on the run-id bound of a prune: a run id carries its creation time (the
#: creating node's clock), and a walk reads only ids made before the cutoff plus this, so a
#: node clock ahead of the store's by more than this only makes its runs stay a little longer
ID_SLACK = 300.0


class JobRetention(BaseModel):
    """A job's own ``retention:``, overriding the global ``retention.max_age`` and
    ``retention.keep_last`` (a key left out takes the global value)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_age: float | None = Field(
        None,
        gt=0,
        description="seconds (or `30d`, `12h`) after its end an ended run of this job is "
        "pruned; unset: the global `retention.max_age`",
    )
    keep_last: int | None = Field(
        None, ge=0, le=1_000_000, description="newest runs of this job always kept"
    )
    keep_forever: bool = Field(
        False, description="never prune this job's runs (whatever `max_age` says)"
    )

    _durations = field_validator("max_age", mode="before")(duration_field)


@dataclass(frozen=True, slots=True)
class Keep:
    """What one job keeps: runs that ended within ``max_age`` seconds (None: all of them) and
    its ``keep_last`` newest runs."""

    max_age: float | None
    keep_last: int

    def cutoff(self, now: datetime) -> datetime | None:
        """Runs that ended before this are pruned; None: none are."""
        return None if self.max_age is None else now - timedelta(seconds=self.max_age)


def keep_for(own: JobRetention | None, default: Keep) -> Keep:
    """The policy of a job: its own ``retention:`` keys over the global ones."""
    if own is None:
        return default
    if own.keep_forever:
        return Keep(None, default.keep_last)
    return Keep(
        own.max_age if own.max_age is not None else default.max_age,
        own.keep_last if own.keep_last is not None else default.keep_last,
    )


def id_bound(cutoff: datetime) -> str:
    """The smallest run id made :data:`ID_SLACK` seconds after ``cutoff``: every run that
    ended before ``cutoff`` and was made by a clock no further ahead has a smaller id
    (:func:`tss.core.ids.new_id`), so a prune walks only the ids below it."""
    millis = int((cutoff.timestamp() + ID_SLACK) * 1000)
    return f"{max(millis, 0):012x}"


@dataclass(frozen=True, slots=True)
class PrunedFire:
    """A scheduled fire whose run was pruned: what became of it, kept in the fire ledger."""

    job: str
    scheduled_for: datetime
    run_id: str
    state: RunState
    finished_at: datetime | None
    reason: str | None


@dataclass(slots=True)
class PruneReport:
    """What a prune deleted (or, dry, would delete): rows per kind, and runs per job."""

    dry_run: bool
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    runs_by_job: dict[str, int] = field(default_factory=dict)

    def add_runs(self, job: str, count: int) -> None:
        if count:
            self.counts["runs"] += count
            self.runs_by_job[job] = self.runs_by_job.get(job, 0) + count

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "runs_by_job": dict(sorted(self.runs_by_job.items())),
        }
