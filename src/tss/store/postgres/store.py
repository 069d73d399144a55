"""The PostgreSQL store: many schedulers and workers on many hosts.

asyncpg and text SQL (:mod:`tss.store.postgres.queries`) on a small pool per process
(:mod:`tss.store.postgres.connection`); the transactions of several statements are in
:mod:`tss.store.postgres.writes`. The schema and its Alembic migrations are the SQLite
store's, run at start under an advisory lock. Times are BIGINT microseconds from the
database's clock (``now()``: each transaction sees one instant). Due jobs and due scheduled
runs are claimed with ``FOR UPDATE SKIP LOCKED``, so schedulers never wait for one another;
runs are claimed by workers with row locks taken in id order, only while still queued. A
transaction that queues runs sends ``NOTIFY tss_runs`` (payload: the pool) and one that
makes something due sooner ``NOTIFY tss_wake``, delivered when it commits;
:meth:`PostgresStore.listen` turns them into asyncio events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

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
from tss.store.base import DashboardSession, Planner, Store
from tss.store.encoding import STATES, RunRow, micros, run_of, seconds_us, when
from tss.store.paging import JobOrder, bucket_us, check_offset
from tss.store.postgres import queries, writes
from tss.store.postgres.connection import (
    Listener,
    Pool,
    asyncpg_module,
    dsn_of,
    orders_by_code_point,
    schema_revision,
)
from tss.store.postgres.queries import columns, numbered
from tss.store.sql import migrate, plans, rows
from tss.store.sql import queries as shared

T = TypeVar("T")
Conn = Any  # an asyncpg connection (asyncpg ships no type information)


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

    # -- plumbing --------------------------------------------------------------------------

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started (or is closed)")
        return self._pool

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one read; tried once more if the connection had died (a server restart)."""
        found: list[Any] = await self.pool.run(lambda cn: cn.fetch(sql, *args), retry_lost=True)
        return found

    async def _write(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one statement that writes (its own transaction)."""
        found: list[Any] = await self.pool.run(lambda cn: cn.fetch(sql, *args))
        return found

    async def _tx(self, body: Callable[[Conn], Awaitable[T]]) -> T:
        """``await body(connection)`` in one transaction."""
        result: T = await self.pool.run(body, tx=True)
        return result

    async def _insert(self, sql: str, args: Sequence[Any], conflict: Conflict) -> list[Any]:
        """Rows of an insert; ``conflict`` when it breaks a unique constraint."""
        try:
            return await self._write(sql, *args)
        except StoreError as exc:
            if _unique_violation(exc.__cause__ or exc):
                raise conflict from exc
            raise

    async def exists(self) -> bool:
        """Whether the database holds TSS's schema (any revision): one short connection,
        no migration."""
        if self._pool is not None:
            return True
        pool = Pool(self.url, max_size=1)
        await pool.open()
        try:
            return await pool.run(schema_revision) is not None
        finally:
            await pool.close()

    async def start(self) -> None:
        if self._pool is not None:
            return
        pool = Pool(self.url, max_size=self._pool_size)
        await pool.open()
        try:
            if await pool.run(schema_revision) != migrate.HEAD:
                # Alembic is synchronous (psycopg 3); migrate.upgrade takes an advisory lock.
                await asyncio.to_thread(migrate.upgrade, migrate.sync_url(self.url))
            by_code_point = await pool.run(orders_by_code_point)
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
        [(now_us,)] = await self._fetch(queries.CLOCK)
        return from_micros(now_us)

    # -- notices ---------------------------------------------------------------------------

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

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        fire_us = micros(next_fire_at)
        parents = sorted({dep.job for dep in spec.depends_on})
        args = (spec.name, *rows.job_values(spec), fire_us, parents)
        [(created_at, _)] = await self._insert(
            queries.JOB_INSERT, args, Conflict.job_exists(spec.name)
        )
        at = from_micros(created_at)
        return Job(spec, at, at, when(fire_us), 1)

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        return await self._tx(
            lambda cn: writes.update_job(cn, spec, next_fire_at, expected_version)
        )

    async def get_job(self, name: str) -> Job:
        found = await self._fetch(f"{queries.JOBS} WHERE name = $1", name)
        if not found:
            raise NotFound.job(name)
        return rows.job_of(found[0])

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return plans.specs_of(await self._fetch(numbered(shared.DOWNSTREAM), name))

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        found_rows = await self._fetch(queries.JOBS_NAMED, list(set(names)))
        found = {job.name: job for job in map(rows.job_of, found_rows)}
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
        name, has_tag = self._name, "tags::jsonb @> jsonb_build_array(?::text)"
        where, params = shared.job_where(job_filter, name=name, has_tag=has_tag, flag=bool)
        filtered = f" WHERE {' AND '.join(where)}" if where else ""
        count_sql, count_params = numbered(f"SELECT count(*) FROM jobs{filtered}"), params
        if after is not None:
            where, params = [*where, order.seek_on(name)], [*params, *after]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order_by = order.order_by_on(name)
        sql = numbered(f"{queries.JOBS}{clause} ORDER BY {order_by} LIMIT ? OFFSET ?")
        limit = max(limit, 0)

        async def both(conn: Conn) -> tuple[int, list[Any]]:
            total = await conn.fetchval(count_sql, *count_params)
            return total, await conn.fetch(sql, *params, limit + 1, offset)

        total, found = await self.pool.run(both, retry_lost=True)
        jobs = [rows.job_of(row) for row in found[:limit]]
        return Page(jobs, order.cursor(jobs[-1]) if len(found) > limit and jobs else None, total)

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        wanted = list(dict.fromkeys(names))
        found = {run.job: run for run in map(run_of, await self._fetch(queries.LAST_RUNS, wanted))}
        return {name: found[name] for name in wanted if name in found}

    async def delete_job(self, name: str) -> None:
        await self._tx(lambda cn: writes.delete_job(cn, name))

    async def set_paused(self, name: str, paused: bool) -> Job:
        return await self._tx(lambda cn: writes.set_paused(cn, name, paused))

    # -- scheduling ------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        return await self._tx(lambda cn: writes.fire_due_jobs(cn, planner, limit, actor, horizon))

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        found = await self._write(queries.PROMOTE, max(limit, 0), actor, seconds_us(ahead))
        return [run_of(row[: len(RunRow._fields)]) for row in found]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        [found] = await self._fetch(queries.NEXT_WAKEUP, seconds_us(horizon), seconds_us(ahead))
        times = [t for t in found if t is not None]
        return from_micros(min(times)) if times else None

    # -- runs ------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if not runs:
            return []

        async def body(conn: Conn) -> list[tuple[Run, bool]]:
            now_us = await conn.fetchval(queries.CLOCK)
            return await writes.insert_with_flows(conn, list(runs), actor, now_us)

        return await self._tx(body)

    async def get_run(self, run_id: str) -> Run:
        found = await self._fetch(f"{queries.RUNS} WHERE id = $1", run_id)
        if not found:
            raise NotFound.run(run_id)
        return run_of(found[0])

    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        sql, params = shared.run_page_query(run_filter, limit=limit, cursor=cursor, offset=offset)
        return plans.run_page(await self._fetch(numbered(sql), *params), limit)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = shared.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        counts = dict.fromkeys(RunState, 0)
        for state, count in await self._fetch(numbered(sql), *params):
            if state in STATES:
                counts[STATES[state]] = count
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        sql, params = shared.roots_query(limit, cursor)
        roots = await self._fetch(numbered(sql), *params)
        ids = [RunRow._make(row).id for row in roots[: max(limit, 0)]]
        sql = shared.MEMBERS + "flow_id = ANY($1::text[])"
        members = await self._fetch(sql, ids) if ids else []
        return plans.flow_page(roots, members, limit)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width = bucket_us(bucket)
        found = await self._fetch(queries.THROUGHPUT, width, to_micros(since))
        return [(from_micros(slot * width), STATES[state], n) for slot, state, n in found]

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        found = await self._fetch(queries.ATTEMPTS, run_id)
        if not found:
            await self.get_run(run_id)  # NotFound for an unknown run
        return [rows.attempt_of(row) for row in found]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self._write(queries.MARK_PUBLISHED, list(set(run_ids)))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        fresh, stale = seconds_us(older_than), seconds_us(republish_after)
        found = await self._fetch(queries.FIND_UNPUBLISHED, fresh, stale, max(limit, 0))
        return [run_of(row) for row in found]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        return [run_of(row) for row in await self._fetch(queries.FETCH_QUEUED, pools, limit)]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        found = await self._write(queries.CLAIM, ids, worker_id, seconds_us(lease))
        claimed = {run.id: run for run in map(run_of, found)}
        return [claimed[run_id] for run_id in ids if run_id in claimed]

    async def claim_next(
        self, pools: Sequence[str], *, limit: int, worker_id: str, lease: float, room: Room
    ) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        return await self._tx(
            lambda cn: writes.claim_next(cn, pools, limit, worker_id, lease, room)
        )

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        ids, attempts = [i for i, _ in held], [n for _, n in held]
        args = (worker_id, len(held), ids, attempts, seconds_us(lease))
        return [run_id for (run_id,) in await self._write(queries.HEARTBEAT, *args)]

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        outcomes = list(outcomes)
        if not outcomes:
            return []
        return await self._tx(lambda cn: writes.finish(cn, outcomes, actor))

    async def expired_runs(self, *, limit: int) -> list[Run]:
        return [run_of(row) for row in await self._fetch(queries.EXPIRED, max(limit, 0))]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        found = await self._fetch(queries.OVERDUE, float(grace), max(limit, 0))
        return [run_of(row) for row in found]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []

        async def body(conn: Conn) -> list[Run]:
            found = {run.id: run for run in map(run_of, await conn.fetch(queries.RUNS_LOCK, ids))}
            runs = [found[run_id] for run_id in ids if run_id in found]
            return await writes.cancel(
                conn, runs, actor, reason, await conn.fetchval(queries.CLOCK)
            )

        return await self._tx(body)

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        return await self._tx(lambda cn: writes.fail_queued(cn, ids, actor, error))

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        if logs:
            await self._write(queries.SAVE_LOGS, *columns(logs, 4, text=(2, 3)))

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        found = await self._fetch(queries.LOGS, run_id, attempt)
        if found:
            [(stdout, stderr)] = found
            return stdout, stderr
        await self.get_run(run_id)
        raise NotFound.attempt(run_id, attempt)

    # -- workers ---------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        async def body(conn: Conn) -> None:
            now_us = await conn.fetchval(queries.CLOCK)
            started = to_micros(info.started_at) if info.started_at else now_us
            values = rows.worker_values(info, started, now_us)
            await conn.execute(queries.WORKER_UPSERT, *values)

        await self.pool.run(body)

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        checked = worker_state(state)
        if not await self._write(queries.WORKER_STATE, checked, worker_id):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        return [rows.worker_of(row) for row in await self._fetch(queries.WORKERS)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        found = await self._write(queries.MARK_DEAD, seconds_us(dead_after))
        return sorted(worker_id for (worker_id,) in found)

    # -- events ----------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        [(newest,)] = await self._fetch(queries.LAST_EVENT)
        return int(newest or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        found = await self._fetch(queries.EVENTS, after, run_id, max(limit, 0))
        return [rows.event_of(row) for row in found]

    # -- API tokens ------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        conflict = Conflict.token_exists(token.id)
        await self._insert(queries.TOKEN_INSERT, rows.token_values(token), conflict)

    async def get_token(self, token_id: str) -> Token:
        found = await self._fetch(f"{queries.TOKENS} WHERE id = $1", token_id)
        if not found:
            raise NotFound.token(token_id)
        return rows.token_of(found[0])

    async def list_tokens(self) -> list[Token]:
        found = await self._fetch(f"{queries.TOKENS} ORDER BY created_at, id")
        return [rows.token_of(row) for row in found]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        found = await self._write(queries.REVOKE, id_or_name)
        if not found and not await self._fetch(queries.TOKEN_NAMED, id_or_name):
            raise NotFound.token_named(id_or_name)
        return sorted(map(rows.token_of, found), key=lambda t: (t.created_at, t.id))

    async def touch_token(self, token_id: str) -> None:
        await self._write(queries.TOUCH, token_id)

    # -- dashboard sessions ----------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        values = rows.session_values(session)
        await self._insert(queries.SESSION_INSERT, values, Conflict.session_exists())

    async def get_session(self, id_hash: str) -> DashboardSession:
        found = await self._fetch(queries.SESSION_SELECT, id_hash)
        if not found:
            raise NotFound.session()
        return rows.session_of(found[0])

    async def delete_session(self, id_hash: str) -> None:
        await self._write(queries.SESSION_DELETE, id_hash)
