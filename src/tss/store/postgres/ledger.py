"""The PostgreSQL store's fire ledger read and backfills."""

from __future__ import annotations

from abc import abstractmethod
from datetime import datetime

from tss.core.ledger import Backfill
from tss.core.models import Run
from tss.core.timeutil import to_micros
from tss.errors import Conflict, StoreError
from tss.store import encoding
from tss.store.postgres.connection import Pool, asyncpg_module
from tss.store.postgres.queries import numbered
from tss.store.roles import LedgerStore
from tss.store.sql import ledger

_FIRES = numbered(ledger.FIRES)
_ACTIVE_RUNS = numbered(ledger.ACTIVE_RUNS)
_INSERT = numbered(ledger.BACKFILL_INSERT)
_OF = numbered(ledger.BACKFILLS_OF)
_ACTIVE = numbered(ledger.BACKFILLS_ACTIVE)
_GET = numbered(ledger.BACKFILL_GET)
_UPDATE = numbered(ledger.BACKFILL_UPDATE)


class PostgresLedger(LedgerStore):
    """:class:`~tss.store.roles.LedgerStore` on PostgreSQL."""

    @property
    @abstractmethod
    def pool(self) -> Pool:
        """The store's pool (:class:`~tss.store.postgres.PostgresStore` opens it)."""

    async def list_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[Run]:
        found = await self.pool.fetch(
            _FIRES, job, to_micros(since), to_micros(until), max(limit, 0)
        )
        return [encoding.run_of(row) for row in found]

    async def active_runs_of(self, job: str) -> list[Run]:
        return [encoding.run_of(row) for row in await self.pool.fetch(_ACTIVE_RUNS, job)]

    async def add_backfill(self, backfill: Backfill) -> None:
        try:
            await self.pool.write(_INSERT, *ledger.backfill_values(backfill))
        except StoreError as exc:
            if isinstance(exc.__cause__, asyncpg_module().UniqueViolationError):
                raise Conflict(
                    f"a backfill with id {backfill.id!r} exists already", field="id"
                ) from exc
            raise

    async def list_backfills(self, job: str, *, limit: int = 100) -> list[Backfill]:
        return [ledger.backfill_of(row) for row in await self.pool.fetch(_OF, job, max(limit, 0))]

    async def get_backfill(self, backfill_id: str) -> Backfill | None:
        found = await self.pool.fetch(_GET, backfill_id)
        return ledger.backfill_of(found[0]) if found else None

    async def active_backfills(self, *, limit: int = 100) -> list[Backfill]:
        return [ledger.backfill_of(row) for row in await self.pool.fetch(_ACTIVE, max(limit, 0))]

    async def update_backfill(self, backfill_id: str, *, made: int, state: str) -> None:
        await self.pool.write(_UPDATE, made, state, backfill_id)
