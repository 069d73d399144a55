"""The memory store's data and the moves every method shares (call them with the lock held).

Every method of :class:`~tss.store.memory.MemoryStore` runs its whole body under one
``threading.Lock`` and never awaits inside it, so each call is atomic for concurrent
asyncio tasks and for threads alike. Records are copied on the way out, so a caller can
never change stored state behind the store's back.
"""

from __future__ import annotations

import bisect
import operator
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from datetime import datetime
from typing import Any, TypeVar

from tss.core import flows
from tss.core.alerts import Alert, Silence
from tss.core.firing import made_ahead
from tss.core.models import (
    Attempt,
    DashboardSession,
    Event,
    Job,
    JobSpec,
    NewRun,
    Page,
    Run,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState, check_transition
from tss.core.timeutil import to_utc, utcnow
from tss.errors import Conflict, NotFound

PENDING = (RunState.SCHEDULED, RunState.RETRYING)
T = TypeVar("T")


def utc(value: datetime | None) -> datetime | None:
    return None if value is None else to_utc(value)


#: a run's fields in the order Run() takes them: a copy is one call, not replace()'s walk
_RUN_VALUES = operator.attrgetter(*(field.name for field in fields(Run)))


def copy_run(run: Run) -> Run:
    copy = Run(*_RUN_VALUES(run))
    copy.params = dict(run.params)
    return copy


def utc_token(token: Token) -> Token:
    """``token`` with its times in UTC, as the SQL stores give them back."""
    return replace(
        token, created_at=to_utc(token.created_at), expires_at=utc(token.expires_at),
        revoked_at=utc(token.revoked_at), last_used_at=utc(token.last_used_at),
    )  # fmt: skip


def copy_worker(worker: WorkerInfo) -> WorkerInfo:
    return replace(
        worker, pools=list(worker.pools), task_types=list(worker.task_types),
        labels=list(worker.labels),
    )  # fmt: skip


def first(runs: list[Run], key: Callable[[Run], Any], limit: int) -> list[Run]:
    """Copies of the first ``limit`` runs in ``key`` order."""
    return [copy_run(run) for run in sorted(runs, key=key)[: max(limit, 0)]]


def page_of(
    items: list[T], offset: int, limit: int, total: int, cursor: Callable[[T], str]
) -> Page:
    """One page of ``items`` (those after the caller's cursor, in order), ``offset`` in."""
    page = items[offset : offset + max(limit, 0)]
    more = bool(page) and len(items) > offset + len(page)
    return Page(page, cursor(page[-1]) if more else None, total)


class MemoryState:
    """The data of one memory store, and the moves its methods share."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or utcnow
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        #: the runs in each state (the same objects as ``_runs``): a claim, a tick or the
        #: reaper reads the runs of a state, not every run ever made
        self._by_state: dict[RunState, dict[str, Run]] = {}
        #: job name -> the jobs that depend on it; None after a definition changed (built
        #: again on the next read: a fire or trigger no longer walks every job)
        self._children: dict[str, set[str]] | None = None
        self._runs: dict[str, Run] = {}
        self._published: dict[str, datetime | None] = {}  # the outbox: run id -> published at
        self._attempts: dict[str, list[Attempt]] = {}
        self._job_runs: dict[str, list[str]] = {}
        self._by_fire: dict[tuple[str, datetime], str] = {}
        self._by_key: dict[tuple[str, str], str] = {}
        self._flows: dict[str, list[str]] = {}  # flow id -> its run ids
        self._workers: dict[str, WorkerInfo] = {}
        #: every event, in id order; ids come from ``_event_id`` (history deleted with
        #: :meth:`_forget_runs` leaves gaps, never a reused id)
        self._events: list[Event] = []
        self._event_id = 0
        self._tokens: dict[str, Token] = {}  # frozen records: handed out as they are
        self._sessions: dict[str, DashboardSession] = {}  # by id hash; frozen records
        self._alerts: dict[str, Alert] = {}  # frozen records
        #: lease name -> (holder, expires at, saved state)
        self._leases: dict[str, tuple[str, datetime, dict[str, Any]]] = {}
        self._silences: dict[str, Silence] = {}  # by job; frozen records

    def _now(self) -> datetime:
        return to_utc(self._clock())

    def _event(self, run: Run, source: RunState | None, actor: str, reason: str | None) -> None:
        self._event_id += 1
        self._events.append(
            Event(
                self._event_id, run.updated_at, run.id, run.job, source, run.state,
                actor, reason, run.attempt,
            )
        )  # fmt: skip

    def _events_after(self, after: int) -> list[Event]:
        """The events with an id greater than ``after``, oldest first."""
        return self._events[bisect.bisect_right(self._events, after, key=lambda e: e.id) :]

    def _forget_runs(self, runs: Sequence[Run]) -> None:
        """Delete ended runs with their attempts, logs, events and index entries."""
        gone = {run.id for run in runs}
        for run in runs:
            del self._runs[run.id]
            self._by_state.get(run.state, {}).pop(run.id, None)
            self._published.pop(run.id, None)
            self._attempts.pop(run.id, None)
            if run.scheduled_for is not None and run.trigger == "schedule":
                fire = (run.job, run.scheduled_for)
                if self._by_fire.get(fire) == run.id:
                    del self._by_fire[fire]
            if run.idempotency_key is not None:
                key = (run.job, run.idempotency_key)
                if self._by_key.get(key) == run.id:
                    del self._by_key[key]
            if run.flow_id is not None:
                members = self._flows.get(run.flow_id)
                if members is not None:
                    members[:] = [m for m in members if m != run.id]
                    if not members:
                        del self._flows[run.flow_id]
        for job in {run.job for run in runs}:
            left = [i for i in self._job_runs.get(job, ()) if i not in gone]
            if left:
                self._job_runs[job] = left
            else:
                self._job_runs.pop(job, None)
        self._events = [event for event in self._events if event.run_id not in gone]

    def _move(
        self, run: Run, target: RunState, actor: str, reason: str | None, now: datetime
    ) -> None:
        """Apply one checked transition and the fields it sets, and write its event."""
        source = run.state
        check_transition(source, target)
        run.state, run.updated_at = target, now
        self._by_state[source].pop(run.id, None)
        self._by_state.setdefault(target, {})[run.id] = run
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
            attempt=0, created_at=now, updated_at=now, scheduled_for=utc(new.scheduled_for),
            not_before=utc(new.not_before), idempotency_key=new.idempotency_key,
            reason=new.reason, retry_of=new.retry_of, flow_id=new.flow_id,
            queued_at=now if new.state is RunState.QUEUED else None,
            finished_at=now if new.state.terminal else None,
        )  # fmt: skip
        self._runs[run.id] = run
        self._by_state.setdefault(run.state, {})[run.id] = run
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

    def _downstream(self, news: Sequence[NewRun]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each job that may start a flow in ``news``."""
        return self._downstream_of({new.job for new in news if flows.starts_flow(new)})

    def _downstream_of(self, roots: set[str]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each of ``roots`` that has any."""
        if not roots:
            return {}
        children = self._children
        if children is None:
            children = {}
            for job in self._jobs.values():
                for dep in job.spec.depends_on:
                    children.setdefault(dep.job, set()).add(job.name)
            self._children = children
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
        return [run for state in states for run in self._by_state.get(state, {}).values()]

    def _attempt(self, run_id: str, number: int) -> Attempt | None:
        return next((a for a in self._attempts[run_id] if a.number == number), None)

    def _last_run(self, name: str) -> Run | None:
        """The newest run of a job: ids sort by creation."""
        run_ids = self._job_runs.get(name)
        return self._runs[max(run_ids)] if run_ids else None

    def _last_state(self, name: str) -> RunState | None:
        run = self._last_run(name)
        return None if run is None else run.state

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
