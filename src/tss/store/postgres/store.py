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
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.core.models import (
    Attempt,
    Event,
    Job,
    JobFilter,
    JobSpec,
    Page,
    PauseInfo,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import worker_state
from tss.errors import Conflict, NotFound, StoreError
from tss.store.auditing import change_of
from tss.store.base import DashboardSession, Store
from tss.store.encoding import (
    STATES,
    RunRow,
    before_us,
    dumps,
    micros,
    run_of,
    seconds_us,
    when,
)
from tss.store.paging import JobOrder, bucket_us, check_offset
from tss.store.postgres import queries, retention, writes
from tss.store.postgres.audit import PostgresAudit
from tss.store.postgres.connection import (
    Listener,
    Pool,
    asyncpg_module,
    clean,
    columns,
    dsn_of,
    orders_by_code_point,
    schema_revision,
)
from tss.store.postgres.ledger import PostgresLedger
from tss.store.postgres.queries import numbered
from tss.store.postgres.retention import PostgresRetention
from tss.store.postgres.runs import PostgresRuns
from tss.store.sql import migrate, plans, rows
from tss.store.sql import queries as shared

T = TypeVar("T")
Conn = Any  # an asyncpg connection (asyncpg ships no type information)


def _unique_violation(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg_module().UniqueViolationError)


class PostgresStore(PostgresRuns, PostgresAudit, PostgresRetention, PostgresLedger, Store):
    """A store in one PostgreSQL database; any number of processes may share it."""

    name = "postgresql"
    remote = True

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        dsn_of(url)  # refuse a URL that is not PostgreSQL's now, not at start
        self.url = url
        self._pool_size = pool_size
        self._pool: Pool | None = None
        self._listener: Listener | None = None
        self._name = "name"
        #: how text is compared to order by code point ('' or ' COLLATE "C"')
        self._collate = ""

    # -- plumbing --------------------------------------------------------------------------

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise StoreError("the PostgreSQL store is not started (or is closed)")
        return self._pool

    async def _insert(self, sql: str, args: Sequence[Any], conflict: Conflict) -> list[Any]:
        """Rows of an insert; ``conflict`` when it breaks a unique constraint."""
        try:
            return await self.pool.write(sql, *args)
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
        self._collate = "" if by_code_point else ' COLLATE "C"'
        self._pool = pool

    async def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def now(self) -> datetime:
        [(now_us,)] = await self.pool.fetch(queries.CLOCK)
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

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        fire_us = micros(next_fire_at)
        parents = sorted({dep.job for dep in spec.depends_on})
        args = (spec.name, *rows.job_values(spec), fire_us, parents)
        change = change_of("created", rolled_back)

        async def body(cn: Any) -> int:
            [(created_at, _)] = await cn.fetch(queries.JOB_INSERT, *args)
            await writes.add_version(cn, spec.name, created_at, actor, change, spec)
            return int(created_at)

        try:
            at = from_micros(await self.pool.tx(body))
        except StoreError as exc:
            if _unique_violation(exc.__cause__ or exc):
                raise Conflict.job_exists(spec.name) from exc
            raise
        return Job(spec, at, at, when(fire_us), 1)

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
        return await self.pool.tx(
            lambda cn: writes.update_job(cn, spec, next_fire_at, expected_version, actor, change)
        )

    async def get_job(self, name: str) -> Job:
        found = await self.pool.fetch(f"{queries.JOBS} WHERE name = $1", name)
        if not found:
            raise NotFound.job(name)
        return rows.job_of(found[0])

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return plans.specs_of(await self.pool.fetch(numbered(shared.DOWNSTREAM), name))

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        found_rows = await self.pool.fetch(queries.JOBS_NAMED, list(set(names)))
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
        found = {
            run.job: run for run in map(run_of, await self.pool.fetch(queries.LAST_RUNS, wanted))
        }
        return {name: found[name] for name in wanted if name in found}

    async def delete_job(self, name: str, *, actor: str = "user") -> None:
        await self.pool.tx(lambda cn: writes.delete_job(cn, name, actor))

    async def set_paused(self, name: str, paused: bool, *, pause: PauseInfo | None = None) -> Job:
        return await self.pool.tx(lambda cn: writes.set_paused(cn, name, paused, pause))

    async def resume_due_pauses(self, *, limit: int) -> list[Job]:
        return await self.pool.tx(lambda cn: writes.resume_due_pauses(cn, limit))

    # -- runs ------------------------------------------------------------------------------

    async def get_run(self, run_id: str) -> Run:
        found = await self.pool.fetch(f"{queries.RUNS} WHERE id = $1", run_id)
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
        return plans.run_page(await self.pool.fetch(numbered(sql), *params), limit)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = shared.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        counts = dict.fromkeys(RunState, 0)
        for state, count in await self.pool.fetch(numbered(sql), *params):
            if state in STATES:
                counts[STATES[state]] = count
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        sql, params = shared.roots_query(limit, cursor)
        roots = await self.pool.fetch(numbered(sql), *params)
        ids = [RunRow._make(row).id for row in roots[: max(limit, 0)]]
        sql = shared.MEMBERS + "flow_id = ANY($1::text[])"
        members = await self.pool.fetch(sql, ids) if ids else []
        return plans.flow_page(roots, members, limit)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width = bucket_us(bucket)
        found = await self.pool.fetch(queries.THROUGHPUT, width, to_micros(since))
        return [(from_micros(slot * width), STATES[state], n) for slot, state, n in found]

    async def delete_ended_runs(
        self, job: str, *, limit: int, ended_before: datetime | None = None, keep_last: int = 0
    ) -> int:
        before, keep, limit = before_us(ended_before), max(keep_last, 0), max(limit, 0)
        return await self.pool.tx(lambda cn: retention.prune_runs(cn, job, before, keep, limit))

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        found = await self.pool.fetch(queries.ATTEMPTS, run_id)
        if not found:
            await self.get_run(run_id)  # NotFound for an unknown run
        return [rows.attempt_of(row) for row in found]

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        found = await self.pool.fetch(queries.LOGS, run_id, attempt)
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
        if not await self.pool.write(queries.WORKER_STATE, checked, worker_id):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        return [rows.worker_of(row) for row in await self.pool.fetch(queries.WORKERS)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        found = await self.pool.write(queries.MARK_DEAD, seconds_us(dead_after))
        return sorted(worker_id for (worker_id,) in found)

    # -- events ----------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        [(newest,)] = await self.pool.fetch(queries.LAST_EVENT)
        return int(newest or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        found = await self.pool.fetch(queries.EVENTS, after, run_id, max(limit, 0))
        return [rows.event_of(row) for row in found]

    # -- API tokens ------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        conflict = Conflict.token_exists(token.id)
        await self._insert(queries.TOKEN_INSERT, rows.token_values(token), conflict)

    async def get_token(self, token_id: str) -> Token:
        found = await self.pool.fetch(f"{queries.TOKENS} WHERE id = $1", token_id)
        if not found:
            raise NotFound.token(token_id)
        return rows.token_of(found[0])

    async def list_tokens(self) -> list[Token]:
        found = await self.pool.fetch(f"{queries.TOKENS} ORDER BY created_at, id")
        return [rows.token_of(row) for row in found]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        found = await self.pool.write(queries.REVOKE, id_or_name)
        if not found and not await self.pool.fetch(queries.TOKEN_NAMED, id_or_name):
            raise NotFound.token_named(id_or_name)
        return sorted(map(rows.token_of, found), key=lambda t: (t.created_at, t.id))

    async def touch_token(self, token_id: str) -> None:
        await self.pool.write(queries.TOUCH, token_id)

    # -- dashboard sessions ----------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        values = rows.session_values(session)
        await self._insert(queries.SESSION_INSERT, values, Conflict.session_exists())

    async def get_session(self, id_hash: str) -> DashboardSession:
        found = await self.pool.fetch(queries.SESSION_SELECT, id_hash)
        if not found:
            raise NotFound.session()
        return rows.session_of(found[0])

    async def delete_session(self, id_hash: str) -> None:
        await self.pool.write(queries.SESSION_DELETE, id_hash)

    # -- alerts, leases, silences ----------------------------------------------------------

    async def add_alerts(self, alerts: Sequence[Alert]) -> list[bool]:
        # One row per id (the first), in id order: concurrent batches lock ids in one order.
        unique = sorted({a.id: a for a in reversed(alerts)}.values(), key=lambda a: a.id)
        if not unique:
            return []
        values = [rows.alert_values(alert) for alert in unique]
        args = columns(values, len(queries.ALERT_TYPES), text=queries.ALERT_TEXT)
        fresh = {alert_id for (alert_id,) in await self.pool.write(queries.ALERT_INSERT, *args)}
        added: list[bool] = []
        for alert in alerts:
            added.append(alert.id in fresh)
            fresh.discard(alert.id)
        return added

    async def due_alerts(self, *, limit: int) -> list[Alert]:
        found = await self.pool.fetch(queries.due_alerts(f"id{self._collate}"), max(limit, 0))
        return [rows.alert_of(row) for row in found]

    async def settle_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        # The last update of each id, in id order (rows are locked in one order).
        last = {update.id: update for update in updates}
        values = [rows.alert_update_values(last[alert_id]) for alert_id in sorted(last)]
        if values:
            args = columns(values, 6, text=queries.ALERT_UPDATE_TEXT)
            await self.pool.write(queries.ALERT_SETTLE, *args)

    async def list_alerts(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        ident = f"id{self._collate}"
        sql, params = shared.alert_page_query(job, state, channel, limit, cursor, ident=ident)
        return plans.alert_page(await self.pool.fetch(numbered(sql), *params), limit)

    async def get_alert(self, alert_id: str) -> Alert:
        found = await self.pool.fetch(queries.ALERT_SELECT, alert_id)
        if not found:
            raise NotFound.alert(alert_id)
        return rows.alert_of(found[0])

    async def take_lease(self, name: str, holder: str, ttl: float) -> dict[str, Any] | None:
        found = await self.pool.write(queries.LEASE_TAKE, name, holder, seconds_us(ttl), "{}")
        if not found:
            return None
        state: dict[str, Any] = orjson.loads(found[0][0])
        return state

    async def save_lease(self, name: str, holder: str, state: dict[str, Any]) -> bool:
        return bool(await self.pool.write(queries.LEASE_SAVE, dumps(state), name, holder))

    async def put_silence(self, silence: Silence) -> None:
        values = rows.silence_values(silence)
        note = clean(values.note) or ""  # a NUL cannot be stored
        await self.pool.write(queries.SILENCE_UPSERT, *values._replace(note=note))

    async def delete_silence(self, job: str) -> bool:
        return bool(await self.pool.write(queries.SILENCE_DELETE, job))

    async def list_silences(self) -> list[Silence]:
        found = await self.pool.fetch(queries.silences(f"job{self._collate}"))
        return [rows.silence_of(row) for row in found]
