"""What a listing selects and how it comes back: filters, sort orders, pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tss.core.records import Job, Run
from tss.core.states import RunState


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

    def matches(self, run: Run) -> bool:
        """Whether ``run`` is selected (the SQL stores say the same in a ``WHERE``)."""
        return (
            (self.job is None or run.job == self.job)
            and (not self.states or run.state in self.states)
            and (self.since is None or run.created_at >= self.since)
            and (self.until is None or run.created_at < self.until)
            and (self.flow_id is None or run.flow_id == self.flow_id)
        )


@dataclass(frozen=True, slots=True)
class JobFilter:
    """What `list_jobs` selects: jobs matching every filter given."""

    #: names starting with this
    prefix: str | None = None
    #: jobs carrying this tag
    tag: str | None = None
    pool: str | None = None
    paused: bool | None = None
    #: jobs whose newest run is in this state
    last_state: RunState | None = None

    def matches(self, job: Job, last_state: Callable[[str], RunState | None]) -> bool:
        """Whether ``job`` is selected; ``last_state`` gives the state of a job's newest
        run (asked only when this filter is on it)."""
        prefix, tag, pool, paused = self.prefix, self.tag, self.pool, self.paused
        return (
            (prefix is None or job.name.startswith(prefix))
            and (tag is None or tag in job.spec.tags)
            and (pool is None or job.spec.pool == pool)
            and (paused is None or job.spec.paused == paused)
            and (self.last_state is None or last_state(job.name) is self.last_state)
        )
