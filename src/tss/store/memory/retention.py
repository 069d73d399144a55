"""The memory store's retention: pruning old history, and the fire ledger it leaves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from tss.core.models import Run
from tss.core.retention import SETTLED_ALERTS, PrunedFire, RowKind, id_bound
from tss.core.timeutil import to_utc
from tss.store.memory.audit import MemoryAudit
from tss.store.roles import RetentionStore


class MemoryRetention(MemoryAudit, RetentionStore):
    """:class:`~tss.store.roles.RetentionStore` in memory (and the pruning half of
    ``delete_ended_runs``)."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        #: (job, scheduled_for) -> what became of a pruned fire
        self._ledger: dict[tuple[str, datetime], PrunedFire] = {}

    def _prunable(
        self, job: str, before: datetime | None, keep_last: int, limit: int | None
    ) -> list[Run]:
        """Up to ``limit`` (None: all) ended runs of ``job`` that ended before ``before``,
        oldest first, outside its ``keep_last`` newest runs, none of a flow still going
        (call with the lock held)."""
        ids = sorted(self._job_runs.get(job, ()))
        if keep_last > 0:
            ids = ids[:-keep_last]
        bound = None if before is None else id_bound(before)
        found: list[Run] = []
        for run_id in ids:
            if limit is not None and len(found) >= limit:
                break
            if bound is not None and run_id >= bound:
                break
            run = self._runs[run_id]
            if not run.state.terminal or run.finished_at is None:
                continue
            if before is not None and run.finished_at >= before:
                continue
            if run.flow_id is not None and any(
                not self._runs[m].state.terminal for m in self._flows.get(run.flow_id, ())
            ):
                continue
            found.append(run)
        return found

    def _prune_runs(self, job: str, before: datetime | None, keep_last: int, limit: int) -> int:
        """Delete what :meth:`_prunable` finds, its scheduled runs kept in the ledger (call
        with the lock held)."""
        runs = self._prunable(job, before, keep_last, max(limit, 0))
        for run in runs:
            if run.trigger == "schedule" and run.scheduled_for is not None:
                fire = PrunedFire(
                    run.job, run.scheduled_for, run.id, run.state, run.finished_at, run.reason
                )
                self._ledger[run.job, run.scheduled_for] = fire
        self._forget_runs(runs)
        return len(runs)

    async def run_jobs(self) -> list[str]:
        with self._lock:
            return sorted(job for job, ids in self._job_runs.items() if ids)

    async def count_ended_runs(
        self, job: str, *, ended_before: datetime, keep_last: int = 0
    ) -> int:
        with self._lock:
            return len(self._prunable(job, to_utc(ended_before), max(keep_last, 0), None))

    def _old_rows(self, kind: RowKind, before: datetime) -> list[Any]:
        """The keys of the rows of ``kind`` older than ``before``, oldest first."""
        if kind == "alerts":
            alerts = [
                a for a in self._alerts.values()
                if a.state in SETTLED_ALERTS and a.created_at < before
            ]  # fmt: skip
            return [a.id for a in sorted(alerts, key=lambda a: (a.created_at, a.id))]
        if kind == "silences":
            ended = [s for s in self._silences.values() if s.until < before]
            return [s.job for s in sorted(ended, key=lambda s: (s.until, s.job))]
        if kind == "ledger":
            return sorted(
                (key for key in self._ledger if key[1] < before), key=lambda k: (k[1], k[0])
            )
        return [i for i, entry in enumerate(self._audit) if entry.at < before]

    async def prune_rows(self, kind: RowKind, *, before: datetime, limit: int) -> int:
        with self._lock:
            keys = self._old_rows(kind, to_utc(before))[: max(limit, 0)]
            if kind == "alerts":
                for key in keys:
                    del self._alerts[key]
            elif kind == "silences":
                for key in keys:
                    del self._silences[key]
            elif kind == "ledger":
                for key in keys:
                    del self._ledger[key]
            else:
                gone = set(keys)
                self._audit = [e for i, e in enumerate(self._audit) if i not in gone]
            return len(keys)

    async def count_rows(self, kind: RowKind, *, before: datetime) -> int:
        with self._lock:
            return len(self._old_rows(kind, to_utc(before)))

    async def list_pruned_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[PrunedFire]:
        start, end = to_utc(since), to_utc(until)
        with self._lock:
            fires = [f for (name, at), f in self._ledger.items() if name == job]
        fires = sorted((f for f in fires if start <= f.scheduled_for < end),
                       key=lambda f: f.scheduled_for)  # fmt: skip
        return fires[: max(limit, 0)]
