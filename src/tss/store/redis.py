"""The Redis store: the scheduling data in Redis, every multi-key step one Lua script.

URL: ``redis://[[user]:password@]host[:port][/db][?option=value&...]`` (``rediss://`` for
TLS). ``prefix`` (default ``tss``) is TSS's: every key starts with ``<prefix>:store:``, so
stores, brokers and test runs sharing a database never meet. Every other option is
redis-py's (``socket_timeout``, ``max_connections``, ``ssl_cert_reqs``...). Needs Redis 5 or
later, one server or a Sentinel group (scripts build their keys, so not a Cluster).

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

====================  ====================================================================
``K job:<name>``      hash: name, spec (JSON), next, created, updated, version, paused
``K jobs``            zset of job names, score 0: name order (ZRANGEBYLEX), counts
``K due``             zset name -> next fire, unpaused jobs only: what is due is a range
``K run:<id>``        hash: a run's fields (``_redis_lua.RUN_FIELDS``), ``pub`` (published
                      at) and ``tmo`` (its timeout in microseconds)
``K runs``            zset of every run id, score 0 (ids sort by creation: newest first)
``K job-runs:<job>``  zset of a job's run ids, score 0: its runs and its newest run
``K state:<state>``   zset of run ids in a state, score 0: counts and state filters
``K active:<job>``    set of a job's scheduled, queued, running and retrying runs
``K fires:<job>``     hash scheduled_for -> run id: one run per fire
``K keys:<job>``      hash idempotency key -> run id
``K queue:<pool>``    zset of queued runs: score -priority, member ``<queued_at:017>:<id>``
``K unpub``, ``pub``  zsets of queued runs never published (by queued_at) / published (by
                      published_at): the outbox
``K pending``         zset scheduled and retrying runs -> not_before (or created)
``K leased``          zset running runs -> lease end; ``K deadline``: -> start + timeout
``K ended:<state>``   zset terminal runs -> finished_at: throughput
``K attempt:<id>:<n>`` hash: one attempt (worker, state, times, result, error, logs)
``K events``          stream, entry ``<event id>-0``; ``K event-id`` the INCR counter;
                      ``K run-events:<id>`` list of a run's event ids
``K flow:<id>``       set of the run ids of a flow (``tss.store._redis_flows``)
``K flows``           zset of the ids of the runs that started flows, score 0: flow listing
``K children:<job>``  set of the jobs that depend on a job; ``K parents``: jobs with any
``K worker:<id>``     hash, ``K workers`` set of ids
``K token:<id>``      hash, ``K tokens`` zset id -> created_at
``K session:<hash>``  hash: a dashboard session (token_id, created_at, expires_at); it
                      expires in Redis at its ``expires_at``
``K schema``          the layout's version
====================  ====================================================================

How the guarantees hold (DESIGN.md section 3; the scripts are in ``_redis_lua``):

- Firing is optimistic: one read script returns the due jobs (``ZRANGEBYSCORE due``, so a
  tick costs what is due, not how many jobs exist) with their active run counts and the
  store's now; the planner runs here; then one script per batch applies each plan only if
  the job still has the next fire, version and active count the planner saw, inserting the
  runs unless ``fires:<job>`` has the fire already. Two schedulers that read the same job:
  the first script to run fires it, the second finds it moved on and skips it.
- Claims, heartbeats and finishes are scripts that compare the attempt number (fencing).
- Time is Redis ``TIME`` (inside the scripts too).
- Event ids come from INCR inside the script that writes the transition.

Costs: listing jobs by name (with or without a prefix) reads one page; any other sort or a
tag, pool, paused or last-state filter reads every job in the prefix range and sorts here.
Listing runs newest first reads one page when unfiltered or filtered by only a job or only
one state; other filters read the matching index newest first and filter here until the
page is full. Counting runs by state is one ZCARD per state unless filtered by more than
states. Nothing is ever trimmed: runs, attempts and events stay, as in the SQL stores.

Errors: connection and server errors become one-line `StoreError`s naming the URL (password
hidden). redis-py retries a command three times on a dropped connection; every script is
safe to run twice (a second claim or finish of the same attempt is refused, a second insert
finds the first).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from tss.core import flows
from tss.core.firing import REPLACED, refires_withdrawn
from tss.core.models import (
    Attempt,
    ErrorInfo,
    Event,
    Job,
    JobFilter,
    JobSpec,
    NewRun,
    Outcome,
    Page,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState, can_transition, check_transition
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import worker_state
from tss.errors import Conflict, NotFound, StoreError
from tss.store import _redis_codec as rc
from tss.store import _redis_lua as lua
from tss.store import encoding as c
from tss.store._redis_conn import BATCH, RedisConnection
from tss.store._redis_listing import only, sources, walk
from tss.store.base import DashboardSession, Planner, Store
from tss.store.paging import (
    FLOWS,
    JobOrder,
    bucket_us,
    check_offset,
    prefix_end,
    run_after,
    run_cursor,
)

#: the version of the key layout this module writes
SCHEMA = "1"
#: reads and plans of one fire_due_jobs call; jobs still contended after them wait a tick
_FIRE_TRIES = 4
_TERMINAL = [state for state in RunState if state.terminal]


def _each(command: str, keys: Sequence[str], *args: str) -> Callable[[Any], object]:
    """A pipeline builder: ``command`` on each of ``keys`` (with ``args``)."""
    return lambda pipe: [getattr(pipe, command)(key, *args) for key in keys]


def _items(news: Sequence[NewRun], specs: dict[str, dict[str, JobSpec]]) -> list[Any]:
    """``news`` as the insert scripts take them, then the waiting runs of the flows they
    start, each marked with its ``root``: the scripts insert those only with their root."""
    items = [rc.new_run_item(new) for new in news]
    for member in flows.members_of(news, {new.id for new in news}, specs):
        items.append({**rc.new_run_item(member), "root": member.flow_id})
    return items


class RedisStore(Store):
    """A store in Redis; any number of instances and processes may share it."""

    name = "redis"
    remote = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn = RedisConnection(url)
        self.prefix = self._conn.prefix
        #: the start of every key of this store
        self.keys = self._conn.keys

    # -- lifecycle -------------------------------------------------------------------------

    async def exists(self) -> bool:
        """Whether the keys under this store's prefix were ever marked with a layout (the
        mark is written by :meth:`start`, which a reading command does not call first)."""
        with self._conn.errors():
            return bool(await self._conn.client().exists(f"{self.keys}schema"))

    async def start(self) -> None:
        """Connect, and mark the keys with the layout's version (refusing another one)."""
        key = f"{self.keys}schema"
        try:
            with self._conn.errors():
                client = self._conn.client()
                await client.set(key, SCHEMA, nx=True)
                found = await client.get(key)
            if found != SCHEMA:
                raise StoreError(
                    f"the Redis store at {self._conn.shown} (prefix {self.prefix!r}) holds data in"
                    f" layout {found!r}, and this TSS writes layout {SCHEMA!r}: use another"
                    " prefix, or the TSS version that wrote it"
                )
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        await self._conn.close()

    async def now(self) -> datetime:
        with self._conn.errors():
            seconds, micros = await self._conn.client().time()
        return from_micros(int(seconds) * 1_000_000 + int(micros))

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        fire = rc.micros_text(next_fire_at)
        paused = "1" if spec.paused else "0"
        now = await self._conn.eval(
            lua.CREATE_JOB, spec.name, c.spec_text(spec), fire or "", paused
        )
        if now is None:
            raise Conflict(f"a job named {spec.name!r} exists already", field="name")
        at = from_micros(int(now))
        return Job(spec, at, at, c.when(c.micros(next_fire_at)), 1)

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        fire = rc.micros_text(next_fire_at) or ""
        want = "" if expected_version is None else str(expected_version)
        paused = "1" if spec.paused else "0"
        key = f"{self.keys}job:{spec.name}"
        for _ in range(_FIRE_TRIES):
            # Whether the withdrawn fires are made again is decided on the stored spec;
            # the script refuses if that spec changed meanwhile, and it is decided again.
            with self._conn.errors():
                seen = await self._conn.client().hget(key, "spec")
            refire = seen is not None and refires_withdrawn(c.spec_of(seen, spec.name), spec)
            reply = await self._conn.eval(
                lua.UPDATE_JOB, spec.name, c.spec_text(spec), fire, paused, want,
                "1" if refire else "0", seen or "",
            )  # fmt: skip
            if reply[0] != "moved":
                break
        else:
            raise Conflict(
                f"job {spec.name!r} kept changing while it was updated: read it again and retry",
                field="version",
            )
        if reply[0] == "missing":
            raise NotFound(f"no job named {spec.name!r}", field="name")
        if reply[0] == "stale":
            raise Conflict.stale_version(spec.name, reply[1], expected_version)
        created, version, now = int(reply[1]), int(reply[2]), int(reply[3])
        stored = int(reply[4]) if len(reply) > 4 and reply[4] else None
        return Job(spec, from_micros(created), from_micros(now), c.when(stored), version)

    async def get_job(self, name: str) -> Job:
        [found] = await self._conn.hashes([f"{self.keys}job:{name}"])
        if not found:
            raise NotFound(f"no job named {name!r}", field="name")
        return rc.job_of(found, name)

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        unique = list(dict.fromkeys(names))
        hashes = await self._conn.hashes([f"{self.keys}job:{name}" for name in unique])
        return {name: rc.job_of(h, name) for name, h in zip(unique, hashes, strict=True) if h}

    async def list_jobs(
        self,
        job_filter: JobFilter | None = None,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        f = job_filter or JobFilter()
        prefix, tag, pool, paused, last_state = f.prefix, f.tag, f.pool, f.paused, f.last_state
        order = JobOrder.of(sort)
        after, offset = order.after(cursor), check_offset(offset)
        limit = max(limit, 0)
        end = prefix_end(prefix) if prefix else None
        low, high = (f"[{prefix}" if prefix else "-"), (f"({end}" if end is not None else "+")
        key = f"{self.keys}jobs"
        if order.by_name and tag is None and pool is None and paused is None and last_state is None:
            # The cheap path: one range of the name index, one page of hashes.
            if after is not None and not order.descending and (not prefix or after[0] >= prefix):
                low = f"({after[0]}"
            if after is not None and order.descending and (end is None or after[0] < end):
                high = f"({after[0]}"

            def ranges(p: Any) -> None:
                p.zlexcount(key, f"[{prefix}" if prefix else "-", f"({end}" if end else "+")
                if order.descending:
                    p.zrevrangebylex(key, high, low, start=offset, num=limit + 1)
                else:
                    p.zrangebylex(key, low, high, start=offset, num=limit + 1)

            total, names = await self._conn.pipe(ranges)
            found = await self.get_jobs(names[:limit])
            jobs = [found[name] for name in names[:limit] if name in found]
            more = len(names) > limit and bool(jobs)
            return Page(jobs, order.cursor(jobs[-1]) if more else None, total)
        with self._conn.errors():
            names = await self._conn.client().zrangebylex(key, low, high)
        candidates = (await self.get_jobs(names)).values()
        jobs = [
            job
            for job in candidates
            if (tag is None or tag in job.spec.tags)
            and (pool is None or job.spec.pool == pool)
            and (paused is None or job.spec.paused == paused)
        ]
        if last_state is not None:
            newest = await self.last_runs([job.name for job in jobs])
            jobs = [j for j in jobs if j.name in newest and newest[j.name].state is last_state]
        keyed = sorted(((order.key(job), job) for job in jobs), reverse=order.descending)
        rest = [job for k, job in keyed if after is None or order.follows(k, after)]
        page = rest[offset : offset + limit]
        more = bool(page) and len(rest) > offset + len(page)
        return Page(page, order.cursor(page[-1]) if more else None, len(jobs))

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        unique = list(dict.fromkeys(names))
        found: dict[str, Run] = {}
        for part in c.chunks(unique, BATCH):
            hashes = await self._conn.eval(lua.LAST_RUNS, *part)
            found.update(
                (name, rc.run_of(row)) for name, row in zip(part, hashes, strict=True) if row
            )
        return found

    async def delete_job(self, name: str) -> None:
        if not await self._conn.eval(lua.DELETE_JOB, name):
            raise NotFound(f"no job named {name!r}", field="name")

    async def set_paused(self, name: str, paused: bool) -> Job:
        flat = await self._conn.eval(lua.SET_PAUSED, name, "1" if paused else "0")
        if flat is None:
            raise NotFound(f"no job named {name!r}", field="name")
        return rc.job_of(rc.pairs(flat))

    # -- scheduling ------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        created: list[Run] = []
        fired = 0
        names: list[str] = []  # the jobs to read again: their plan was made on a stale view
        for _ in range(_FIRE_TRIES if limit > 0 else 0):
            read = await self._conn.eval(
                lua.FIRE_READ, str(c.seconds_us(horizon)), str(limit), *names
            )
            specs = await self._downstream([rc.pairs(flat)["name"] for flat, _ in read[1]])
            plans, news = self._plan(planner, from_micros(int(read[0])), read[1], specs)
            names = []
            for part in c.chunks(plans, BATCH):
                reply = await self._conn.eval(lua.FIRE, actor, orjson.dumps(list(part)), REPLACED)
                at, count, ids, stale = reply
                fired += count
                names += stale
                for run_id in ids:
                    if news[run_id].state is RunState.QUEUED:
                        created.append(c.created_run(news[run_id], int(at)))
            if not names:
                break
        return created, fired

    @staticmethod
    def _plan(
        planner: Planner,
        now: datetime,
        due: list[Any],
        specs: dict[str, dict[str, JobSpec]],
    ) -> tuple[list[dict[str, Any]], dict[str, NewRun]]:
        """The plans of the due jobs (as the fire script takes them) and their new runs,
        with the waiting runs of the flows they start (``specs``: as _downstream gives)."""
        plans: list[dict[str, Any]] = []
        news: dict[str, NewRun] = {}
        for flat, active in due:
            seen = rc.pairs(flat)
            job = rc.job_of(seen)
            firing = planner(job, now, active)
            for new in firing.runs:
                check_transition(None, new.state)
            firing.runs = flows.with_flows(firing.runs, specs)
            news.update((new.id, new) for new in firing.runs)
            plan: dict[str, Any] = {
                "name": job.name,
                "seen": seen["next"],
                "version": seen["version"],
                "active": active,
                "cancel": firing.cancel_active,
                "runs": _items(firing.runs, specs),
            }
            if firing.expected_next_fire_at is not None:
                plan["expect"] = str(to_micros(firing.expected_next_fire_at))
            if firing.next_fire_at is not None:
                plan["to"] = str(to_micros(firing.next_fire_at))
            plans.append(plan)
        return plans, news

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        if limit <= 0:
            return []
        early = str(c.seconds_us(ahead))
        return rc.runs_of(await self._conn.eval(lua.PROMOTE, actor, str(limit), early))

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        due, pending = await self._conn.pipe(
            lambda p: [
                p.zrange(f"{self.keys}due", 0, 0, withscores=True),
                p.zrange(f"{self.keys}pending", 0, 0, withscores=True),
            ]
        )
        times = [int(score) - c.seconds_us(horizon) for _, score in due]
        times += [int(score) - c.seconds_us(ahead) for _, score in pending]
        return from_micros(min(times)) if times else None

    # -- runs ------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if not runs:
            return []
        specs = await self._downstream([new.job for new in runs if flows.starts_flow(new)])
        runs = flows.with_flows(runs, specs)
        reply = await self._conn.eval(lua.CREATE_RUNS, actor, orjson.dumps(_items(runs, specs)))
        if reply[0] == "conflict":
            raise Conflict(f"a run with id {reply[1]!r} exists already", field="id")
        now_us, out = int(reply[1]), list[tuple[Run, bool]]()
        for new, item in zip(runs, reply[2], strict=True):
            if item[1] == 1:
                out.append((c.created_run(new, now_us), True))
            else:
                out.append((rc.run_of(item[2]), False))
        return out

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return (await self._downstream([name])).get(name, {})

    async def _downstream(self, names: Sequence[str]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each of ``names`` that has any (read level by
        level; a definition changed meanwhile is a race with the firing, as in the SQL
        stores, and the stored graph has no cycle)."""
        names = sorted(set(names))
        if not names:
            return {}
        k = self.keys
        [any_parent] = await self._conn.pipe(lambda p: [p.scard(f"{k}parents")])
        if not any_parent:
            return {}  # no job has dependants: the common case costs one command
        has = await self._conn.pipe(lambda p: [p.sismember(f"{k}parents", n) for n in names])
        roots = [name for name, yes in zip(names, has, strict=True) if yes]
        children: dict[str, set[str]] = {}
        frontier = roots
        while frontier:
            found = await self._conn.pipe(_each("smembers", [f"{k}children:{n}" for n in frontier]))
            children.update(zip(frontier, (set(f) for f in found), strict=True))
            frontier = sorted({c for f in found for c in f} - children.keys())
        below = {root: flows.downstream(root, lambda n: children.get(n, ())) for root in roots}
        wanted = sorted({name for names in below.values() for name in names})
        specs: dict[str, JobSpec] = {}
        for part in c.chunks(wanted, BATCH):
            texts = await self._conn.pipe(_each("hget", [f"{k}job:{n}" for n in part], "spec"))
            specs.update(
                (name, c.spec_of(text)) for name, text in zip(part, texts, strict=True) if text
            )
        return {
            root: {name: specs[name] for name in names if name in specs}
            for root, names in below.items()
            if any(name in specs for name in names)
        }

    async def get_run(self, run_id: str) -> Run:
        found = await self._conn.runs([run_id])
        if not found:
            raise NotFound(f"no run with id {run_id!r}", field="run_id")
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
            sources(self.keys, run_filter)  # still refuse a bad filter
            return Page([])
        runs = await walk(self._conn, run_filter, before, offset, limit + 1)
        page = runs[:limit]
        # No total: counting a run history of millions on every page would not do.
        return Page(page, run_cursor(page[-1].id) if len(runs) > limit and page else None)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        counts = dict.fromkeys(RunState, 0)
        f = run_filter
        if only(f, "states"):
            states = list(RunState) if f is None or not f.states else list(dict.fromkeys(f.states))
            sizes = await self._conn.pipe(
                lambda p: [p.zcard(f"{self.keys}state:{RunState(s).value}") for s in states]
            )
            counts.update(zip(map(RunState, states), sizes, strict=True))
            return counts
        for run in await walk(self._conn, f, None, 0, 2**62):
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
            _each("smembers", [f"{self.keys}flow:{flow_id}" for flow_id in ids])
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
            lambda p: [
                p.zrangebyscore(f"{self.keys}ended:{s.value}", start, "+inf", withscores=True)
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
        found = await self._conn.eval(lua.ATTEMPTS, run_id)
        if found is None:
            raise NotFound(f"no run with id {run_id!r}", field="run_id")
        return [rc.attempt_of(run_id, rc.pairs(flat)) for flat in found]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self._conn.eval(lua.MARK_PUBLISHED, *dict.fromkeys(run_ids))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        if limit <= 0:
            return []
        args = (str(c.seconds_us(older_than)), str(c.seconds_us(republish_after)), str(limit))
        found = rc.runs_of(await self._conn.eval(lua.FIND_UNPUBLISHED, *args))
        runs = {run.id: run for run in found if run.state is RunState.QUEUED}
        ordered = sorted(runs.values(), key=lambda r: (r.queued_at or r.created_at, r.id))
        return ordered[:limit]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        found = rc.runs_of(await self._conn.eval(lua.FETCH_QUEUED, str(limit), *pools))
        return [run for run in found if run.state is RunState.QUEUED]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        if not run_ids:
            return []
        lease_us = str(c.seconds_us(lease))
        found = await self._conn.eval(lua.CLAIM, worker_id, lease_us, *dict.fromkeys(run_ids))
        return rc.runs_of(found)

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        pairs = [part for run_id, number in held for part in (run_id, str(number))]
        lease_us = str(c.seconds_us(lease))
        lost: list[str] = await self._conn.eval(
            lua.HEARTBEAT, worker_id, lease_us, str(len(held)), *pairs
        )
        return lost

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        legal = [can_transition(RunState.RUNNING, out.target) for out in outcomes]
        items = [rc.outcome_item(out) for out, ok in zip(outcomes, legal, strict=True) if ok]
        replies = iter(
            await self._conn.eval(lua.FINISH, actor, orjson.dumps(items)) if items else []
        )
        return [ok and next(replies) == 1 for ok in legal]

    async def expired_runs(self, *, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        found = rc.runs_of(await self._conn.eval(lua.DUE_IN, "leased", "0", "1", str(limit)))
        return [run for run in found if run.state is RunState.RUNNING]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        grace_us = str(c.seconds_us(grace))
        found = rc.runs_of(await self._conn.eval(lua.DUE_IN, "deadline", grace_us, "0", str(limit)))
        # The index orders by deadline; runs are given oldest start first, as elsewhere.
        running = [run for run in found if run.state is RunState.RUNNING]
        return sorted(running, key=lambda r: (r.started_at or r.created_at, r.id))

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        if not run_ids:
            return []
        found = await self._conn.eval(lua.CANCEL, actor, reason, *dict.fromkeys(run_ids))
        return rc.runs_of(found)

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        if not run_ids:
            return []
        text = c.error_text(error) or ""
        found = await self._conn.eval(
            lua.FAIL_QUEUED, actor, error.message, text, *dict.fromkeys(run_ids)
        )
        return rc.runs_of(found)

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        if logs:
            quads = [p for run_id, n, out, err in logs for p in (run_id, str(n), out, err)]
            await self._conn.eval(lua.SAVE_LOGS, *quads)

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        reply = await self._conn.eval(lua.LOGS, run_id, "" if attempt is None else str(attempt))
        if reply[0] == "norun":
            raise NotFound(f"no run with id {run_id!r}", field="run_id")
        if reply[0] == "noattempt":
            which = "any attempt" if attempt is None else f"an attempt {attempt}"
            raise NotFound(f"run {run_id!r} has no {which}", field="attempt")
        return reply[1], reply[2]

    # -- workers ---------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        await self._conn.eval(lua.REGISTER_WORKER, info.id, *rc.worker_fields(info))

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        worker_state(state)
        if not await self._conn.eval(lua.SET_WORKER_STATE, worker_id, state):
            raise NotFound(f"no worker with id {worker_id!r}", field="worker_id")

    async def list_workers(self) -> list[WorkerInfo]:
        with self._conn.errors():
            ids = sorted(await self._conn.client().smembers(f"{self.keys}workers"))
        hashes = await self._conn.hashes([f"{self.keys}worker:{worker_id}" for worker_id in ids])
        return [rc.worker_of(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        return sorted(await self._conn.eval(lua.MARK_DEAD, str(c.seconds_us(dead_after))))

    # -- events ----------------------------------------------------------------------------

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
            entries = await self._conn.eval(lua.RUN_EVENTS, run_id, str(after), str(limit))
            return [rc.event_of(entry_id, fields[1]) for entry_id, fields in entries]
        with self._conn.errors():
            rows = await self._conn.client().xrange(
                f"{self.keys}events", min=f"{after + 1}-0", max="+", count=limit
            )
        return [rc.event_of(entry_id, fields["e"]) for entry_id, fields in rows]

    # -- API tokens ------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        created = str(to_micros(token.created_at))
        if not await self._conn.eval(lua.CREATE_TOKEN, token.id, created, *rc.token_fields(token)):
            raise Conflict(f"a token with id {token.id!r} exists already", field="id")

    async def get_token(self, token_id: str) -> Token:
        [found] = await self._conn.hashes([f"{self.keys}token:{token_id}"])
        if not found:
            raise NotFound(f"no token with id {token_id!r}", field="token_id")
        return rc.token_of(found)

    async def list_tokens(self) -> list[Token]:
        with self._conn.errors():
            ids = await self._conn.client().zrange(f"{self.keys}tokens", 0, -1)
        hashes = await self._conn.hashes([f"{self.keys}token:{token_id}" for token_id in ids])
        return [rc.token_of(h) for h in hashes if h]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        found = await self._conn.eval(lua.REVOKE_TOKENS, id_or_name)
        if found is None:
            raise NotFound(f"no token has the id or name {id_or_name!r}", field="id_or_name")
        return [rc.token_of(rc.pairs(flat)) for flat in found]

    async def touch_token(self, token_id: str) -> None:
        await self._conn.eval(lua.TOUCH_TOKEN, token_id)

    # -- dashboard sessions ----------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        expires = to_micros(session.expires_at)
        fields = ("token_id", session.token_id, "created_at", to_micros(session.created_at))
        made = await self._conn.eval(
            lua.CREATE_SESSION, session.id_hash, expires // 1000, *fields, "expires_at", expires
        )
        if not made:
            raise Conflict("a session with that id exists already", field="id")

    async def get_session(self, id_hash: str) -> DashboardSession:
        [found] = await self._conn.hashes([f"{self.keys}session:{id_hash}"])
        if not found:
            raise NotFound("no such dashboard session", field="session")
        return DashboardSession(
            id_hash=id_hash,
            token_id=found["token_id"],
            created_at=from_micros(int(found["created_at"])),
            expires_at=from_micros(int(found["expires_at"])),
        )

    async def delete_session(self, id_hash: str) -> None:
        with self._conn.errors():
            await self._conn.client().delete(f"{self.keys}session:{id_hash}")
