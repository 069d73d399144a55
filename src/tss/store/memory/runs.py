"""The memory store's hot path: firing, promoting, creating, publishing, claiming, leases,
finishing and cancelling runs (:class:`~tss.store.roles.RunStore`)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from tss.core.fencing import finish_change, holds, may_finish
from tss.core.firing import REPLACED, Planner
from tss.core.models import Attempt, ErrorInfo, NewRun, Outcome, Run
from tss.core.states import ACTIVE_STATES, RunState, can_transition, check_transition
from tss.store.memory.state import PENDING, MemoryState, copy_run, first
from tss.store.roles import Claim, RunStore


class MemoryRuns(MemoryState, RunStore):
    """The :class:`~tss.store.roles.RunStore` methods of the memory store."""

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
                        created.append(copy_run(run))
                current = self._jobs.get(job.name)
                if current is not None and current.next_fire_at == firing.expected_next_fire_at:
                    self._jobs[job.name] = replace(current, next_fire_at=firing.next_fire_at)
            return created, len(due)

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        with self._lock:
            now = self._now()
            until = now + timedelta(seconds=ahead)
            due = [r for r in self._in_states(*PENDING) if (r.not_before or now) <= until]
            due = sorted(due, key=lambda r: (r.not_before or r.created_at, r.id))[: max(limit, 0)]
            for run in due:
                self._move(run, RunState.QUEUED, actor, "due", now)
            return [copy_run(run) for run in due]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        with self._lock:
            early = timedelta(seconds=ahead)
            times = [
                run.not_before - early if run.not_before else run.created_at
                for run in self._in_states(*PENDING)
            ]
            ahead_of_fire = timedelta(seconds=horizon)
            for job in self._jobs.values():
                if not job.spec.paused and job.next_fire_at is not None:
                    times.append(job.next_fire_at - ahead_of_fire)
            return min(times, default=None)

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        with self._lock:
            for new in runs:  # check them all first: a refused batch changes nothing
                check_transition(None, new.state)
            now = self._now()
            inserted = self._insert_all(runs, actor, now)
            return [(copy_run(run), fresh) for run, fresh in inserted]

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
            return first(found, lambda r: (r.queued_at or r.created_at, r.id), limit)

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        with self._lock:
            runs = [r for r in self._in_states(RunState.QUEUED) if r.pool in pools]
            return first(runs, lambda r: (-r.priority, r.queued_at or r.created_at, r.id), limit)

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        with self._lock:
            return self._claim(run_ids, worker_id, lease)

    async def _claim_next(self, claim: Claim) -> list[Run]:
        # Runs the worker cannot take by type or labels are left out before the cut to
        # ``limit``, so they never hold back the runs behind them.
        with self._lock:
            runs = (
                r
                for r in self._in_states(RunState.QUEUED)
                if r.pool in claim.pools and claim.takes(r)
            )
            heads = heapq.nsmallest(
                claim.limit, runs, key=lambda r: (-r.priority, r.queued_at or r.created_at, r.id)
            )
            chosen = claim.room.fit_runs(heads)
            return self._claim(chosen, claim.worker_id, claim.lease)

    def _claim(self, run_ids: Sequence[str], worker_id: str, lease: float) -> list[Run]:
        """:meth:`claim_runs`, under the lock."""
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
            claimed.append(copy_run(run))
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
            return first(runs, lambda r: (r.lease_until or r.updated_at, r.id), limit)

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
            return first(runs, lambda r: (r.started_at or r.created_at, r.id), limit)

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        with self._lock:
            now = self._now()
            cancelled = []
            for run_id in dict.fromkeys(run_ids):
                run = self._runs.get(run_id)
                if run is None or not can_transition(run.state, RunState.CANCELLED):
                    continue
                self._cancel(run, actor, reason, now)
                cancelled.append(copy_run(run))
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
                failed.append(copy_run(run))
            self._settle({r.flow_id for r in failed if r.flow_id is not None}, actor, now)
            return failed

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        with self._lock:
            for run_id, number, stdout, stderr in logs:
                attempt = self._attempt(run_id, number) if run_id in self._attempts else None
                if attempt is not None and attempt.finished_at is None:
                    attempt.stdout, attempt.stderr = stdout, stderr
