"""The PostgreSQL store: many schedulers and workers on many hosts.

asyncpg and text SQL (:mod:`tss.store._pg_sql`) on a small pool per process; the schema and
its Alembic migrations are the SQLite store's, run at start under an advisory lock. Times
are BIGINT microseconds from the database's clock (``now()``: each transaction sees one
instant). Due jobs and due scheduled runs are claimed with ``FOR UPDATE SKIP LOCKED``, so
schedulers never wait for one another; runs are claimed by workers with row locks taken in
id order, only while still queued. A transaction that queues runs sends ``NOTIFY tss_runs``
(payload: the pool) and one that makes something due sooner ``NOTIFY tss_wake``, delivered
when it commits; :meth:`PostgresStore.listen` turns them into asyncio events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tss.core.firing import REPLACED, refires_withdrawn, rewound
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
from tss.core.states import RunState, check_transition
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import Room, worker_state
from tss.errors import Conflict, NotFound, StoreError
from tss.store import _codec as c
from tss.store import _pg_sql as q
from tss.store import _pg_writes as w
from tss.store import _sql_flows as f
from tss.store import _sql_sessions as ss
from tss.store import migrate
from tss.store._listing import JobOrder, bucket_us, check_offset
from tss.store._pg_conn import NOW_US, Listener, Pool, asyncpg_module, dsn_of
from tss.store.base import DashboardSession, Planner, Store

R = RunState
Conn = Any  # an asyncpg connection (asyncpg ships no type information)


async def _revision(conn: Conn) -> str | None:
    if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        return None
    value = await conn.fetchval("SELECT version_num FROM alembic_version")
    return None if value is None else str(value)


async def _orders_by_code_point(conn: Conn) -> bool:
    """Whether the database's collation sorts text by code point, as the other stores do
    (``C``, ``POSIX``, glibc's ``C.UTF-8``); if not, names are compared ``COLLATE "C"``."""
    row = await conn.fetchrow("SELECT * FROM pg_database WHERE datname = current_database()")
    if row.get("datlocprovider", "c") != "c":
        return False
    collate = str(row["datcollate"])
    return collate in ("C", "POSIX") or collate.startswith("C.")


#: a job's edges (``job_deps``), inserted when the job row was written (``{1}``): parents in
#: the array ``${0}``, the child ``$1`` (create) or ``$7`` (update)
_EDGES_INSERT = (
    "INSERT INTO job_deps (parent, child) SELECT p, (SELECT name FROM {1})"
    " FROM unnest(${0}::text[]) AS p WHERE EXISTS (SELECT 1 FROM {1}) ON CONFLICT DO NOTHING"
)


def _parents(spec: JobSpec) -> list[str]:
    return sorted({dep.job for dep in spec.depends_on})


def _unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg_module().UniqueViolationError)


class PostgresStore(Store):
    """A store in one PostgreSQL database; any number of processes may share it."""

    name = "postgres"
    remote = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        dsn_of(url)  # refuse a URL that is not PostgreSQL's now, not at start
        self.url = url
        self._pool_size = pool_size
        self._pool: Pool | None = None
        self._listener: Listener | None = None
        self._waits: dict[str, asyncio.Event] = {}
        self._name = "name"

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started (or is closed)")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one read; tried once more if the connection had died (a server restart)."""
        rows: list[Any] = await self.pool.run(lambda cn: cn.fetch(sql, *args), retry_lost=True)
        return rows

    async def _write(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one statement that writes (its own transaction)."""
        rows: list[Any] = await self.pool.run(lambda cn: cn.fetch(sql, *args))
        return rows

    async def exists(self) -> bool:
        """Whether the database holds TSS's schema (any revision): one short connection,
        no migration."""
        if self._pool is not None:
            return True
        pool = Pool(self.url, max_size=1)
        await pool.open()
        try:
            return await pool.run(_revision) is not None
        finally:
            await pool.close()

    async def start(self) -> None:
        if self._pool is not None:
            return
        pool = Pool(self.url, max_size=self._pool_size)
        await pool.open()
        try:
            if await pool.run(_revision) != migrate.HEAD:
                # Alembic is synchronous (psycopg 3); migrate.upgrade takes an advisory lock.
                await asyncio.to_thread(migrate.upgrade, migrate.sync_url(self.url))
            by_code_point = await pool.run(_orders_by_code_point)
        except BaseException:
            await pool.close()
            raise
        self._name = "name" if by_code_point else 'name COLLATE "C"'
        self._pool = pool

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def now(self) -> datetime:
        return from_micros((await self._fetch(q.CLOCK))[0][0])

    # -- notices -------------------------------------------------------------------------------

    async def listen(self, channel: str, payloads: Collection[str] | None = None) -> asyncio.Event:
        """An event set whenever a NOTIFY on ``channel`` arrives (with one of ``payloads``,
        if given): ``tss_runs`` (payload: the pool) when runs were queued, ``tss_wake`` when
        something became due sooner. Clear it before looking at the store, so that a notice
        arriving meanwhile is not missed. While the listening connection is down the event
        is set when it is back (notices sent meanwhile are lost)."""
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started (or is closed)")
        if self._listener is None:
            self._listener = Listener(self.url)
        return await self._listener.subscribe(channel, payloads)

    async def wait_for_notice(self, channel: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a NOTIFY on ``channel``; whether one came."""
        event = self._waits.get(channel)
        if event is None:
            event = self._waits[channel] = await self.listen(channel)
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # -- jobs ----------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        fire_us = c.micros(next_fire_at)
        sql = (
            "WITH ins AS (INSERT INTO jobs (name, spec, type, pool, tags, paused, next_fire_at,"
            f" created_at, updated_at, version) VALUES ($1, $2, $3, $4, $5, $6, $7, {NOW_US},"
            f" {NOW_US}, 1) RETURNING name, created_at, next_fire_at, paused),"
            f" e AS ({_EDGES_INSERT.format(8, 'ins')})"
            f" SELECT created_at, {w.wake_if_scheduled('ins')} FROM ins"
        )
        try:
            rows = await self._write(sql, spec.name, *c.job_values(spec), fire_us, _parents(spec))
        except StoreError as exc:
            if _unique_violation(exc.__cause__ or exc):
                raise Conflict.job_exists(spec.name) from exc
            raise
        at = from_micros(rows[0][0])
        return Job(spec, at, at, c.when(fire_us), 1)

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        sql = (
            "WITH up AS (UPDATE jobs SET spec = $1, type = $2, pool = $3, tags = $4, paused = $5,"
            f" next_fire_at = $6, updated_at = {NOW_US}, version = version + 1"
            " WHERE name = $7 RETURNING name, created_at, updated_at, version, next_fire_at,"
            " paused),"
            " d AS (DELETE FROM job_deps WHERE child = $7 AND EXISTS (SELECT 1 FROM up)"
            " AND parent <> ALL($8::text[])),"
            f" e AS ({_EDGES_INSERT.format(8, 'up')})"
            f" SELECT created_at, updated_at, version, {w.wake_if_scheduled('up')} FROM up"
        )

        async def body(conn: Conn) -> Job:
            rows = await conn.fetch(f"{q.JOBS} WHERE name = $1 FOR UPDATE", spec.name)
            if not rows:
                raise NotFound.job(spec.name)
            old = c.job_of(rows[0])
            if expected_version is not None and expected_version != old.version:
                raise Conflict.stale_version(spec.name, old.version, expected_version)
            fire = next_fire_at
            withdrawn = await self._cancel_ahead(conn, spec.name, "job changed")
            if refires_withdrawn(old.spec, spec):
                fire = rewound(fire, withdrawn)
            args = (*c.job_values(spec), c.micros(fire), spec.name, _parents(spec))
            [row] = await conn.fetch(sql, *args)
            return Job(
                spec, from_micros(row[0]), from_micros(row[1]), c.when(c.micros(fire)), row[2]
            )

        job: Job = await self.pool.run(body, tx=True)
        return job

    async def get_job(self, name: str) -> Job:
        rows = await self._fetch(f"{q.JOBS} WHERE name = $1", name)
        if not rows:
            raise NotFound.job(name)
        return c.job_of(rows[0])

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return f.specs_of(await self._fetch(q.numbered(f.DOWNSTREAM), name))

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        rows = await self._fetch(f"{q.JOBS} WHERE name = ANY($1::text[])", list(set(names)))
        found = {row[0]: c.job_of(row) for row in rows}
        return {name: found[name] for name in names if name in found}

    async def list_jobs(
        self,
        job_filter: JobFilter | None = None,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        order = JobOrder.of(sort)
        after, offset = order.after(cursor), check_offset(offset)
        name = self._name
        where, params = c.job_where(
            job_filter, name=name, has_tag="tags::jsonb @> jsonb_build_array(?::text)", flag=bool
        )
        filtered = f" WHERE {' AND '.join(where)}" if where else ""
        count_sql, count_params = q.numbered(f"SELECT count(*) FROM jobs{filtered}"), params
        if after is not None:
            where, params = [*where, order.seek_on(name)], [*params, *after]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = q.numbered(f"{q.JOBS}{clause} ORDER BY {order.order_by_on(name)} LIMIT ? OFFSET ?")
        limit = max(limit, 0)

        async def both(conn: Conn) -> tuple[int, list[Any]]:
            total = await conn.fetchval(count_sql, *count_params)
            return total, await conn.fetch(sql, *params, limit + 1, offset)

        total, rows = await self.pool.run(both, retry_lost=True)
        jobs = [c.job_of(row) for row in rows[:limit]]
        return Page(jobs, order.cursor(jobs[-1]) if len(rows) > limit and jobs else None, total)

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        wanted = list(dict.fromkeys(names))
        found = {run.job: run for run in map(c.run_of, await self._fetch(q.LAST_RUNS, wanted))}
        return {name: found[name] for name in wanted if name in found}

    async def delete_job(self, name: str) -> None:
        async def body(conn: Conn) -> None:
            if await conn.execute("DELETE FROM jobs WHERE name = $1", name) == "DELETE 0":
                raise NotFound.job(name)
            await conn.execute("DELETE FROM job_deps WHERE child = $1", name)
            await self._cancel_ahead(conn, name, "job deleted")

        await self.pool.run(body, tx=True)

    async def _cancel_ahead(self, conn: Conn, name: str, why: str) -> list[datetime | None]:
        """Withdraw the fires of a job made ahead of their time (lookahead), or queued and
        announced ahead of it (announce_ahead): cancel them and free their fire (clear
        ``scheduled_for``), so that the same fire can be made again. Returns their times."""
        now_us = await conn.fetchval(q.CLOCK)
        runs = [c.run_of(row) for row in await conn.fetch(q.AHEAD, name, now_us)]
        if runs:
            await w.cancel(conn, runs, "user", why, now_us)
            sql = "UPDATE runs SET scheduled_for = NULL WHERE id = ANY($1::text[])"
            await conn.execute(sql, [run.id for run in runs])
        return [run.scheduled_for for run in runs]

    async def set_paused(self, name: str, paused: bool) -> Job:
        async def body(conn: Conn) -> Job:
            rows = await conn.fetch(f"{q.JOBS} WHERE name = $1 FOR UPDATE", name)
            if not rows:
                raise NotFound.job(name)
            old = c.job_of(rows[0])
            spec = old.spec.model_copy(update={"paused": paused})
            fire = old.next_fire_at
            if paused:
                fire = rewound(fire, await self._cancel_ahead(conn, name, "job paused"))
            sql = f"UPDATE jobs SET spec = $1, paused = $2, updated_at = {NOW_US},"
            sql += " next_fire_at = $4 WHERE name = $3 RETURNING updated_at,"
            sql += f" {w.wake_if_scheduled('jobs')}"
            rows = await conn.fetch(sql, c.spec_text(spec), paused, name, c.micros(fire))
            return replace(old, spec=spec, updated_at=from_micros(rows[0][0]), next_fire_at=fire)

        job: Job = await self.pool.run(body, tx=True)
        return job

    # -- scheduling ----------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        async def body(conn: Conn) -> tuple[list[Run], int]:
            rows = await conn.fetch(q.FIRE_SELECT, c.seconds_us(horizon), max(limit, 0))
            if not rows:
                return [], 0
            now_us = rows[0][6]
            now, news, advances = from_micros(now_us), list[NewRun](), []
            for row in rows:
                job, active = c.job_of(row), row[7]
                firing = planner(job, now, active)
                if firing.cancel_active and active:
                    runs = [c.run_of(r) for r in await conn.fetch(q.ACTIVE_RUNS, job.name)]
                    await w.cancel(conn, runs, actor, REPLACED, now_us)
                news += firing.runs
                expected = c.micros(firing.expected_next_fire_at)
                advances.append((job.name, c.micros(firing.next_fire_at), expected))
            created = await w.insert_with_flows(conn, news, actor, now_us, advances=advances)
            return [run for run, fresh in created if fresh and run.state is R.QUEUED], len(rows)

        result: tuple[list[Run], int] = await self.pool.run(body, tx=True)
        return result

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        rows = await self._write(q.PROMOTE, max(limit, 0), actor, c.seconds_us(ahead))
        return [c.run_of(row) for row in rows]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        rows = await self._fetch(q.NEXT_WAKEUP, c.seconds_us(horizon), c.seconds_us(ahead))
        times = [t for t in rows[0] if t is not None]
        return from_micros(min(times)) if times else None

    # -- runs ----------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if not runs:
            return []

        async def body(conn: Conn) -> list[tuple[Run, bool]]:
            return await w.insert_with_flows(conn, list(runs), actor, await conn.fetchval(q.CLOCK))

        created: list[tuple[Run, bool]] = await self.pool.run(body, tx=True)
        return created

    async def get_run(self, run_id: str) -> Run:
        rows = await self._fetch(f"{q.RUNS} WHERE id = $1", run_id)
        if not rows:
            raise NotFound.run(run_id)
        return c.run_of(rows[0])

    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        sql, params = c.run_page_query(run_filter, limit=limit, cursor=cursor, offset=offset)
        return c.run_page(await self._fetch(q.numbered(sql), *params), limit)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = c.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        counts = dict.fromkeys(RunState, 0)
        for state, count in await self._fetch(q.numbered(sql), *params):
            if state in c.STATES:
                counts[c.STATES[state]] = count
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        sql, params = f.roots_query(limit, cursor)
        roots = await self._fetch(q.numbered(sql), *params)
        ids = [row[0] for row in roots[: max(limit, 0)]]
        members = await self._fetch(f.MEMBERS + "flow_id = ANY($1::text[])", ids) if ids else []
        return f.flow_page(roots, members, limit)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width = bucket_us(bucket)
        rows = await self._fetch(q.THROUGHPUT, width, to_micros(since))
        return [(from_micros(slot * width), c.STATES[state], n) for slot, state, n in rows]

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        sql = f"SELECT {c.ATTEMPT_COLUMNS} FROM attempts WHERE run_id = $1 ORDER BY number"
        rows = await self._fetch(sql, run_id)
        if not rows:
            await self.get_run(run_id)  # NotFound for an unknown run
        return [c.attempt_of(row) for row in rows]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self._write(q.MARK_PUBLISHED, list(set(run_ids)))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        fresh, stale = c.seconds_us(older_than), c.seconds_us(republish_after)
        rows = await self._fetch(q.FIND_UNPUBLISHED, fresh, stale, max(limit, 0))
        return [c.run_of(row) for row in rows]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        return [c.run_of(row) for row in await self._fetch(q.FETCH_QUEUED, pools, limit)]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        rows = await self._write(q.CLAIM, ids, worker_id, c.seconds_us(lease))
        claimed = {row[0]: c.run_of(row) for row in rows}
        return [claimed[run_id] for run_id in ids if run_id in claimed]

    async def claim_next(
        self, pools: Sequence[str], *, limit: int, worker_id: str, lease: float, room: Room
    ) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []

        async def body(conn: Conn) -> list[Run]:
            candidates = await conn.fetch(q.CLAIM_NEXT_LOCK, pools, limit)
            chosen = room.fit((row[0], row[1], row[2]) for row in candidates)
            if not chosen:
                return []
            rows = await conn.fetch(q.CLAIM, chosen, worker_id, c.seconds_us(lease))
            claimed = {row[0]: c.run_of(row) for row in rows}
            return [claimed[run_id] for run_id in chosen if run_id in claimed]

        result: list[Run] = await self.pool.run(body, tx=True)
        return result

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        ids, attempts = [i for i, _ in held], [n for _, n in held]
        args = (worker_id, len(held), ids, attempts, c.seconds_us(lease))
        return [row[0] for row in await self._write(q.HEARTBEAT, *args)]

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        outcomes = list(outcomes)
        if not outcomes:
            return []

        async def body(conn: Conn) -> list[bool]:
            rows = await conn.fetch(q.FINISH_SELECT, list({o.run_id for o in outcomes}))
            if not rows:
                return [False] * len(outcomes)
            current = {row[0]: [row[i] for i in range(9)] for row in rows}
            now_us = rows[0][10]
            plan = c.plan_finish(outcomes, current, now_us, actor)
            accepted, runs, attempts, events = plan
            if runs:
                args = q.columns(runs, 11, text=(8,))
                args += q.columns(attempts, 8, text=(4, 5))
                args += q.columns(events, 8, text=(5,))
                await conn.fetch(q.FINISH_WRITE, *args)
                await w.settle(conn, c.ended_flows(outcomes, accepted, current), actor, now_us)
            return accepted

        result: list[bool] = await self.pool.run(body, tx=True)
        return result

    async def expired_runs(self, *, limit: int) -> list[Run]:
        return [c.run_of(row) for row in await self._fetch(q.EXPIRED, max(limit, 0))]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        rows = await self._fetch(q.OVERDUE, float(grace), max(limit, 0))
        return [c.run_of(row) for row in rows]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []

        async def body(conn: Conn) -> list[Run]:
            sql = f"{q.RUNS} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE"
            found = {row[0]: c.run_of(row) for row in await conn.fetch(sql, ids)}
            runs = [found[run_id] for run_id in ids if run_id in found]
            return await w.cancel(conn, runs, actor, reason, await conn.fetchval(q.CLOCK))

        cancelled: list[Run] = await self.pool.run(body, tx=True)
        return cancelled

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []

        async def body(conn: Conn) -> list[Run]:
            sql = f"{q.RUNS} WHERE id = ANY($1::text[]) AND state = 'queued'"
            found = {row[0]: c.run_of(row) for row in await conn.fetch(sql + " FOR UPDATE", ids)}
            runs = [found[run_id] for run_id in ids if run_id in found]
            if not runs:
                return []
            now_us, why = await conn.fetchval(q.CLOCK), q.clean(error.message)
            events = [
                (now_us, r.id, r.job, "queued", "failed", why, r.attempt, actor) for r in runs
            ]
            text = q.clean(c.error_text(error))
            args = (now_us, why, text, [r.id for r in runs], *q.columns(events, 8))
            await conn.execute(q.FAIL_QUEUED, *args)
            await w.settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
            now = from_micros(now_us)
            return [
                replace(r, state=RunState.FAILED, updated_at=now, finished_at=now, error=error,
                        reason=error.message)
                for r in runs
            ]  # fmt: skip

        failed: list[Run] = await self.pool.run(body, tx=True)
        return failed

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        if logs:
            await self._write(q.SAVE_LOGS, *q.columns(logs, 4, text=(2, 3)))

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        sql = "SELECT stdout, stderr FROM attempts WHERE run_id = $1"
        sql += " AND ($2::int IS NULL OR number = $2::int) ORDER BY number DESC LIMIT 1"
        rows = await self._fetch(sql, run_id, attempt)
        if rows:
            return rows[0][0], rows[0][1]
        await self.get_run(run_id)
        raise NotFound.attempt(run_id, attempt)

    # -- workers -------------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        async def body(conn: Conn) -> None:
            now_us = await conn.fetchval(q.CLOCK)
            started = to_micros(info.started_at) if info.started_at else now_us
            values = c.worker_values(info, started, now_us)
            await conn.execute(q.numbered(c.WORKER_UPSERT), *values)

        await self.pool.run(body)

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        worker_state(state)
        sql = "UPDATE workers SET state = $1 WHERE id = $2 RETURNING id"
        if not await self._write(sql, state, worker_id):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        sql = f"SELECT {c.WORKER_COLUMNS} FROM workers ORDER BY id"
        return [c.worker_of(row) for row in await self._fetch(sql)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        seen = "coalesce(last_heartbeat, started_at)"
        sql = "UPDATE workers SET state = 'dead' WHERE state IN ('up', 'draining')"
        sql += f" AND ({seen} IS NULL OR {seen} <= {NOW_US} - $1::bigint) RETURNING id"
        return sorted(row[0] for row in await self._write(sql, c.seconds_us(dead_after)))

    # -- events --------------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        rows = await self._fetch("SELECT max(id) FROM events")
        return int(rows[0][0] or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        sql = f"SELECT {c.EVENT_COLUMNS} FROM events WHERE id > $1"
        sql += " AND ($2::text IS NULL OR run_id = $2::text) ORDER BY id LIMIT $3"
        rows = await self._fetch(sql, after, run_id, max(limit, 0))
        return [c.event_of(row) for row in rows]

    # -- API tokens ----------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        sql = q.numbered(f"INSERT INTO tokens ({c.TOKEN_COLUMNS}) VALUES ({c.placeholders(8)})")
        try:
            await self._write(sql, *c.token_values(token))
        except StoreError as exc:
            if _unique_violation(exc.__cause__ or exc):
                raise Conflict.token_exists(token.id) from exc
            raise

    async def get_token(self, token_id: str) -> Token:
        rows = await self._fetch(f"{q.TOKENS} WHERE id = $1", token_id)
        if not rows:
            raise NotFound.token(token_id)
        return c.token_of(rows[0])

    async def list_tokens(self) -> list[Token]:
        return [c.token_of(row) for row in await self._fetch(f"{q.TOKENS} ORDER BY created_at, id")]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        sql = f"UPDATE tokens SET revoked_at = {NOW_US} WHERE (id = $1 OR name = $1)"
        sql += f" AND revoked_at IS NULL RETURNING {c.TOKEN_COLUMNS}"
        rows = await self._write(sql, id_or_name)
        if not rows and not await self._fetch(
            "SELECT 1 FROM tokens WHERE id = $1 OR name = $1", id_or_name
        ):
            raise NotFound.token_named(id_or_name)
        return sorted(map(c.token_of, rows), key=lambda t: (t.created_at, t.id))

    async def touch_token(self, token_id: str) -> None:
        await self._write(f"UPDATE tokens SET last_used_at = {NOW_US} WHERE id = $1", token_id)

    # -- dashboard sessions --------------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        # One statement: expired sessions go as the new one comes.
        purge = ss.PURGE.format(now=NOW_US)
        sql = q.numbered(f"WITH purged AS ({purge}) {ss.INSERT}")
        try:
            await self._write(sql, *ss.values(session))
        except StoreError as exc:
            if _unique_violation(exc.__cause__ or exc):
                raise Conflict.session_exists() from exc
            raise

    async def get_session(self, id_hash: str) -> DashboardSession:
        rows = await self._fetch(q.numbered(ss.SELECT), id_hash)
        if not rows:
            raise NotFound.session()
        return ss.session_of(rows[0])

    async def delete_session(self, id_hash: str) -> None:
        await self._write(q.numbered(ss.DELETE), id_hash)
