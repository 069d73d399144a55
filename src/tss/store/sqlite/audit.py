"""The SQLite store's job versions and audit log (the versions are written by the job
writes themselves, in :mod:`tss.store.sqlite.writes`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tss.core.history import AuditEntry, JobVersion
from tss.core.models import Page
from tss.store.auditing import version_missing
from tss.store.roles import AuditStore
from tss.store.sql import history
from tss.store.sqlite.connection import SQLiteConnection, many
from tss.store.sqlite.connection import rows as fetch


class SQLiteAudit(AuditStore):
    """:class:`~tss.store.roles.AuditStore` on SQLite."""

    _db: SQLiteConnection

    async def list_versions(self, job: str) -> list[JobVersion]:
        found = await self._db.read(lambda conn: fetch(conn, history.VERSIONS, (job,)))
        return [history.version_of(row) for row in found]

    async def get_version(self, job: str, version: int) -> JobVersion:
        params = (job, version)
        found = await self._db.read(lambda conn: fetch(conn, history.VERSION, params))
        if not found:
            raise version_missing(job, version)
        return history.version_of(found[0])

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        params = history.audit_values(entries)
        if params:
            await self._db.write(lambda conn: many(conn, history.AUDIT_INSERT, params))

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
        sql, params = history.audit_page_query(actor, action, target, since, until, limit, cursor)
        found = await self._db.read(lambda conn: fetch(conn, sql, params))
        return history.audit_rows_page(found, limit)
