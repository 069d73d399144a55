"""The Redis store's reads of what happened: runs, flows, throughput, attempts, logs and
events."""

from __future__ import annotations

from datetime import datetime

from tss.core import flows
from tss.core.models import Attempt, Event, Page, Run, RunFilter
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.errors import NotFound
from tss.store.paging import FLOWS, bucket_us, check_offset, run_after, run_cursor
from tss.store.redis import codec, scripts
from tss.store.redis.connection import RedisPart, on_each
from tss.store.redis.listing import filter_uses_only, index_keys_for, newest_runs_matching
from tss.store.roles import HistoryStore

_TERMINAL = [state for state in RunState if state.terminal]


class RedisHistory(RedisPart, HistoryStore):
    """The history part of :class:`~tss.store.redis.RedisStore`."""

    async def get_run(self, run_id: str) -> Run:
        found = await self._conn.runs([run_id])
        if not found:
            raise NotFound.run(run_id)
        return found[0]

    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        before, offset = run_after(cursor), check_offset(offset)
        if limit <= 0:
            index_keys_for(self.keys, run_filter)  # still refuse a bad filter
            return Page([])
        runs = await newest_runs_matching(self._conn, run_filter, before, offset, limit + 1)
        page = runs[:limit]
        # No total: counting a run history of millions on every page would not do.
        return Page(page, run_cursor(page[-1].id) if len(runs) > limit and page else None)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        counts = dict.fromkeys(RunState, 0)
        if filter_uses_only(run_filter, "states"):
            wanted = run_filter.states if run_filter is not None else ()
            states = list(dict.fromkeys(wanted)) if wanted else list(RunState)
            keys = [f"{self.keys}state:{RunState(state).value}" for state in states]
            sizes = await self._conn.pipe(on_each("zcard", keys))
            counts.update(zip(map(RunState, states), sizes, strict=True))
            return counts
        for run in await newest_runs_matching(self._conn, run_filter, None, 0, 2**62):
            counts[run.state] += 1
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        before = run_after(cursor, FLOWS)
        if limit <= 0:
            return Page([])
        upper = f"({before}" if before is not None else "+"
        with self._conn.errors():
            found = await self._conn.client().zrevrangebylex(
                f"{self.keys}flows", upper, "-", start=0, num=limit + 1
            )
        ids = found[:limit]
        members = await self._conn.pipe(
            on_each("smembers", [f"{self.keys}flow:{flow_id}" for flow_id in ids])
        )
        runs = {run.id: run for run in await self._conn.runs([m for ms in members for m in ms])}
        items = [
            flows.FlowSummary.of(
                runs[flow_id], [flows.FlowRun.of(runs[m]) for m in ms if m in runs]
            )
            for flow_id, ms in zip(ids, members, strict=True)
            if flow_id in runs
        ]
        more = len(found) > limit and items
        return Page(items, run_cursor(items[-1].flow_id, FLOWS) if more else None)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width, start = bucket_us(bucket), to_micros(since)
        ended = await self._conn.pipe(
            lambda pipe: [
                pipe.zrangebyscore(f"{self.keys}ended:{s.value}", start, "+inf", withscores=True)
                for s in _TERMINAL
            ]
        )
        counts: dict[tuple[int, str], int] = {}
        for state, rows in zip(_TERMINAL, ended, strict=True):
            for _, score in rows:
                slot = int(score) // width * width
                counts[slot, state.value] = counts.get((slot, state.value), 0) + 1
        return [
            (from_micros(slot), RunState(state), count)
            for (slot, state), count in sorted(counts.items())
        ]

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        found = await self._conn.eval(scripts.ATTEMPTS, run_id)
        if found is None:
            raise NotFound.run(run_id)
        return [codec.attempt_of(run_id, codec.pairs(flat)) for flat in found]

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        reply = await self._conn.eval(scripts.LOGS, run_id, "" if attempt is None else str(attempt))
        if reply[0] == "norun":
            raise NotFound.run(run_id)
        if reply[0] == "noattempt":
            raise NotFound.attempt(run_id, attempt)
        return reply[1], reply[2]

    async def last_event_id(self) -> int:
        with self._conn.errors():
            last = await self._conn.client().get(f"{self.keys}event-id")
        return int(last or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        if limit <= 0:
            return []
        after = max(after, 0)
        if run_id is not None:
            entries = await self._conn.eval(scripts.RUN_EVENTS, run_id, str(after), str(limit))
            return [codec.event_of(entry_id, fields[1]) for entry_id, fields in entries]
        with self._conn.errors():
            rows = await self._conn.client().xrange(
                f"{self.keys}events", min=f"{after + 1}-0", max="+", count=limit
            )
        return [codec.event_of(entry_id, fields["e"]) for entry_id, fields in rows]
