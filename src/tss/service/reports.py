"""What a node tells about its jobs and runs: listings (with each job's last run, each run's
attempts and why a queued run waits), an attempt's output, events, flows, and the figures
an operator's overview needs (runs by state, throughput, queue depth per pool, fire
lateness, job health).

Each figure is bounded whatever the size of the history: queues are counted up to
:data:`QUEUE_CAP`, lateness is read from the newest :data:`LATENESS_SAMPLE` runs, and a
job's health from its newest :data:`HEALTH_RUNS` runs (one indexed read per job).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tss.core.models import (
    NAME_PATTERN,
    Attempt,
    Event,
    Job,
    JobFilter,
    Page,
    Run,
    RunFilter,
    WorkerInfo,
)
from tss.core.states import FAILURE_STATES, RunState
from tss.service.base import NodeService

if TYPE_CHECKING:
    pass

#: queued runs counted per pool; beyond it the count says "at least"
QUEUE_CAP = 10_000
#: newest runs read for the lateness figures
LATENESS_SAMPLE = 1000
#: retried runs (newest first) whose first attempt is read for the lateness figures
LATENESS_RETRIED = 100
#: newest runs of a job its health is computed from
HEALTH_RUNS = 20
#: the ends that say how a job is doing (cancelled and skipped runs say nothing)
_ENDED = FAILURE_STATES | {RunState.SUCCEEDED}


@dataclass(frozen=True, slots=True)
class Logs:
    """An attempt's output from the offsets asked for, and where to ask from next."""

    run_id: str
    attempt: int
    stdout: str
    stderr: str
    stdout_offset: int
    stderr_offset: int
    #: the attempt has ended: nothing more will be written
    done: bool


@dataclass(frozen=True, slots=True)
class PoolQueue:
    """Queued runs of a pool (at most :data:`QUEUE_CAP`) and the workers up serving it."""

    pool: str
    queued: int
    capped: bool
    workers: int
    slots: int


@dataclass(frozen=True, slots=True)
class LatePoint:
    """One scheduled fire: when it was due (ISO 8601) and how late its first attempt began."""

    at: str
    job: str
    late: float


@dataclass(frozen=True, slots=True)
class Lateness:
    window: int
    samples: int
    p50: float | None
    p95: float | None
    max: float | None
    points: list[LatePoint]


@dataclass(frozen=True, slots=True)
class JobHealth:
    """How the newest runs of a job went."""

    job: str
    runs: int
    ended: int
    succeeded: int
    failed: int
    success_rate: float | None
    mean_duration: float | None


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values`` (nearest rank), None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Reports(NodeService):
    """Reads over a node's store: nothing here changes anything."""

    # -- jobs -----------------------------------------------------------------------------

    async def list_jobs(
        self,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> tuple[Page, dict[str, Run]]:
        """A page of jobs (``filters`` as :class:`JobFilter`) and the last run of each."""
        page = await self._store.list_jobs(
            JobFilter(**filters), sort=sort, limit=limit, cursor=cursor, offset=offset
        )
        return page, await self._store.last_runs([j.name for j in page.items])

    async def get_job(self, name: str) -> Job:
        """:raises NotFound: no such job."""
        return await self._store.get_job(name)

    async def job_with_last_run(self, name: str) -> tuple[Job, Run | None]:
        """A job and its newest run, if any.

        :raises NotFound: no such job.
        """
        job = await self._store.get_job(name)
        return job, (await self._store.last_runs([name])).get(name)

    # -- runs -----------------------------------------------------------------------------

    async def list_runs(
        self, run_filter: RunFilter, *, limit: int = 50, cursor: str | None = None, offset: int = 0
    ) -> tuple[Page, list[WorkerInfo] | None]:
        """A page of runs, newest first, and the workers when a run on it is queued (why a
        queued run waits needs them: read once, and only then)."""
        found = await self._store.list_runs(run_filter, limit=limit, cursor=cursor, offset=offset)
        queued = any(r.state is RunState.QUEUED for r in found.items)
        return found, await self._store.list_workers() if queued else None

    async def get_run(self, run_id: str) -> Run:
        """:raises NotFound: no such run."""
        return await self._store.get_run(run_id)

    async def run_detail(self, run_id: str) -> tuple[Run, list[Attempt], list[WorkerInfo] | None]:
        """A run, its attempts, and the workers if it is queued (to say why it waits).

        :raises NotFound: no such run.
        """
        run = await self._store.get_run(run_id)
        workers = await self._store.list_workers() if run.state is RunState.QUEUED else None
        return run, await self._store.list_attempts(run_id), workers

    async def logs(
        self, run_id: str, attempt: int | None = None, *, stdout_from: int = 0, stderr_from: int = 0
    ) -> Logs:
        """An attempt's output (the last attempt by default) from the given offsets: poll
        with the returned offsets to follow a run while it runs, until ``done``.

        :raises NotFound: no such run.
        """
        run = await self._store.get_run(run_id)
        number = attempt or run.attempt
        stdout, stderr = await self._store.get_logs(run_id, number) if number else ("", "")
        done = run.state.terminal or number < run.attempt or run.state is not RunState.RUNNING
        return Logs(
            run_id=run_id,
            attempt=number,
            stdout=stdout[stdout_from:],
            stderr=stderr[stderr_from:],
            stdout_offset=max(len(stdout), stdout_from),
            stderr_offset=max(len(stderr), stderr_from),
            done=done,
        )

    async def events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        """State changes after event ``after``, oldest first."""
        return await self._store.list_events(after=after, limit=limit, run_id=run_id)

    async def last_event_id(self) -> int:
        """The id of the newest event (a live feed starts after it)."""
        return await self._store.last_event_id()

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Flow runs, newest first, as :class:`~tss.core.flows.FlowSummary` items."""
        page: Page = await self._store.list_flows(limit=limit, cursor=cursor)
        return page

    # -- figures --------------------------------------------------------------------------

    async def stats(
        self, *, window: int = 3600, bucket: int = 60
    ) -> tuple[dict[RunState, int], list[tuple[datetime, RunState, int]]]:
        """Runs in each state now, and runs ended per ``bucket`` seconds over ``window``."""
        counts = await self._store.count_runs()
        since = await self._store.now() - timedelta(seconds=window)
        return counts, await self._store.throughput(since=since, bucket=bucket)

    async def queues(self) -> list[PoolQueue]:
        """Queued runs per pool, with the workers up that serve each pool."""
        store = self._store
        workers = [w for w in await store.list_workers() if w.state == "up"]
        sample = await store.list_runs(RunFilter(states=(RunState.QUEUED,)), limit=500)
        pools = sorted({p for w in workers for p in w.pools} | {r.pool for r in sample.items})
        found = await asyncio.gather(*(store.fetch_queued([p], limit=QUEUE_CAP + 1) for p in pools))
        out = []
        for pool, runs in zip(pools, found, strict=True):
            serving = [w for w in workers if pool in w.pools]
            out.append(
                PoolQueue(
                    pool=pool,
                    queued=min(len(runs), QUEUE_CAP),
                    capped=len(runs) > QUEUE_CAP,
                    workers=len(serving),
                    slots=sum(w.concurrency for w in serving),
                )
            )
        return out

    async def lateness(self, window: int = 3600) -> Lateness:
        """How late scheduled fires started: the first attempt's start minus the scheduled
        time, over the newest scheduled runs created in the last ``window`` seconds. Manual,
        retry and flow runs are left out, and a retried run counts its first attempt only:
        a retry's back-off is the job's policy, not the scheduler being late."""
        store = self._store
        since = await store.now() - timedelta(seconds=window)
        page = await store.list_runs(RunFilter(since=since), limit=LATENESS_SAMPLE)
        fires = [
            run
            for run in page.items
            if run.trigger == "schedule" and run.scheduled_for and run.started_at
        ]
        # A run's started_at is its latest attempt's start: read the first from its attempts,
        # for the newest LATENESS_RETRIED retried runs (a bounded number of reads).
        retried = [run for run in fires if run.attempt > 1][:LATENESS_RETRIED]
        found = await asyncio.gather(*(store.list_attempts(run.id) for run in retried))
        first_start = {run.id: a[0].started_at for run, a in zip(retried, found, strict=True) if a}
        points = []
        for run in reversed(fires):
            started = run.started_at if run.attempt <= 1 else first_start.get(run.id)
            if started is None or run.scheduled_for is None:
                continue  # retried beyond the bound: left out rather than counted wrong
            late = max((started - run.scheduled_for).total_seconds(), 0.0)
            points.append(
                LatePoint(at=run.scheduled_for.isoformat(), job=run.job, late=round(late, 4))
            )
        values = [p.late for p in points]
        return Lateness(
            window=window,
            samples=len(values),
            p50=quantile(values, 0.5),
            p95=quantile(values, 0.95),
            max=max(values) if values else None,
            points=points,
        )

    async def job_health(self, jobs: Sequence[str]) -> list[JobHealth]:
        """How the newest runs of each job went: success rate and mean duration (names that
        are not job names are left out)."""
        names = [n for n in dict.fromkeys(jobs) if NAME_PATTERN.fullmatch(n)]
        pages = await asyncio.gather(
            *(self._store.list_runs(RunFilter(job=n), limit=HEALTH_RUNS) for n in names)
        )
        items = []
        for name, page in zip(names, pages, strict=True):
            ended = [r for r in page.items if r.state in _ENDED]
            good = sum(r.state is RunState.SUCCEEDED for r in ended)
            timed = [
                (r.finished_at - r.started_at).total_seconds()
                for r in ended
                if r.started_at and r.finished_at
            ]
            items.append(
                JobHealth(
                    job=name,
                    runs=len(page.items),
                    ended=len(ended),
                    succeeded=good,
                    failed=sum(r.state in FAILURE_STATES for r in ended),
                    success_rate=round(good / len(ended), 4) if ended else None,
                    mean_duration=round(sum(timed) / len(timed), 4) if timed else None,
                )
            )
        return items


__all__ = ["JobHealth", "LatePoint", "Lateness", "Logs", "PoolQueue", "Reports"]
