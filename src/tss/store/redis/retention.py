"""The Redis store's retention: pruning history a batch per script, and the fire ledger.

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

=======================  =================================================================
``K ledger:<job>``       hash fire time -> what became of the pruned fire (JSON: r run id,
                         s state, f finished, w reason)
``K ledger-at:<job>``    zset of the job's ledger fire times (score and member): windows
``K ledger``             zset ``<job> <fire time>`` -> fire time: the ledger's own retention
=======================  =================================================================

A prune of a job's runs is the ``prune_runs`` script (``scripts/retention.lua``): one
batch, its ledger rows and the deletes together. A dry run counts in chunks of
:data:`COUNT_CHUNK` ranks per script call, so no one call holds Redis for long.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from tss.core.retention import PrunedFire, RowKind
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.store import encoding
from tss.store.redis import codec, scripts
from tss.store.redis.connection import RedisPart
from tss.store.roles import RetentionStore
from tss.store.sql.retention import bound as id_bound

#: runs (or alerts) read per script call of a count
COUNT_CHUNK = 5000
#: job-runs keys read per SCAN step of run_jobs
_SCAN = 1000


class RedisRetention(RedisPart, RetentionStore):
    """:class:`~tss.store.roles.RetentionStore` on Redis (and ``delete_ended_runs``)."""

    async def delete_ended_runs(
        self, job: str, *, limit: int, ended_before: datetime | None = None, keep_last: int = 0
    ) -> int:
        if limit <= 0:
            return 0
        before = encoding.before_us(ended_before)
        deleted = await self._conn.eval(
            scripts.PRUNE_RUNS, job, str(before), str(limit), str(max(keep_last, 0)),
            id_bound(before, None),
        )  # fmt: skip
        return int(deleted)

    async def run_jobs(self) -> list[str]:
        pattern, start = f"{self.keys}job-runs:*", len(f"{self.keys}job-runs:")
        names: set[str] = set()
        with self._conn.errors():
            async for key in self._conn.client().scan_iter(match=pattern, count=_SCAN):
                names.add(key[start:])
        return sorted(names)

    async def count_ended_runs(
        self, job: str, *, ended_before: datetime, keep_last: int = 0
    ) -> int:
        before = encoding.before_us(ended_before)
        total, rank = 0, 0
        while rank >= 0:
            found, rank = await self._conn.eval(
                scripts.COUNT_PRUNABLE, job, str(before), str(max(keep_last, 0)),
                id_bound(before, None), str(rank), str(COUNT_CHUNK),
            )  # fmt: skip
            total += int(found)
            rank = int(rank)
        return total

    def _alerts_before(self, before: datetime) -> str:
        return codec.alert_member(to_micros(before), "")[:-1]

    async def prune_rows(self, kind: RowKind, *, before: datetime, limit: int) -> int:
        if limit <= 0:
            return 0
        at = to_micros(before)
        if kind == "alerts":
            # The settled alerts among the oldest few pages (pending ones are skipped).
            found, _ = await self._conn.eval(
                scripts.PRUNE_ALERTS, self._alerts_before(before), str(limit), "0",
                str(limit * 4),
            )  # fmt: skip
            return int(found)
        if kind == "silences":
            return int(await self._conn.eval(scripts.PRUNE_SILENCES, str(at), str(limit)))
        if kind == "ledger":
            return int(await self._conn.eval(scripts.PRUNE_LEDGER, str(at), str(limit)))
        found, _ = await self._conn.eval(scripts.PRUNE_AUDIT, str(at), str(limit), "0", str(limit))
        return int(found)

    async def count_rows(self, kind: RowKind, *, before: datetime) -> int:
        at = to_micros(before)
        if kind == "alerts":
            total, offset, member = 0, 0, self._alerts_before(before)
            while True:
                found, read = await self._conn.eval(
                    scripts.PRUNE_ALERTS, member, "0", str(offset), str(COUNT_CHUNK)
                )
                total, offset = total + int(found), offset + int(read)
                if int(read) < COUNT_CHUNK:
                    return total
        if kind == "silences":
            return int(await self._conn.eval(scripts.PRUNE_SILENCES, str(at), "0"))
        if kind == "ledger":
            with self._conn.errors():
                found = await self._conn.client().zcount(f"{self.keys}ledger", "-inf", f"({at}")
            return int(found)
        total, offset = 0, 0
        while True:
            found, end = await self._conn.eval(
                scripts.PRUNE_AUDIT, str(at), "0", str(offset), str(COUNT_CHUNK)
            )
            total, offset = total + int(found), offset + COUNT_CHUNK
            if int(end):
                return total

    async def list_pruned_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[PrunedFire]:
        if limit <= 0:
            return []
        flat = await self._conn.eval(
            scripts.READ_LEDGER, job, str(to_micros(since)), str(to_micros(until)), str(limit)
        )
        fires = []
        for at, text in zip(flat[::2], flat[1::2], strict=True):
            entry = orjson.loads(text)
            finished = from_micros(int(entry["f"])) if entry.get("f") else None
            fires.append(
                PrunedFire(
                    job, from_micros(int(at)), entry["r"], RunState(entry["s"]), finished,
                    entry.get("w") or None,
                )
            )  # fmt: skip
        return fires
