"""The scheduler's pause sweep: resume the jobs whose pause has ended (``pause --until``).

Any number of schedulers may sweep at once: the store resumes each job for one sweep only
(:meth:`~tss.store.roles.PauseStore.resume_due_pauses`), so each resume is recorded once.
"""

from __future__ import annotations

import logging

from tss.core.history import AuditEntry
from tss.core.models import Job
from tss.errors import TSSError
from tss.store.base import Store

log = logging.getLogger(__name__)

#: seconds between two sweeps of one scheduler (a pause ends within about this much late)
SWEEP_INTERVAL = 1.0


class PauseSweep:
    """Resumes ended pauses at most every :data:`SWEEP_INTERVAL` seconds of ``tick``'s
    monotonic clock, in batches of ``limit``, as ``actor``."""

    def __init__(self, store: Store, *, actor: str, limit: int) -> None:
        self.store = store
        self.actor = actor
        self.limit = limit
        self.last_sweep = float("-inf")
        #: jobs resumed by this sweep so far
        self.resumed = 0

    async def tick(self, now_mono: float) -> list[Job]:
        """Sweep if the last sweep is :data:`SWEEP_INTERVAL` seconds old; the jobs resumed."""
        if now_mono - self.last_sweep < SWEEP_INTERVAL:
            return []
        self.last_sweep = now_mono
        return await self.sweep()

    async def sweep(self) -> list[Job]:
        """Resume every job whose pause has ended, a batch at a time; each resume goes in
        the audit log as ``job.resume`` with ``auto: true``."""
        resumed: list[Job] = []
        while True:
            batch = await self.store.resume_due_pauses(limit=self.limit)
            resumed += batch
            if batch:
                await self._audit(batch)
            if len(batch) < self.limit:
                break
        if resumed:
            self.resumed += len(resumed)
            log.info(
                "%s resumed %d jobs whose pause ended: %s",
                self.actor, len(resumed), ", ".join(job.name for job in resumed[:20]),
            )  # fmt: skip
        return resumed

    async def _audit(self, jobs: list[Job]) -> None:
        try:
            at = await self.store.now()
            entries = [
                AuditEntry(0, at, self.actor, "job.resume", job.name, {"auto": True})
                for job in jobs
            ]
            await self.store.add_audit(entries)
        except TSSError as exc:  # the jobs are resumed; the log entry is what is lost
            log.error("audit of %d automatic resumes not recorded: %s", len(jobs), exc)
