"""The PostgreSQL store's retention: pruning a batch of history per transaction, and the
fire ledger (the SQL is :mod:`tss.store.sql.retention`, numbered here)."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime
from typing import Any

from tss.core.retention import PrunedFire, RowKind
from tss.core.timeutil import to_micros
from tss.store.encoding import before_us
from tss.store.postgres.connection import Pool
from tss.store.postgres.queries import numbered
from tss.store.roles import RetentionStore
from tss.store.sql import queries as shared
from tss.store.sql import retention as sql

Conn = Any  # an asyncpg connection

_KEEP_BOUND = numbered(sql.KEEP_BOUND)
_PRUNABLE = numbered(sql.PRUNABLE)
_COUNT = numbered(sql.COUNT_PRUNABLE)
_IDS = "SELECT unnest($1::text[])"
_TO_LEDGER = sql.TO_LEDGER.format(_IDS)
_FORGET = tuple(statement.format(_IDS) for statement in shared.FORGET)
_ROWS = {kind: (numbered(q.delete), numbered(q.counting)) for kind, q in sql.ROWS.items()}
_LEDGER = numbered(sql.LEDGER)


async def _bound(conn: Conn, job: str, before: int, keep_last: int) -> str | None:
    keep = None
    if keep_last > 0:
        keep = await conn.fetchval(_KEEP_BOUND, job, keep_last - 1)
        if keep is None:
            return None
    return sql.bound(before, keep)


async def prune_runs(conn: Conn, job: str, before: int, keep_last: int, limit: int) -> int:
    """Delete up to ``limit`` prunable runs of ``job`` with their history, their fires
    copied into the ledger first (call in one transaction)."""
    bound = await _bound(conn, job, before, keep_last)
    if bound is None or limit <= 0:
        return 0
    ids = [row[0] for row in await conn.fetch(_PRUNABLE, job, bound, before, limit)]
    if ids:
        await conn.execute(_TO_LEDGER, ids)
        for statement in _FORGET:
            await conn.execute(statement, ids)
    return len(ids)


async def _count_runs(conn: Conn, job: str, before: int, keep_last: int) -> int:
    bound = await _bound(conn, job, before, keep_last)
    return 0 if bound is None else int(await conn.fetchval(_COUNT, job, bound, before))


def _count(result: str) -> int:
    """The row count of a command tag (``DELETE 12``)."""
    return int(result.rsplit(" ", 1)[-1])


class PostgresRetention(RetentionStore):
    """:class:`~tss.store.roles.RetentionStore` on PostgreSQL (a part of
    :class:`~tss.store.postgres.PostgresStore`)."""

    @property
    @abstractmethod
    def pool(self) -> Pool:
        """The store's pool."""

    async def run_jobs(self) -> list[str]:
        return [row[0] for row in await self.pool.fetch(sql.RUN_JOBS)]

    async def count_ended_runs(
        self, job: str, *, ended_before: datetime, keep_last: int = 0
    ) -> int:
        before = before_us(ended_before)
        return await self.pool.tx(lambda cn: _count_runs(cn, job, before, max(keep_last, 0)))

    async def prune_rows(self, kind: RowKind, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        at = to_micros(before)
        result = await self.pool.tx(lambda cn: cn.execute(_ROWS[kind][0], at, limit))
        return _count(result)

    async def count_rows(self, kind: RowKind, *, before: datetime) -> int:
        found = await self.pool.fetch(_ROWS[kind][1], to_micros(before))
        return int(found[0][0])

    async def list_pruned_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[PrunedFire]:
        if limit <= 0:
            return []
        found = await self.pool.fetch(_LEDGER, *sql.ledger_params(job, since, until, limit))
        return [sql.pruned_fire(tuple(row)) for row in found]
