"""The SQLite store's fire ledger read and backfills."""

from __future__ import annotations

from datetime import datetime
from sqlite3 import IntegrityError

from tss.core.ledger import Backfill
from tss.core.models import Run
from tss.core.timeutil import to_micros
from tss.errors import Conflict
from tss.store import encoding
from tss.store.roles import LedgerStore
from tss.store.sql import ledger
from tss.store.sqlite.connection import Connection, SQLiteConnection, execute
from tss.store.sqlite.connection import rows as fetch


class SQLiteLedger(LedgerStore):
    """:class:`~tss.store.roles.LedgerStore` on SQLite."""

    _db: SQLiteConnection

    async def list_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[Run]:
        params = (job, to_micros(since), to_micros(until), max(limit, 0))
        found = await self._db.read(lambda conn: fetch(conn, ledger.FIRES, params))
        return [encoding.run_of(row) for row in found]

    async def active_runs_of(self, job: str) -> list[Run]:
        found = await self._db.read(lambda conn: fetch(conn, ledger.ACTIVE_RUNS, (job,)))
        return [encoding.run_of(row) for row in found]

    async def add_backfill(self, backfill: Backfill) -> None:
        values = ledger.backfill_values(backfill)

        def write(conn: Connection) -> None:
            try:
                execute(conn, ledger.BACKFILL_INSERT, values)
            except IntegrityError as exc:
                raise Conflict(
                    f"a backfill with id {backfill.id!r} exists already", field="id"
                ) from exc

        await self._db.write(write)

    async def list_backfills(self, job: str, *, limit: int = 100) -> list[Backfill]:
        params = (job, max(limit, 0))
        found = await self._db.read(lambda conn: fetch(conn, ledger.BACKFILLS_OF, params))
        return [ledger.backfill_of(row) for row in found]

    async def get_backfill(self, backfill_id: str) -> Backfill | None:
        params = (backfill_id,)
        found = await self._db.read(lambda conn: fetch(conn, ledger.BACKFILL_GET, params))
        return ledger.backfill_of(found[0]) if found else None

    async def active_backfills(self, *, limit: int = 100) -> list[Backfill]:
        params = (max(limit, 0),)
        found = await self._db.read(lambda conn: fetch(conn, ledger.BACKFILLS_ACTIVE, params))
        return [ledger.backfill_of(row) for row in found]

    async def update_backfill(self, backfill_id: str, *, made: int, state: str) -> None:
        params = (made, state, backfill_id)
        await self._db.write(lambda conn: execute(conn, ledger.BACKFILL_UPDATE, params))
