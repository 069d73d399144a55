"""The in-process store: plain dicts, no I/O. The reference backend for the library and tests.

Every method runs its whole body under one ``threading.Lock`` and never awaits inside it,
so each call is atomic for concurrent asyncio tasks and for threads alike. Records are
copied on the way out, so a caller can never change stored state behind the store's back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from tss.core import flows
from tss.core.fencing import finish_change, holds, may_finish
from tss.core.firing import REPLACED, made_ahead, refires_withdrawn, rewound
from tss.core.models import (
    Attempt,
    ErrorInfo,
    Event,
    Job,
    JobFilter,
    JobSpec,
    NewRun,
    Outcome,
    Page,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.states import ACTIVE_STATES, RunState, can_transition, check_transition
from tss.core.timeutil import from_micros, to_micros, to_utc, utcnow
from tss.core.workers import LIVE_WORKER_STATES, worker_state
from tss.errors import Conflict, NotFound
from tss.store._listing import (
    FLOWS,
    JobOrder,
    bucket_us,
    check_offset,
    run_after,
    run_cursor,
)
from tss.store.base import DashboardSession, Planner, Store

_PENDING = (RunState.SCHEDULED, RunState.RETRYING)
T = TypeVar("T")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


def _copy(run: Run) -> Run:
    return replace(run, params=dict(run.params))


def _token(token: Token) -> Token:
    """``token`` with its times in UTC, as the SQL stores give them back."""
    return replace(
        token, created_at=to_utc(token.created_at), expires_at=_utc(token.expires_at),
        revoked_at=_utc(token.revoked_at), last_used_at=_utc(token.last_used_at),
    )  # fmt: skip


def _copy_worker(worker: WorkerInfo) -> WorkerInfo:
    return replace(worker, pools=list(worker.pools), task_types=list(worker.task_types))


def _first(runs: list[Run], key: Callable[[Run], Any], limit: int) -> list[Run]:
    """Copies of the first ``limit`` runs in ``key`` order."""
    return [_copy(run) for run in sorted(runs, key=key)[: max(limit, 0)]]


def _page(items: list[T], offset: int, limit: int, total: int, cursor: Callable[[T], str]) -> Page:
    """One page of ``items`` (those after the caller's cursor, in order), ``offset`` in."""
    page = items[offset : offset + max(limit, 0)]
    more = bool(page) and len(items) > offset + len(page)
    return Page(page, cursor(page[-1]) if more else None, total)


class MemoryStore(Store):
    """A store that keeps everything in this process; lost when the process ends."""

    name = "memory"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or utcnow
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._runs: dict[str, Run] = {}
        self._published: dict[str, datetime | None] = {}  # the outbox: run id -> published at
        self._attempts: dict[str, list[Attempt]] = {}
        self._job_runs: dict[str, list[str]] = {}
        self._by_fire: dict[tuple[str, datetime], str] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._flows: dict[str, list[str]] = {}  # flow id -> its run ids
        self._workers: dict[str, WorkerInfo] = {}
        self._events: list[Event] = []
        self._tokens: dict[str, Token] = {}  # frozen records: handed out as they are
        self._sessions: dict[str, DashboardSession] = {}  # by id hash; frozen records

    # -- internals (call with the lock held) -------------------------------------------------

    def _now(self) -> datetime:
        return to_utc(self._clock())

    def _event(self, run: Run, source: RunState | None, actor: str, reason: str | None) -> None:
        self._events.append(
            Event(
                len(self._events) + 1, run.updated_at, run.id, run.job, source, run.state,
                actor, reason, run.attempt,
            )
        )  # fmt: skip

    def _move(
        self, run: Run, target: RunState, actor: str, reason: str | None, now: datetime
    ) -> None:
        """Apply one checked transition and the fields it sets, and write its event."""
        source = run.state
        check_transition(source, target)
        run.state, run.updated_at = target, now
        if target is RunState.QUEUED:
            run.queued_at = now
            self._published[run.id] = None
        if source is RunState.RUNNING:
            run.lease_until = None
        if target.terminal:
            run.finished_at = now
        self._event(run, source, actor, reason)

    def _insert(self, new: NewRun, actor: str, now: datetime) -> tuple[Run, bool]:
        key = None if new.idempotency_key is None else (new.job, new.idempotency_key)
        fire = None
        if new.trigger == "schedule" and new.scheduled_for is not None:
            fire = (new.job, to_utc(new.scheduled_for))
        existing = None if key is None else self._by_key.get(key)
        if existing is None and fire is not None:
            existing = self._by_fire.get(fire)
        if existing is not None:
            return self._runs[existing], False
        if new.id in self._runs:
            raise Conflict.run_exists(new.id)
        check_transition(None, new.state)
        run = Run(
            id=new.id, job=new.job, state=new.state, trigger=new.trigger,
            params=dict(new.params), priority=new.priority, pool=new.pool, policy=new.policy,
            attempt=0, created_at=now, updated_at=now, scheduled_for=_utc(new.scheduled_for),
            not_before=_utc(new.not_before), idempotency_key=new.idempotency_key,
            reason=new.reason, retry_of=new.retry_of, flow_id=new.flow_id,
            queued_at=now if new.state is RunState.QUEUED else None,
            finished_at=now if new.state.terminal else None,
        )  # fmt: skip
        self._runs[run.id] = run
        self._published[run.id] = None
        self._attempts[run.id] = []
        self._job_runs.setdefault(run.job, []).append(run.id)
        if fire is not None:
            self._by_fire[fire] = run.id
        if key is not None:
            self._by_key[key] = run.id
        if run.flow_id is not None:
            self._flows.setdefault(run.flow_id, []).append(run.id)
        self._event(run, None, actor, new.reason)
        return run, True

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        with self._lock:
            return self._downstream_of({name}).get(name, {})

    def _downstream(self, news: Sequence[NewRun]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each job that may start a flow in ``news``."""
        return self._downstream_of({new.job for new in news if flows.starts_flow(new)})

    def _downstream_of(self, roots: set[str]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each of ``roots`` that has any."""
        if not roots:
            return {}
        children: dict[str, set[str]] = {}
        for job in self._jobs.values():
            for dep in job.spec.depends_on:
                children.setdefault(dep.job, set()).add(job.name)
        out = {}
        for root in roots:
            names = flows.downstream(root, lambda name: children.get(name, ()))
            if names:
                out[root] = {name: self._jobs[name].spec for name in names}
        return out

    def _insert_all(
        self, news: Sequence[NewRun], actor: str, now: datetime
    ) -> list[tuple[Run, bool]]:
        """Insert runs, and for each that starts a flow the waiting runs of its flow."""
        specs = self._downstream(news)
        news = flows.with_flows(news, specs)
        inserted = [self._insert(new, actor, now) for new in news]
        fresh = {run.id for run, new in inserted if new}
        for member in flows.members_of(news, fresh, specs):
            self._insert(member, actor, now)
        # Runs that join a flow under way (a re-run) may be decidable at once.
        joined = {n.flow_id for n in news if n.flow_id is not None and n.flow_id != n.id}
        self._settle(joined, actor, now)
        return inserted

    def _settle(self, flow_ids: set[str], actor: str, now: datetime) -> None:
        """Move the waiting runs of these flows that can be decided (:func:`flows.settle`)."""
        for flow_id in sorted(flow_ids):
            runs = [self._runs[run_id] for run_id in self._flows.get(flow_id, ())]
            for decision in flows.settle(flows.FlowRun.of(run) for run in runs):
                run = self._runs[decision.run_id]
                run.reason = decision.reason
                self._move(run, decision.target, actor, decision.reason, now)

    def _job(self, name: str) -> Job:
        job = self._jobs.get(name)
        if job is None:
            raise NotFound.job(name)
        return job

    def _in_states(self, *states: RunState) -> list[Run]:
        return [run for run in self._runs.values() if run.state in states]

    def _attempt(self, run_id: str, number: int) -> Attempt | None:
        return next((a for a in self._attempts[run_id] if a.number == number), None)

    # -- lifecycle ---------------------------------------------------------------------------

    async def exists(self) -> bool:
        """Always: the data lives in this instance."""
        return True

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release: the data lives as long as the instance."""

    async def now(self) -> datetime:
        return self._now()

    # -- jobs --------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        with self._lock:
            if spec.name in self._jobs:
                raise Conflict.job_exists(spec.name)
            now = self._now()
            job = self._jobs[spec.name] = Job(spec, now, now, _utc(next_fire_at), 1)
            return job

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        with self._lock:
            old = self._job(spec.name)
            if expected_version is not None and expected_version != old.version:
                raise Conflict.stale_version(spec.name, old.version, expected_version)
            withdrawn = self._cancel_ahead(spec.name, "job changed")
            if refires_withdrawn(old.spec, spec):
                next_fire_at = rewound(next_fire_at, withdrawn)
            job = Job(spec, old.created_at, self._now(), _utc(next_fire_at), old.version + 1)
            self._jobs[spec.name] = job
            return job

    async def get_job(self, name: str) -> Job:
        with self._lock:
            return self._job(name)

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        with self._lock:
            return {name: self._jobs[name] for name in names if name in self._jobs}

    async def list_jobs(
        self,
        job_filter: JobFilter | None = None,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        order = JobOrder.of(sort)
        after, offset = order.after(cursor), check_offset(offset)
        selected = job_filter or JobFilter()
        with self._lock:
            jobs = [job for job in self._jobs.values() if selected.matches(job, self._last_state)]
        keyed = sorted(((order.key(job), job) for job in jobs), reverse=order.descending)
        rest = [job for key, job in keyed if after is None or order.follows(key, after)]
        return _page(rest, offset, limit, len(jobs), order.cursor)

    def _last_run(self, name: str) -> Run | None:
        """The newest run of a job: ids sort by creation."""
        run_ids = self._job_runs.get(name)
        return self._runs[max(run_ids)] if run_ids else None

    def _last_state(self, name: str) -> RunState | None:
        run = self._last_run(name)
        return None if run is None else run.state

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        with self._lock:
            found = {name: self._last_run(name) for name in dict.fromkeys(names)}
            return {name: _copy(run) for name, run in found.items() if run is not None}

    async def delete_job(self, name: str) -> None:
        with self._lock:
            self._job(name)
            del self._jobs[name]
            self._cancel_ahead(name, "job deleted")

    async def set_paused(self, name: str, paused: bool) -> Job:
        with self._lock:
            old = self._job(name)
            spec = old.spec.model_copy(update={"paused": paused})
            job = replace(old, spec=spec, updated_at=self._now())
            if paused:
                withdrawn = self._cancel_ahead(name, "job paused")
                job = replace(job, next_fire_at=rewound(job.next_fire_at, withdrawn))
            self._jobs[name] = job
            return job

    def _cancel(self, run: Run, actor: str, why: str, now: datetime) -> None:
        """Cancel one run, closing its attempt if it was running."""
        if run.state is RunState.RUNNING:
            attempt = self._attempt(run.id, run.attempt)
            if attempt is not None and attempt.finished_at is None:
                attempt.state, attempt.finished_at = RunState.CANCELLED, now
        run.reason = why
        self._move(run, RunState.CANCELLED, actor, why, now)

    def _cancel_ahead(self, name: str, why: str) -> list[datetime | None]:
        """Withdraw the fires of a job made ahead of their time (lookahead), or queued and
        announced ahead of it (announce_ahead): cancel them and free their fire, so that
        the same fire can be made again. Returns the fire times withdrawn."""
        now = self._now()
        touched = set()
        withdrawn = []
        for run_id in self._job_runs.get(name, ()):
            run = self._runs[run_id]
            if made_ahead(run, now):
                self._cancel(run, "user", why, now)
                if run.scheduled_for is not None:
                    self._by_fire.pop((name, run.scheduled_for), None)
                withdrawn.append(run.scheduled_for)
                run.scheduled_for = None
                if run.flow_id is not None:
                    touched.add(run.flow_id)
        self._settle(touched, "user", now)
        return withdrawn

    # -- scheduling --------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        with self._lock:
            now = self._now()
            until = now + timedelta(seconds=horizon)
            ready = [
                (job.next_fire_at, name, job)
                for name, job in self._jobs.items()
                if not job.spec.paused and job.next_fire_at is not None
            ]
            due = [job for at, _, job in sorted(ready) if at <= until][: max(limit, 0)]
            created: list[Run] = []
            for job in due:
                runs = (self._runs[run_id] for run_id in self._job_runs.get(job.name, ()))
                active = [run for run in runs if run.state in ACTIVE_STATES]
                firing = planner(job, now, len(active))
                if firing.cancel_active:
                    for run in active:
                        self._cancel(run, actor, REPLACED, now)
                    self._settle({r.flow_id for r in active if r.flow_id}, actor, now)
                for run, fresh in self._insert_all(firing.runs, actor, now):
                    if fresh and run.state is RunState.QUEUED:
                        created.append(_copy(run))
                current = self._jobs.get(job.name)
                if current is not None and current.next_fire_at == firing.expected_next_fire_at:
                    self._jobs[job.name] = replace(current, next_fire_at=firing.next_fire_at)
            return created, len(due)

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        with self._lock:
            now = self._now()
            until = now + timedelta(seconds=ahead)
            due = [r for r in self._in_states(*_PENDING) if (r.not_before or now) <= until]
            due = sorted(due, key=lambda r: (r.not_before or r.created_at, r.id))[: max(limit, 0)]
            for run in due:
                self._move(run, RunState.QUEUED, actor, "due", now)
            return [_copy(run) for run in due]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        with self._lock:
            early = timedelta(seconds=ahead)
            times = [
                run.not_before - early if run.not_before else run.created_at
                for run in self._in_states(*_PENDING)
            ]
            ahead_of_fire = timedelta(seconds=horizon)
            for job in self._jobs.values():
                if not job.spec.paused and job.next_fire_at is not None:
                    times.append(job.next_fire_at - ahead_of_fire)
            return min(times, default=None)

    # -- runs --------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        with self._lock:
            for new in runs:  # check them all first: a refused batch changes nothing
                check_transition(None, new.state)
            now = self._now()
            inserted = self._insert_all(runs, actor, now)
            return [(_copy(run), fresh) for run, fresh in inserted]

    async def get_run(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise NotFound.run(run_id)
            return _copy(run)

    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        before, offset = run_after(cursor), check_offset(offset)
        with self._lock:
            selected = run_filter or RunFilter()
            runs = [_copy(r) for r in self._runs.values() if selected.matches(r)]
        runs.sort(key=lambda run: run.id, reverse=True)
        rest = [run for run in runs if before is None or run.id < before]
        return _page(rest, offset, limit, len(runs), lambda run: run_cursor(run.id))

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        with self._lock:
            counts = dict.fromkeys(RunState, 0)
            for run in self._runs.values():
                if run_filter is None or run_filter.matches(run):
                    counts[run.state] += 1
            return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        before = run_after(cursor, FLOWS)
        with self._lock:
            ids = sorted((i for i in self._flows if before is None or i < before), reverse=True)
            ids = [i for i in ids if i in self._runs][: max(limit, 0) + 1]
            found = [
                flows.FlowSummary.of(
                    self._runs[i], [flows.FlowRun.of(self._runs[m]) for m in self._flows[i]]
                )
                for i in ids
            ]
        page = found[: max(limit, 0)]
        more = len(found) > len(page) and bool(page)
        return Page(page, run_cursor(page[-1].flow_id, FLOWS) if more else None)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width, since = bucket_us(bucket), to_utc(since)
        counts: dict[tuple[int, str], int] = {}
        with self._lock:
            for run in self._runs.values():
                if run.finished_at is not None and run.finished_at >= since:
                    start = to_micros(run.finished_at) // width * width
                    counts[start, run.state.value] = counts.get((start, run.state.value), 0) + 1
        return [
            (from_micros(start), RunState(state), count)
            for (start, state), count in sorted(counts.items())
        ]

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        with self._lock:
            if run_id not in self._attempts:
                raise NotFound.run(run_id)
            return [replace(attempt) for attempt in self._attempts[run_id]]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        with self._lock:
            now = self._now()
            for run_id in run_ids:
                if run_id in self._runs:
                    self._published[run_id] = now

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        with self._lock:
            now = self._now()
            fresh = now - timedelta(seconds=older_than)
            stale = now - timedelta(seconds=republish_after)
            found = []
            for run in self._in_states(RunState.QUEUED):
                published = self._published.get(run.id)
                if published is None:
                    if (run.queued_at or run.created_at) <= fresh:
                        found.append(run)
                elif published <= stale:
                    found.append(run)
            return _first(found, lambda r: (r.queued_at or r.created_at, r.id), limit)

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        with self._lock:
            runs = [r for r in self._in_states(RunState.QUEUED) if r.pool in pools]
            return _first(runs, lambda r: (-r.priority, r.queued_at or r.created_at, r.id), limit)

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        with self._lock:
            now = self._now()
            claimed = []
            for run_id in dict.fromkeys(run_ids):
                run = self._runs.get(run_id)
                if run is None or run.state is not RunState.QUEUED:
                    continue  # a duplicate delivery, or cancelled meanwhile: dropped
                run.attempt += 1
                run.started_at, run.worker_id = now, worker_id
                self._move(run, RunState.RUNNING, worker_id, None, now)
                run.lease_until = now + timedelta(seconds=lease)
                attempt = Attempt(run.id, run.attempt, worker_id, RunState.RUNNING, now)
                self._attempts[run.id].append(attempt)
                claimed.append(_copy(run))
            return claimed

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        with self._lock:
            now = self._now()
            worker = self._workers.get(worker_id)
            if worker is not None:
                worker.last_heartbeat, worker.running = now, len(held)
            lost = []
            for run_id, number in held:
                run = self._runs.get(run_id)
                if run is None or not holds(run.state, run.attempt, number):
                    lost.append(run_id)
                else:  # a late heartbeat still wins while the reaper has not ended the run
                    run.lease_until, run.updated_at = now + timedelta(seconds=lease), now
            return lost

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        with self._lock:
            now = self._now()
            accepted = []
            ended: set[str] = set()
            for out in outcomes:
                run = self._runs.get(out.run_id)
                if run is None or not may_finish(run.state, run.attempt, run.lease_until, out, now):
                    accepted.append(False)
                    continue
                change = finish_change(out)
                run.error, run.result, run.reason = out.error, out.result, out.reason
                if change.requeued:
                    run.handbacks += 1
                if change.retry_delay is not None:
                    run.not_before = now + timedelta(seconds=change.retry_delay)
                self._move(run, change.target, actor, out.reason, now)
                attempt = self._attempt(run.id, out.attempt)
                if attempt is not None:
                    attempt.state = change.attempt_state
                    attempt.finished_at, attempt.error, attempt.result = now, out.error, out.result
                    attempt.stdout, attempt.stderr = out.stdout, out.stderr
                accepted.append(True)
                if run.flow_id is not None and out.target.terminal:
                    ended.add(run.flow_id)
            self._settle(ended, actor, now)
            return accepted

    async def expired_runs(self, *, limit: int) -> list[Run]:
        with self._lock:
            now = self._now()
            runs = [r for r in self._in_states(RunState.RUNNING) if (r.lease_until or now) <= now]
            return _first(runs, lambda r: (r.lease_until or r.updated_at, r.id), limit)

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        with self._lock:
            now = self._now()
            runs = [
                run
                for run in self._in_states(RunState.RUNNING)
                if run.policy.timeout is not None
                and run.started_at is not None
                and run.started_at + timedelta(seconds=run.policy.timeout + grace) < now
            ]
            return _first(runs, lambda r: (r.started_at or r.created_at, r.id), limit)

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        with self._lock:
            now = self._now()
            cancelled = []
            for run_id in dict.fromkeys(run_ids):
                run = self._runs.get(run_id)
                if run is None or not can_transition(run.state, RunState.CANCELLED):
                    continue
                self._cancel(run, actor, reason, now)
                cancelled.append(_copy(run))
            self._settle({r.flow_id for r in cancelled if r.flow_id is not None}, actor, now)
            return cancelled

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        with self._lock:
            now = self._now()
            failed = []
            for run_id in dict.fromkeys(run_ids):
                run = self._runs.get(run_id)
                if run is None or run.state is not RunState.QUEUED:
                    continue  # taken or ended meanwhile: left alone
                run.error, run.reason = error, error.message
                self._move(run, RunState.FAILED, actor, error.message, now)
                failed.append(_copy(run))
            self._settle({r.flow_id for r in failed if r.flow_id is not None}, actor, now)
            return failed

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        with self._lock:
            for run_id, number, stdout, stderr in logs:
                attempt = self._attempt(run_id, number) if run_id in self._attempts else None
                if attempt is not None and attempt.finished_at is None:
                    attempt.stdout, attempt.stderr = stdout, stderr

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        with self._lock:
            if run_id not in self._attempts:
                raise NotFound.run(run_id)
            for row in reversed(self._attempts[run_id]):
                if attempt is None or row.number == attempt:
                    return row.stdout, row.stderr
            raise NotFound.attempt(run_id, attempt)

    # -- workers -----------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        with self._lock:
            now = self._now()
            self._workers[info.id] = replace(
                _copy_worker(info), state="up", started_at=info.started_at or now,
                last_heartbeat=now, running=info.running,
            )  # fmt: skip

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        checked = worker_state(state)
        with self._lock:
            worker = self._workers.get(worker_id)
            if worker is None:
                raise NotFound.worker(worker_id)
            worker.state = checked

    async def list_workers(self) -> list[WorkerInfo]:
        with self._lock:
            return [_copy_worker(worker) for _, worker in sorted(self._workers.items())]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        with self._lock:
            limit = self._now() - timedelta(seconds=dead_after)
            dead = []
            for worker_id, worker in sorted(self._workers.items()):
                seen = worker.last_heartbeat or worker.started_at
                if worker.state in LIVE_WORKER_STATES and (seen is None or seen <= limit):
                    worker.state = "dead"
                    dead.append(worker_id)
            return dead

    # -- events ------------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        with self._lock:
            return len(self._events)  # ids are 1-based positions in the list

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        with self._lock:
            events = self._events[max(after, 0) :]  # ids are 1-based positions in the list
            if run_id is not None:
                events = [event for event in events if event.run_id == run_id]
            return events[: max(limit, 0)]

    # -- API tokens --------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        with self._lock:
            if token.id in self._tokens:
                raise Conflict.token_exists(token.id)
            self._tokens[token.id] = _token(token)

    async def get_token(self, token_id: str) -> Token:
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None:
                raise NotFound.token(token_id)
            return token

    async def list_tokens(self) -> list[Token]:
        with self._lock:
            return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.id))

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        with self._lock:
            found = [t for t in self._tokens.values() if id_or_name in (t.id, t.name)]
            if not found:
                raise NotFound.token_named(id_or_name)
            now = self._now()
            revoked = []
            for token in sorted(found, key=lambda t: (t.created_at, t.id)):
                if token.revoked_at is None:
                    self._tokens[token.id] = replace(token, revoked_at=now)
                    revoked.append(self._tokens[token.id])
            return revoked

    async def touch_token(self, token_id: str) -> None:
        with self._lock:
            token = self._tokens.get(token_id)
            if token is not None:
                self._tokens[token_id] = replace(token, last_used_at=self._now())

    # -- dashboard sessions ------------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        with self._lock:
            now = self._now()
            for key in [k for k, v in self._sessions.items() if v.expires_at <= now]:
                del self._sessions[key]
            if session.id_hash in self._sessions:
                raise Conflict.session_exists()
            self._sessions[session.id_hash] = replace(
                session,
                created_at=to_utc(session.created_at),
                expires_at=to_utc(session.expires_at),
            )

    async def get_session(self, id_hash: str) -> DashboardSession:
        with self._lock:
            found = self._sessions.get(id_hash)
            if found is None:
                raise NotFound.session()
            return found

    async def delete_session(self, id_hash: str) -> None:
        with self._lock:
            self._sessions.pop(id_hash, None)
