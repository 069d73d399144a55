"""The PostgreSQL store's job versions and audit log (the versions are written by the job
writes themselves, in :mod:`tss.store.postgres.writes`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from datetime import datetime

from tss.core.history import AuditEntry, JobVersion
from tss.core.models import Page
from tss.store.auditing import version_missing
from tss.store.postgres.connection import Pool
from tss.store.postgres.queries import numbered
from tss.store.roles import AuditStore
from tss.store.sql import history

_VERSIONS = numbered(history.VERSIONS)
_VERSION = numbered(history.VERSION)
_AUDIT_INSERT = numbered(history.AUDIT_INSERT)


class PostgresAudit(AuditStore):
    """:class:`~tss.store.roles.AuditStore` on PostgreSQL."""

    @property
    @abstractmethod
    def pool(self) -> Pool:
        """The store's pool (:class:`~tss.store.postgres.PostgresStore` opens it)."""

    async def list_versions(self, job: str) -> list[JobVersion]:
        return [history.version_of(row) for row in await self.pool.fetch(_VERSIONS, job)]

    async def get_version(self, job: str, version: int) -> JobVersion:
        found = await self.pool.fetch(_VERSION, job, version)
        if not found:
            raise version_missing(job, version)
        return history.version_of(found[0])

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        params = history.audit_values(entries)
        if params:
            await self.pool.run(lambda conn: conn.executemany(_AUDIT_INSERT, params), tx=True)

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
        return history.audit_rows_page(await self.pool.fetch(numbered(sql), *params), limit)
