"""The memory store's job versions and audit log."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from tss.core.history import AuditEntry, JobVersion, VersionChange
from tss.core.models import JobSpec, Page
from tss.store.auditing import (
    audit_after,
    audit_page,
    check_audit_limit,
    matches,
    spec_json,
    stored_entry,
    version_missing,
)
from tss.store.memory.state import MemoryState


class MemoryAudit(MemoryState):
    """:class:`~tss.store.roles.AuditStore` in memory."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        super().__init__(clock)
        self._versions: dict[str, list[JobVersion]] = {}  # by job, oldest first; frozen
        self._audit: list[AuditEntry] = []  # oldest first
        self._audit_id = 0

    def _record_version(
        self, name: str, change: VersionChange, spec: JobSpec | None, actor: str, at: datetime
    ) -> None:
        """Record a job's new version (call with the lock held, in the change's step)."""
        versions = self._versions.setdefault(name, [])
        number = versions[-1].version + 1 if versions else 1
        body = None if spec is None else spec_json(spec)
        versions.append(JobVersion(name, number, at, actor, change, body))

    async def list_versions(self, job: str) -> list[JobVersion]:
        with self._lock:
            found = list(reversed(self._versions.get(job, ())))
        return [replace(v, spec=copy.deepcopy(v.spec)) for v in found]

    async def get_version(self, job: str, version: int) -> JobVersion:
        with self._lock:
            found = next((v for v in self._versions.get(job, ()) if v.version == version), None)
        if found is None:
            raise version_missing(job, version)
        return replace(found, spec=copy.deepcopy(found.spec))

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        with self._lock:
            for entry in entries:
                self._audit_id += 1
                stored = stored_entry(replace(entry, id=self._audit_id))
                self._audit.append(replace(stored, details=copy.deepcopy(stored.details)))

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        check_audit_limit(limit)
        before = audit_after(cursor)
        items: list[AuditEntry] = []
        more = False
        with self._lock:
            for entry in reversed(self._audit):
                if before is not None and entry.id >= before:
                    continue
                if not matches(entry, actor, action, target, since, until):
                    continue
                if len(items) == limit:
                    more = True
                    break
                items.append(replace(entry, details=copy.deepcopy(entry.details)))
        return audit_page(items, more)
