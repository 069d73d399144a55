"""The Redis store's job definitions: create, update, read, list, pause, delete."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tss.core import flows
from tss.core.firing import refires_withdrawn
from tss.core.models import Job, JobFilter, JobSpec, Page, PauseInfo, Run
from tss.core.states import RunState
from tss.core.timeutil import from_micros
from tss.errors import Conflict, NotFound
from tss.store import encoding
from tss.store.auditing import change_of
from tss.store.paging import JobOrder, check_offset, prefix_end
from tss.store.redis import codec, scripts
from tss.store.redis.connection import BATCH, RedisConnection, RedisPart, on_each
from tss.store.roles import JobStore


def _no_last_state(name: str) -> RunState | None:
    """For a filter that is not on the newest run's state (never asked)."""
    return None


#: reads and decisions of one update_job call; a job still contended after them is refused
UPDATE_TRIES = 4


class RedisJobs(RedisPart, JobStore):
    """The job part of :class:`~tss.store.redis.RedisStore`."""

    async def create_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        fire = codec.micros_text(next_fire_at)
        paused = "1" if spec.paused else "0"
        change = change_of("created", rolled_back)
        now = await self._conn.eval(
            scripts.CREATE_JOB, spec.name, encoding.spec_text(spec), fire or "", paused,
            actor, change,
        )  # fmt: skip
        if now is None:
            raise Conflict.job_exists(spec.name)
        at = from_micros(int(now))
        return Job(spec, at, at, encoding.when(encoding.micros(next_fire_at)), 1)

    async def update_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        expected_version: int | None = None,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        change = change_of("updated", rolled_back)
        fire = codec.micros_text(next_fire_at) or ""
        want = "" if expected_version is None else str(expected_version)
        paused = "1" if spec.paused else "0"
        key = f"{self.keys}job:{spec.name}"
        for _ in range(UPDATE_TRIES):
            # Whether the withdrawn fires are made again is decided on the stored spec;
            # the script refuses if that spec changed meanwhile, and it is decided again.
            with self._conn.errors():
                seen = await self._conn.client().hget(key, "spec")
            refire = seen is not None and refires_withdrawn(encoding.spec_of(seen, spec.name), spec)
            reply = await self._conn.eval(
                scripts.UPDATE_JOB, spec.name, encoding.spec_text(spec), fire, paused, want,
                "1" if refire else "0", seen or "", actor, change,
            )  # fmt: skip
            if reply[0] != "moved":
                break
        else:
            raise Conflict.kept_changing(spec.name)
        if reply[0] == "missing":
            raise NotFound.job(spec.name)
        if reply[0] == "stale":
            raise Conflict.stale_version(spec.name, reply[1], expected_version)
        created, version, now = int(reply[1]), int(reply[2]), int(reply[3])
        stored = int(reply[4]) if len(reply) > 4 and reply[4] else None
        pause = codec.pause_of(reply[5]) if len(reply) > 5 and spec.paused else None
        return Job(spec, from_micros(created), from_micros(now), encoding.when(stored), version,
                   pause=pause)  # fmt: skip

    async def get_job(self, name: str) -> Job:
        [found] = await self._conn.hashes([f"{self.keys}job:{name}"])
        if not found:
            raise NotFound.job(name)
        return codec.job_of(found, name)

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        unique = list(dict.fromkeys(names))
        hashes = await self._conn.hashes([f"{self.keys}job:{name}" for name in unique])
        return {name: codec.job_of(h, name) for name, h in zip(unique, hashes, strict=True) if h}

    async def list_jobs(
        self,
        job_filter: JobFilter | None = None,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        selected = job_filter or JobFilter()
        prefix = selected.prefix
        order = JobOrder.of(sort)
        after, offset = order.after(cursor), check_offset(offset)
        limit = max(limit, 0)
        end = prefix_end(prefix) if prefix else None
        low, high = (f"[{prefix}" if prefix else "-"), (f"({end}" if end is not None else "+")
        key = f"{self.keys}jobs"
        if order.by_name and selected == JobFilter(prefix=prefix):
            # The cheap path: one range of the name index, one page of hashes.
            if after is not None and not order.descending and (not prefix or after[0] >= prefix):
                low = f"({after[0]}"
            if after is not None and order.descending and (end is None or after[0] < end):
                high = f"({after[0]}"

            def ranges(pipe: Any) -> None:
                pipe.zlexcount(key, f"[{prefix}" if prefix else "-", f"({end}" if end else "+")
                if order.descending:
                    pipe.zrevrangebylex(key, high, low, start=offset, num=limit + 1)
                else:
                    pipe.zrangebylex(key, low, high, start=offset, num=limit + 1)

            total, names = await self._conn.pipe(ranges)
            found = await self.get_jobs(names[:limit])
            jobs = [found[name] for name in names[:limit] if name in found]
            more = len(names) > limit and bool(jobs)
            return Page(jobs, order.cursor(jobs[-1]) if more else None, total)
        with self._conn.errors():
            names = await self._conn.client().zrangebylex(key, low, high)
        candidates = list((await self.get_jobs(names)).values())
        # The newest runs are read only for the jobs the other conditions keep.
        newest: dict[str, Run] = {}
        if selected.last_state is not None:
            kept = replace(selected, last_state=None)
            candidates = [job for job in candidates if kept.matches(job, _no_last_state)]
            newest = await self.last_runs([job.name for job in candidates])

        def last_state(name: str) -> RunState | None:
            return newest[name].state if name in newest else None

        jobs = [job for job in candidates if selected.matches(job, last_state)]
        keyed = sorted(((order.key(job), job) for job in jobs), reverse=order.descending)
        rest = [job for k, job in keyed if after is None or order.follows(k, after)]
        page = rest[offset : offset + limit]
        more = bool(page) and len(rest) > offset + len(page)
        return Page(page, order.cursor(page[-1]) if more else None, len(jobs))

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        unique = list(dict.fromkeys(names))
        found: dict[str, Run] = {}
        for part in encoding.chunks(unique, BATCH):
            hashes = await self._conn.eval(scripts.LAST_RUNS, *part)
            found.update(
                (name, codec.run_of(row)) for name, row in zip(part, hashes, strict=True) if row
            )
        return found

    async def delete_job(self, name: str, *, actor: str = "user") -> None:
        if not await self._conn.eval(scripts.DELETE_JOB, name, actor):
            raise NotFound.job(name)

    async def set_paused(self, name: str, paused: bool, *, pause: PauseInfo | None = None) -> Job:
        kept = pause if paused else None
        until = "" if kept is None else codec.micros_text(kept.until) or ""
        flat = await self._conn.eval(
            scripts.SET_PAUSED, name, "1" if paused else "0", codec.pause_text(kept), until
        )
        if flat is None:
            raise NotFound.job(name)
        return codec.job_of(codec.pairs(flat))

    async def resume_due_pauses(self, *, limit: int) -> list[Job]:
        found = await self._conn.eval(scripts.RESUME_DUE_PAUSES, str(max(limit, 0)))
        return [codec.job_of(codec.pairs(flat)) for flat in found or ()]

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return (await downstream_specs(self._conn, [name])).get(name, {})


async def downstream_specs(
    conn: RedisConnection, names: Sequence[str]
) -> dict[str, dict[str, JobSpec]]:
    """The specs of the jobs downstream of each of ``names`` that has any (read level by
    level; a definition changed meanwhile is a race with the firing, as in the SQL
    stores, and the stored graph has no cycle)."""
    names = sorted(set(names))
    if not names:
        return {}
    keys = conn.keys
    [any_parent] = await conn.pipe(lambda pipe: [pipe.scard(f"{keys}parents")])
    if not any_parent:
        return {}  # no job has dependants: the common case costs one command
    has = await conn.pipe(lambda pipe: [pipe.sismember(f"{keys}parents", n) for n in names])
    roots = [name for name, yes in zip(names, has, strict=True) if yes]
    children: dict[str, set[str]] = {}
    frontier = roots
    while frontier:
        found = await conn.pipe(on_each("smembers", [f"{keys}children:{n}" for n in frontier]))
        children.update(zip(frontier, (set(f) for f in found), strict=True))
        frontier = sorted({c for f in found for c in f} - children.keys())
    below = {root: flows.downstream(root, lambda n: children.get(n, ())) for root in roots}
    wanted = sorted({name for names in below.values() for name in names})
    specs: dict[str, JobSpec] = {}
    for part in encoding.chunks(wanted, BATCH):
        texts = await conn.pipe(on_each("hget", [f"{keys}job:{n}" for n in part], "spec"))
        specs.update(
            (name, encoding.spec_of(text)) for name, text in zip(part, texts, strict=True) if text
        )
    return {
        root: {name: specs[name] for name in names if name in specs}
        for root, names in below.items()
        if any(name in specs for name in names)
    }
