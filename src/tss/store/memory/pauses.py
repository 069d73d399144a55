"""The memory store's pauses that end by themselves (:class:`~tss.store.roles.PauseStore`)."""

from __future__ import annotations

from dataclasses import replace

from tss.core.models import Job, PauseInfo
from tss.core.timeutil import to_utc
from tss.store.memory.state import MemoryState


def stored_pause(pause: PauseInfo | None) -> PauseInfo | None:
    """``pause`` with its times in UTC, as every store hands them out."""
    if pause is None:
        return None
    until = None if pause.until is None else to_utc(pause.until)
    return replace(pause, at=to_utc(pause.at), until=until)


class MemoryPauses(MemoryState):
    """:class:`~tss.store.roles.PauseStore` in memory: a scan of the jobs (the memory store
    is for small sets of jobs)."""

    async def resume_due_pauses(self, *, limit: int) -> list[Job]:
        with self._lock:
            now = self._now()
            due = sorted(
                (job.pause.until, job.name)
                for job in self._jobs.values()
                if job.spec.paused
                and job.pause is not None
                and job.pause.until is not None
                and job.pause.until <= now
            )
            resumed: list[Job] = []
            for _until, name in due[: max(limit, 0)]:
                old = self._jobs[name]
                spec = old.spec.model_copy(update={"paused": False})
                job = self._jobs[name] = replace(old, spec=spec, updated_at=now, pause=None)
                resumed.append(job)
            return resumed
