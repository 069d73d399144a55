"""The SQLite store's retention: pruning a batch of history per write transaction, and the
fire ledger (the SQL is :mod:`tss.store.sql.retention`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from tss.core.retention import PrunedFire, RowKind
from tss.core.timeutil import to_micros
from tss.store import encoding
from tss.store.roles import RetentionStore
from tss.store.sql import queries as shared
from tss.store.sql import retention as sql
from tss.store.sqlite.connection import Connection, SQLiteConnection, execute, rows_in
from tss.store.sqlite.connection import rows as fetch


def _bound(conn: Connection, job: str, before_us: int, keep_last: int) -> str | None:
    """The id bound of a prune of ``job``; None when the job keeps every run it has."""
    keep = None
    if keep_last > 0:
        found = fetch(conn, sql.KEEP_BOUND, (job, keep_last - 1))
        if not found:
            return None
        keep = found[0][0]
    return sql.bound(before_us, keep)


def prune_runs(conn: Connection, job: str, before_us: int, keep_last: int, limit: int) -> int:
    """Delete up to ``limit`` prunable runs of ``job`` with their history, their fires
    copied into the ledger first (one write transaction)."""
    bound = _bound(conn, job, before_us, keep_last)
    if bound is None or limit <= 0:
        return 0
    ids = [row[0] for row in fetch(conn, sql.PRUNABLE, (job, bound, before_us, limit))]
    if ids:
        rows_in(conn, sql.TO_LEDGER, ids)
        for statement in shared.FORGET:
            rows_in(conn, statement, ids)
    return len(ids)


def count_runs(conn: Connection, job: str, before_us: int, keep_last: int) -> int:
    bound = _bound(conn, job, before_us, keep_last)
    if bound is None:
        return 0
    return int(fetch(conn, sql.COUNT_PRUNABLE, (job, bound, before_us))[0][0])


class SQLiteRetention(RetentionStore):
    """:class:`~tss.store.roles.RetentionStore` on SQLite (a part of
    :class:`~tss.store.sqlite.SQLiteStore`)."""

    _db: SQLiteConnection
    _clock: Callable[[], datetime]

    async def run_jobs(self) -> list[str]:
        return [row[0] for row in await self._db.read(lambda conn: fetch(conn, sql.RUN_JOBS))]

    async def count_ended_runs(
        self, job: str, *, ended_before: datetime, keep_last: int = 0
    ) -> int:
        before = encoding.before_us(ended_before)
        return await self._db.read(lambda conn: count_runs(conn, job, before, max(keep_last, 0)))

    async def prune_rows(self, kind: RowKind, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        params = (to_micros(before), limit)
        return await self._db.write(lambda conn: execute(conn, sql.ROWS[kind].delete, params))

    async def count_rows(self, kind: RowKind, *, before: datetime) -> int:
        params = (to_micros(before),)
        found = await self._db.read(lambda conn: fetch(conn, sql.ROWS[kind].counting, params))
        return int(found[0][0])

    async def list_pruned_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[PrunedFire]:
        if limit <= 0:
            return []
        params = sql.ledger_params(job, since, until, limit)
        found = await self._db.read(lambda conn: fetch(conn, sql.LEDGER, params))
        return [sql.pruned_fire(tuple(row)) for row in found]
