"""The in-process store: plain dicts, no I/O. The reference backend for the library and tests.

Its data and shared moves are in :mod:`tss.store.memory.state`, its hot path in
:mod:`tss.store.memory.runs`; the rules are in ``core`` (fencing, firing, flows, filters).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from tss.core import flows
from tss.core.firing import refires_withdrawn, rewound
from tss.core.models import (
    Attempt,
    DashboardSession,
    Event,
    Job,
    JobFilter,
    JobSpec,
    Page,
    PauseInfo,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros, to_utc
from tss.core.workers import LIVE_WORKER_STATES, worker_state
from tss.errors import Conflict, NotFound
from tss.store.auditing import change_of
from tss.store.base import Store
from tss.store.memory.alerts import MemoryAlerts
from tss.store.memory.audit import MemoryAudit
from tss.store.memory.ledger import MemoryLedger
from tss.store.memory.pauses import MemoryPauses, stored_pause
from tss.store.memory.retention import MemoryRetention
from tss.store.memory.runs import MemoryRuns
from tss.store.memory.state import copy_run, copy_worker, page_of, utc, utc_token
from tss.store.paging import FLOWS, JobOrder, bucket_us, check_offset, run_after, run_cursor


class MemoryStore(
    MemoryRuns, MemoryAlerts, MemoryPauses, MemoryRetention, MemoryAudit, MemoryLedger, Store
):
    """A store that keeps everything in this process; lost when the process ends.

    ``clock`` is the store's clock (default: the system's, in UTC)."""

    name = "memory"

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        with self._lock:
            return self._downstream_of({name}).get(name, {})

    async def exists(self) -> bool:
        """Always: the data lives in this instance."""
        return True

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        """Nothing to release: the data lives as long as the instance."""

    async def now(self) -> datetime:
        return self._now()

    async def create_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        with self._lock:
            if spec.name in self._jobs:
                raise Conflict.job_exists(spec.name)
            now = self._now()
            job = self._jobs[spec.name] = Job(spec, now, now, utc(next_fire_at), 1)
            self._children = None
            change = change_of("created", rolled_back)
            self._record_version(spec.name, change, spec, actor, now)
            return job

    async def update_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        expected_version: int | None = None,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        with self._lock:
            old = self._job(spec.name)
            if expected_version is not None and expected_version != old.version:
                raise Conflict.stale_version(spec.name, old.version, expected_version)
            withdrawn = self._cancel_ahead(spec.name, "job changed")
            if refires_withdrawn(old.spec, spec):
                next_fire_at = rewound(next_fire_at, withdrawn)
            job = Job(spec, old.created_at, self._now(), utc(next_fire_at), old.version + 1,
                      pause=old.pause if spec.paused else None)  # fmt: skip
            self._jobs[spec.name] = job
            self._children = None
            change = change_of("updated", rolled_back)
            self._record_version(spec.name, change, spec, actor, job.updated_at)
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
        return page_of(rest, offset, limit, len(jobs), order.cursor)

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        with self._lock:
            found = {name: self._last_run(name) for name in dict.fromkeys(names)}
            return {name: copy_run(run) for name, run in found.items() if run is not None}

    async def delete_job(self, name: str, *, actor: str = "user") -> None:
        with self._lock:
            self._job(name)
            del self._jobs[name]
            self._children = None
            self._cancel_ahead(name, "job deleted")
            self._record_version(name, "deleted", None, actor, self._now())

    async def set_paused(self, name: str, paused: bool, *, pause: PauseInfo | None = None) -> Job:
        with self._lock:
            old = self._job(name)
            spec = old.spec.model_copy(update={"paused": paused})
            kept = stored_pause(pause) if paused else None
            job = replace(old, spec=spec, updated_at=self._now(), pause=kept)
            if paused:
                withdrawn = self._cancel_ahead(name, "job paused")
                job = replace(job, next_fire_at=rewound(job.next_fire_at, withdrawn))
            self._jobs[name] = job
            return job

    async def get_run(self, run_id: str) -> Run:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                raise NotFound.run(run_id)
            return copy_run(run)

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
            runs = [copy_run(r) for r in self._runs.values() if selected.matches(r)]
        runs.sort(key=lambda run: run.id, reverse=True)
        rest = [run for run in runs if before is None or run.id < before]
        return page_of(rest, offset, limit, len(runs), lambda run: run_cursor(run.id))

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

    async def delete_ended_runs(
        self, job: str, *, limit: int, ended_before: datetime | None = None, keep_last: int = 0
    ) -> int:
        with self._lock:
            return self._prune_runs(job, utc(ended_before), max(keep_last, 0), limit)

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        with self._lock:
            if run_id not in self._attempts:
                raise NotFound.run(run_id)
            return [replace(attempt) for attempt in self._attempts[run_id]]

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        with self._lock:
            if run_id not in self._attempts:
                raise NotFound.run(run_id)
            for row in reversed(self._attempts[run_id]):
                if attempt is None or row.number == attempt:
                    return row.stdout, row.stderr
            raise NotFound.attempt(run_id, attempt)

    async def register_worker(self, info: WorkerInfo) -> None:
        with self._lock:
            now = self._now()
            self._workers[info.id] = replace(
                copy_worker(info), state="up", started_at=info.started_at or now,
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
            return [copy_worker(worker) for _, worker in sorted(self._workers.items())]

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

    async def last_event_id(self) -> int:
        with self._lock:
            return self._event_id

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        with self._lock:
            events = self._events_after(after)
            if run_id is not None:
                events = [event for event in events if event.run_id == run_id]
            return events[: max(limit, 0)]

    async def create_token(self, token: Token) -> None:
        with self._lock:
            if token.id in self._tokens:
                raise Conflict.token_exists(token.id)
            self._tokens[token.id] = utc_token(token)

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
