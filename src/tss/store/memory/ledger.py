"""The memory store's fire ledger read and backfills."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from tss.core.ledger import Backfill
from tss.core.models import Run
from tss.core.states import ACTIVE_STATES
from tss.core.timeutil import to_utc
from tss.errors import Conflict
from tss.store.memory.state import MemoryState, copy_run


def _stored(backfill: Backfill) -> Backfill:
    return replace(
        backfill,
        fires=tuple(to_utc(f) for f in backfill.fires),
        created_at=to_utc(backfill.created_at),
    )


class MemoryLedger(MemoryState):
    """:class:`~tss.store.roles.LedgerStore` in memory."""

    @property
    def _backfills(self) -> dict[str, Backfill]:
        # Made on first use: the records are frozen, handed out as they are.
        found: dict[str, Backfill] | None = self.__dict__.get("_backfill_records")
        if found is None:
            found = self.__dict__["_backfill_records"] = {}
        return found

    async def list_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[Run]:
        lo, hi = to_utc(since), to_utc(until)
        with self._lock:
            found = [
                run
                for run_id in self._job_runs.get(job, ())
                if (run := self._runs[run_id]).trigger == "schedule"
                and run.scheduled_for is not None
                and lo <= run.scheduled_for < hi
            ]
            found.sort(key=lambda run: run.scheduled_for or lo)
            return [copy_run(run) for run in found[: max(limit, 0)]]

    async def active_runs_of(self, job: str) -> list[Run]:
        with self._lock:
            return [
                copy_run(run)
                for state in ACTIVE_STATES
                for run in self._by_state.get(state, {}).values()
                if run.job == job
            ]

    async def add_backfill(self, backfill: Backfill) -> None:
        with self._lock:
            if backfill.id in self._backfills:
                raise Conflict(f"a backfill with id {backfill.id!r} exists already", field="id")
            self._backfills[backfill.id] = _stored(backfill)

    async def list_backfills(self, job: str, *, limit: int = 100) -> list[Backfill]:
        with self._lock:
            found = [b for b in self._backfills.values() if b.job == job]
        found.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return found[: max(limit, 0)]

    async def get_backfill(self, backfill_id: str) -> Backfill | None:
        with self._lock:
            return self._backfills.get(backfill_id)

    async def active_backfills(self, *, limit: int = 100) -> list[Backfill]:
        with self._lock:
            found = [b for b in self._backfills.values() if b.state == "active"]
        found.sort(key=lambda b: (b.created_at, b.id))
        return found[: max(limit, 0)]

    async def update_backfill(self, backfill_id: str, *, made: int, state: str) -> None:
        with self._lock:
            found = self._backfills.get(backfill_id)
            if found is not None and found.state == "active":
                self._backfills[backfill_id] = replace(found, made=made, state=state)  # type: ignore[arg-type]
