"""The Redis store's fire ledger read and backfills.

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

=========================  ===============================================================
``K fires:<job>``          hash scheduled_for -> run id (the runs part keeps it): one run
                           per fire; the ledger scans it for a window
``K backfill:<id>``        hash: job, fires (JSON list), made, max_active, actor, created,
                           state
``K backfills:<job>``      zset of a job's backfill ids -> created
``K backfills-active``     zset of the ids of backfills still going -> created
=========================  ===============================================================

Adding and updating a backfill are scripts (``scripts/backfills.lua``): the record and its
indexes change together. Reading a window of fires scans the job's ``fires`` hash (HSCAN:
it costs the job's stored fires, which retention keeps bounded) and reads the runs found.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from tss.core.ledger import Backfill
from tss.core.models import Run
from tss.core.timeutil import from_micros, to_micros
from tss.errors import Conflict
from tss.store.redis import scripts
from tss.store.redis.connection import RedisPart
from tss.store.roles import LedgerStore

_SCAN = 1000


class RedisLedger(RedisPart, LedgerStore):
    """The fire ledger part of :class:`~tss.store.redis.RedisStore`."""

    async def list_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[Run]:
        if limit <= 0:
            return []
        lo, hi = to_micros(since), to_micros(until)
        found: list[tuple[int, str]] = []
        with self._conn.errors():
            client = self._conn.client()
            async for fire, run_id in client.hscan_iter(f"{self.keys}fires:{job}", count=_SCAN):
                at = int(fire)
                if lo <= at < hi:
                    found.append((at, run_id))
        found.sort()
        runs = await self._conn.runs([run_id for _, run_id in found[:limit]])
        return sorted(
            (r for r in runs if r.scheduled_for is not None and r.trigger == "schedule"),
            key=lambda r: r.scheduled_for or since,
        )

    async def active_runs_of(self, job: str) -> list[Run]:
        with self._conn.errors():
            ids = await self._conn.client().smembers(f"{self.keys}active:{job}")
        return await self._conn.runs(sorted(ids))

    async def add_backfill(self, backfill: Backfill) -> None:
        fields: list[Any] = [
            "job", backfill.job,
            "fires", orjson.dumps([to_micros(f) for f in backfill.fires]).decode(),
            "made", str(backfill.made),
            "max_active", "" if backfill.max_active is None else str(backfill.max_active),
            "actor", backfill.actor,
            "created", str(to_micros(backfill.created_at)),
            "state", backfill.state,
        ]  # fmt: skip
        created = str(to_micros(backfill.created_at))
        added = await self._conn.eval(
            scripts.ADD_BACKFILL, backfill.id, backfill.job, created, backfill.state, *fields
        )
        if not added:
            raise Conflict(f"a backfill with id {backfill.id!r} exists already", field="id")

    async def list_backfills(self, job: str, *, limit: int = 100) -> list[Backfill]:
        if limit <= 0:
            return []
        with self._conn.errors():
            ids = await self._conn.client().zrevrange(f"{self.keys}backfills:{job}", 0, limit - 1)
        return await self._backfills(ids)

    async def get_backfill(self, backfill_id: str) -> Backfill | None:
        found = await self._backfills([backfill_id])
        return found[0] if found else None

    async def active_backfills(self, *, limit: int = 100) -> list[Backfill]:
        if limit <= 0:
            return []
        with self._conn.errors():
            ids = await self._conn.client().zrange(f"{self.keys}backfills-active", 0, limit - 1)
        return await self._backfills(ids)

    async def update_backfill(self, backfill_id: str, *, made: int, state: str) -> None:
        await self._conn.eval(scripts.UPDATE_BACKFILL, backfill_id, str(made), state)

    async def _backfills(self, ids: list[str]) -> list[Backfill]:
        found = await self._conn.hashes([f"{self.keys}backfill:{i}" for i in ids])
        return [_backfill_of(i, h) for i, h in zip(ids, found, strict=True) if h]


def _backfill_of(backfill_id: str, h: dict[str, str]) -> Backfill:
    return Backfill(
        id=backfill_id,
        job=h["job"],
        fires=tuple(from_micros(int(f)) for f in orjson.loads(h["fires"])),
        made=int(h["made"]),
        max_active=int(h["max_active"]) if h.get("max_active") else None,
        actor=h["actor"],
        created_at=from_micros(int(h["created"])),
        state=h["state"],  # type: ignore[arg-type]
    )
