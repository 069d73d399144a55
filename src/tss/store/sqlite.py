"""The SQLite store: the embedded default (WAL), safe for several processes on one host.

All database work of one instance runs on one dedicated thread with one connection; the
async methods hand their work to it. Writes open with ``BEGIN IMMEDIATE``, so processes
sharing the file (server, CLI, a second scheduler) serialise on SQLite's write lock instead of
failing a lock upgrade; reads use deferred transactions and never block writers (WAL).
Batches are one statement each (``executemany`` or ``IN (...)``), never a round trip per row.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tss.core.models import (
    Attempt,
    Event,
    Job,
    JobSpec,
    NewRun,
    Outcome,
    Page,
    Run,
    RunFilter,
    WorkerInfo,
)
from tss.core.states import ACTIVE_STATES, RunState, can_transition, check_transition
from tss.core.timeutil import to_micros, utcnow
from tss.errors import ConfigError, Conflict, NotFound, StoreError, TSSError, ValidationError
from tss.store import _codec as c
from tss.store import migrate
from tss.store.base import Planner, Store

P = ParamSpec("P")
T = TypeVar("T")
Conn = Connection
R = RunState
_ACTIVE_SQL = ", ".join(f"'{state.value}'" for state in sorted(ACTIVE_STATES))
_RUNS = f"SELECT {c.RUN_COLUMNS} FROM runs"


def _database_of(url: str) -> str:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a store URL: {exc}", field="store.url") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(f"{url!r} is not a SQLite URL (sqlite:///path.db)", field="store.url")
    return parsed.database or ":memory:"


def _rows(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    return list(conn.exec_driver_sql(sql, tuple(params)).fetchall())


def _exec(conn: Conn, sql: str, params: Sequence[Any] = ()) -> int:
    return int(conn.exec_driver_sql(sql, tuple(params)).rowcount)


def _many(conn: Conn, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql, rows)


def _runs_by_id(conn: Conn, ids: Sequence[str], where: str = "") -> dict[str, Run]:
    found: dict[str, Run] = {}
    for part in c.chunks(ids):
        sql = f"{_RUNS} WHERE id IN ({c.placeholders(len(part))}){where}"
        found.update((row[0], c.run_of(row)) for row in _rows(conn, sql, part))
    return found


def _existing(conn: Conn, column: str, pairs: Sequence[tuple[str, Any]]) -> dict[Any, Run]:
    """The stored runs whose ``(job, column)`` is among ``pairs``, by that pair."""
    found: dict[Any, Run] = {}
    for part in c.chunks(list(dict.fromkeys(pairs)), 400):
        jobs, values = {job for job, _ in part}, {value for _, value in part}
        sql = f"{_RUNS} WHERE job IN ({c.placeholders(len(jobs))})"
        sql += f" AND {column} IN ({c.placeholders(len(values))})"
        col = 18 if column.startswith("idempotency_key") else 11
        for row in _rows(conn, sql, [*jobs, *values]):
            found[(row[1], row[col])] = c.run_of(row)
    return found


class SQLiteStore(Store):
    """A store in one SQLite file; several instances and processes may share the file."""

    name = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = _database_of(url)
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._conn: Connection | None = None

    # -- plumbing: one thread, one connection --------------------------------------------------

    async def _call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        executor = self._executor
        if executor is None:
            raise StoreError(f"the SQLite store at {self.database} is not started (or closed)")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, lambda: fn(*args, **kwargs))

    def _tx(
        self, begin: str, fn: Callable[Concatenate[Conn, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError(f"the SQLite store at {self.database} is not started (or closed)")
        try:
            conn.info[migrate.BEGIN_KEY] = begin
            with conn.begin():
                return fn(conn, *a, **k)
        except TSSError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"SQLite store {self.database}: {exc.args[0]}") from exc

    async def _write(self, fn: Callable[Concatenate[Conn, P], T], *a: P.args, **k: P.kwargs) -> T:
        return await self._call(self._tx, "BEGIN IMMEDIATE", fn, *a, **k)

    async def _read(self, fn: Callable[Concatenate[Conn, P], T], *a: P.args, **k: P.kwargs) -> T:
        return await self._call(self._tx, "BEGIN", fn, *a, **k)

    def _open(self) -> None:
        engine = migrate.create_engine(self.url)
        try:
            conn = engine.connect()
            try:
                migrate.upgrade_connection(conn)
            except BaseException:
                conn.close()
                raise
        except (SQLAlchemyError, StoreError) as exc:
            engine.dispose()
            cause = exc.__cause__ if isinstance(exc, StoreError) and exc.__cause__ else exc
            raise StoreError(f"cannot open the SQLite database {self.database}: {cause}") from exc
        self._engine, self._conn = engine, conn

    def _shut(self) -> None:
        conn, engine, self._conn, self._engine = self._conn, self._engine, None, None
        if conn is not None:
            conn.close()
        if engine is not None:
            engine.dispose()

    async def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tss-sqlite")
        try:
            await self._call(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    async def close(self) -> None:
        executor = self._executor
        if executor is None:
            return
        try:
            await self._call(self._shut)
        finally:
            self._executor = None
            executor.shutdown(wait=True)

    async def now(self) -> datetime:
        return utcnow()

    # -- jobs ------------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        return await self._write(self._create_job, spec, next_fire_at)

    def _create_job(self, conn: Conn, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        now_us = to_micros(utcnow())
        sql = "INSERT INTO jobs (name, spec, type, pool, tags, paused, next_fire_at, created_at,"
        sql += " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
        try:
            params = (spec.name, *c.job_values(spec), c.micros(next_fire_at), now_us, now_us)
            conn.exec_driver_sql(sql, params)
        except IntegrityError as exc:
            raise Conflict(f"a job named {spec.name!r} exists already", field="name") from exc
        now = c.when(now_us)
        assert now is not None
        return Job(spec, now, now, c.when(c.micros(next_fire_at)), 1)

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        return await self._write(self._update_job, spec, next_fire_at, expected_version)

    def _update_job(
        self, conn: Conn, spec: JobSpec, next_fire_at: datetime | None, expected: int | None
    ) -> Job:
        old = self._get_job(conn, spec.name)
        if expected is not None and expected != old.version:
            raise Conflict(
                f"job {spec.name!r} is at version {old.version}, not {expected}:"
                " it was changed meanwhile; read it again and retry",
                field="version",
            )
        now_us, fire_us = to_micros(utcnow()), c.micros(next_fire_at)
        sql = "UPDATE jobs SET spec = ?, type = ?, pool = ?, tags = ?, paused = ?,"
        sql += " next_fire_at = ?, updated_at = ?, version = version + 1 WHERE name = ?"
        conn.exec_driver_sql(sql, (*c.job_values(spec), fire_us, now_us, spec.name))
        return Job(spec, old.created_at, c.from_micros(now_us), c.when(fire_us), old.version + 1)

    async def get_job(self, name: str) -> Job:
        return await self._read(self._get_job, name)

    def _get_job(self, conn: Conn, name: str) -> Job:
        rows = _rows(conn, f"SELECT {c.JOB_COLUMNS} FROM jobs WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no job named {name!r}", field="name")
        return c.job_of(rows[0])

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        return await self._read(self._get_jobs, list(dict.fromkeys(names)))

    def _get_jobs(self, conn: Conn, names: list[str]) -> dict[str, Job]:
        found: dict[str, Job] = {}
        for part in c.chunks(names):
            sql = f"SELECT {c.JOB_COLUMNS} FROM jobs WHERE name IN ({c.placeholders(len(part))})"
            found.update((row[0], c.job_of(row)) for row in _rows(conn, sql, part))
        return {name: found[name] for name in names if name in found}

    async def list_jobs(
        self,
        *,
        prefix: str | None = None,
        tag: str | None = None,
        pool: str | None = None,
        paused: bool | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        where, params = ["1 = 1"], list[Any]()
        if prefix:
            where.append("name >= ? AND substr(name, 1, ?) = ?")
            params += [prefix, len(prefix), prefix]
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = ?)")
            params.append(tag)
        if pool is not None:
            where.append("pool = ?")
            params.append(pool)
        if paused is not None:
            where.append("paused = ?")
            params.append(int(paused))
        return await self._read(self._page, "jobs", where, params, limit, cursor)

    def _page(
        self, conn: Conn, table: str, where: list[str], params: list[Any], limit: int, cursor: Any
    ) -> Page:
        clause = " AND ".join(where)
        total = _rows(conn, f"SELECT count(*) FROM {table} WHERE {clause}", params)[0][0]
        key, order = ("name", "ASC") if table == "jobs" else ("id", "DESC")
        if cursor is not None:
            clause += f" AND {key} {'>' if order == 'ASC' else '<'} ?"
            params = [*params, cursor]
        cols, decode = (c.JOB_COLUMNS, c.job_of) if table == "jobs" else (c.RUN_COLUMNS, c.run_of)
        sql = f"SELECT {cols} FROM {table} WHERE {clause} ORDER BY {key} {order} LIMIT ?"
        rows = _rows(conn, sql, [*params, max(limit, 0) + 1])
        items: list[Any] = [decode(row) for row in rows[: max(limit, 0)]]
        more = len(rows) > len(items) and bool(items)
        last = (items[-1].name if table == "jobs" else items[-1].id) if more else None
        return Page(items, last, total)

    async def delete_job(self, name: str) -> None:
        await self._write(self._delete_job, name)

    def _delete_job(self, conn: Conn, name: str) -> None:
        if conn.exec_driver_sql("DELETE FROM jobs WHERE name = ?", (name,)).rowcount == 0:
            raise NotFound(f"no job named {name!r}", field="name")

    async def set_paused(self, name: str, paused: bool) -> Job:
        return await self._write(self._set_paused, name, paused)

    def _set_paused(self, conn: Conn, name: str, paused: bool) -> Job:
        old = self._get_job(conn, name)
        spec = old.spec.model_copy(update={"paused": paused})
        now_us = to_micros(utcnow())
        sql = "UPDATE jobs SET spec = ?, paused = ?, updated_at = ? WHERE name = ?"
        conn.exec_driver_sql(sql, (c.spec_text(spec), paused, now_us, name))
        return replace(old, spec=spec, updated_at=c.from_micros(now_us))

    # -- scheduling ------------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str
    ) -> tuple[list[Run], int]:
        return await self._write(self._fire_due_jobs, planner, limit, actor)

    def _fire_due_jobs(
        self, conn: Conn, planner: Planner, limit: int, actor: str
    ) -> tuple[list[Run], int]:
        now_us = to_micros(utcnow())
        sql = f"SELECT {c.JOB_COLUMNS} FROM jobs WHERE paused = 0 AND next_fire_at <= ?"
        sql += " ORDER BY next_fire_at, name LIMIT ?"
        due = [c.job_of(row) for row in _rows(conn, sql, (now_us, max(limit, 0)))]
        if not due:
            return [], 0
        counts: dict[str, int] = {}
        for part in c.chunks([job.name for job in due]):
            sql = f"SELECT job, count(*) FROM runs WHERE job IN ({c.placeholders(len(part))})"
            counts.update(_rows(conn, f"{sql} AND state IN ({_ACTIVE_SQL}) GROUP BY job", part))
        now, news, advances = c.from_micros(now_us), list[NewRun](), []
        for job in due:
            firing = planner(job, now, counts.get(job.name, 0))
            if firing.cancel_active and counts.get(job.name):
                sql = f"{_RUNS} WHERE job = ? AND state IN ({_ACTIVE_SQL})"
                runs = [c.run_of(row) for row in _rows(conn, sql, (job.name,))]
                self._cancel(conn, runs, actor, c.REPLACED, now_us)
            news.extend(firing.runs)
            expected = c.micros(firing.expected_next_fire_at)
            advances.append((c.micros(firing.next_fire_at), job.name, expected))
        created = self._insert_runs(conn, news, actor, now_us)
        _many(
            conn, "UPDATE jobs SET next_fire_at = ? WHERE name = ? AND next_fire_at IS ?", advances
        )
        return [run for run, fresh in created if fresh and run.state is R.QUEUED], len(due)

    async def promote_due_runs(self, *, limit: int, actor: str) -> list[Run]:
        return await self._write(self._promote, limit, actor)

    def _promote(self, conn: Conn, limit: int, actor: str) -> list[Run]:
        now_us = to_micros(utcnow())
        waiting = "state IN ('scheduled', 'retrying')"
        sql = f"SELECT * FROM ({_RUNS} WHERE {waiting} AND not_before <= ? UNION ALL"
        sql += f" {_RUNS} WHERE {waiting} AND not_before IS NULL)"
        sql += " ORDER BY coalesce(not_before, created_at), id LIMIT ?"
        runs = [c.run_of(row) for row in _rows(conn, sql, (now_us, max(limit, 0)))]
        sql = "UPDATE runs SET state = 'queued', updated_at = ?, queued_at = ?,"
        sql += " published_at = NULL WHERE id = ?"
        _many(conn, sql, [(now_us, now_us, run.id) for run in runs])
        now = c.from_micros(now_us)
        events = [
            (now_us, r.id, r.job, r.state.value, "queued", actor, "due", r.attempt) for r in runs
        ]
        _many(conn, c.EVENT_INSERT, events)
        return [replace(r, state=R.QUEUED, updated_at=now, queued_at=now) for r in runs]

    async def next_wakeup(self) -> datetime | None:
        return await self._read(self._next_wakeup)

    def _next_wakeup(self, conn: Conn) -> datetime | None:
        sql = "SELECT (SELECT min(next_fire_at) FROM jobs WHERE paused = 0),"
        sql += " (SELECT min(not_before) FROM runs WHERE state = 'scheduled'),"
        sql += " (SELECT min(not_before) FROM runs WHERE state = 'retrying'),"
        sql += " (SELECT min(created_at) FROM runs"
        sql += "  WHERE state IN ('scheduled', 'retrying') AND not_before IS NULL)"
        times = [t for t in _rows(conn, sql)[0] if t is not None]
        return c.from_micros(min(times)) if times else None

    # -- runs ------------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        return await self._write(self._insert_runs, list(runs), actor, None)

    def _insert_runs(
        self, conn: Conn, news: list[NewRun], actor: str, now_us: int | None
    ) -> list[tuple[Run, bool]]:
        """Insert runs, skipping those whose idempotency key or fire exists (one round trip
        each to find them: the write lock is held, so nothing can appear meanwhile)."""
        now_us = to_micros(utcnow()) if now_us is None else now_us
        keys = [(n.job, n.idempotency_key) for n in news if n.idempotency_key is not None]
        by_key = _existing(conn, "idempotency_key IS NOT NULL AND idempotency_key", keys)
        fires = [
            (n.job, to_micros(n.scheduled_for))
            for n in news
            if n.trigger == "schedule" and n.scheduled_for is not None
        ]
        by_fire = _existing(conn, "\"trigger\" = 'schedule' AND scheduled_for", fires)
        out: list[tuple[Run, bool]] = []
        rows, events = [], []
        for new in news:
            key = (new.job, new.idempotency_key) if new.idempotency_key is not None else None
            fire = None
            if new.trigger == "schedule" and new.scheduled_for is not None:
                fire = (new.job, to_micros(new.scheduled_for))
            old = by_key.get(key) if key else None
            if old is None and fire is not None:
                old = by_fire.get(fire)
            if old is not None:
                out.append((replace(old, params=dict(old.params)), False))
                continue
            run, row = c.new_run(new, now_us)
            rows.append(row)
            events.append((now_us, run.id, run.job, None, run.state.value, actor, run.reason, 0))
            if key:
                by_key[key] = run
            if fire:
                by_fire[fire] = run
            out.append((run, True))
        try:
            _many(conn, c.RUN_INSERT, rows)
        except IntegrityError as exc:
            raise Conflict(
                f"a run with one of these ids exists already: {exc.args[0]}", field="id"
            ) from exc
        _many(conn, c.EVENT_INSERT, events)
        return out

    async def get_run(self, run_id: str) -> Run:
        return await self._read(self._get_run, run_id)

    def _get_run(self, conn: Conn, run_id: str) -> Run:
        found = _runs_by_id(conn, [run_id])
        if not found:
            raise NotFound(f"no run with id {run_id!r}", field="run_id")
        return found[run_id]

    async def list_runs(
        self, run_filter: RunFilter | None = None, *, limit: int = 50, cursor: str | None = None
    ) -> Page:
        where, params = c.run_where(run_filter)
        return await self._read(self._page, "runs", where, params, limit, cursor)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = c.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        rows = await self._read(_rows, sql, params)
        counts = dict.fromkeys(RunState, 0)
        counts.update((c.STATES[state], n) for state, n in rows if state in c.STATES)
        return counts

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        return await self._read(self._list_attempts, run_id)

    def _list_attempts(self, conn: Conn, run_id: str) -> list[Attempt]:
        self._get_run(conn, run_id)
        sql = f"SELECT {c.ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ? ORDER BY number"
        return [c.attempt_of(row) for row in _rows(conn, sql, (run_id,))]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        await self._write(self._mark_published, list(dict.fromkeys(run_ids)))

    def _mark_published(self, conn: Conn, ids: list[str]) -> None:
        now_us = to_micros(utcnow())
        for part in c.chunks(ids):
            sql = f"UPDATE runs SET published_at = ? WHERE id IN ({c.placeholders(len(part))})"
            conn.exec_driver_sql(sql, (now_us, *part))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        now_us = to_micros(utcnow())
        sql = f"SELECT * FROM ({_RUNS} WHERE state = 'queued' AND published_at IS NULL"
        sql += f" AND queued_at <= ? UNION ALL {_RUNS} WHERE state = 'queued'"
        sql += " AND published_at <= ?) ORDER BY queued_at, id LIMIT ?"
        fresh, stale = now_us - round(older_than * 1e6), now_us - round(republish_after * 1e6)
        rows = await self._read(_rows, sql, (fresh, stale, max(limit, 0)))
        return [c.run_of(row) for row in rows]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        sql = f"{_RUNS} WHERE state = 'queued' AND pool IN ({c.placeholders(len(pools))})"
        sql += " ORDER BY priority DESC, queued_at, id LIMIT ?"
        return [c.run_of(row) for row in await self._read(_rows, sql, (*pools, limit))]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        return await self._write(self._claim, list(dict.fromkeys(run_ids)), worker_id, lease)

    def _claim(self, conn: Conn, ids: list[str], worker_id: str, lease: float) -> list[Run]:
        now_us = to_micros(utcnow())
        claimed: dict[str, Run] = {}
        for part in c.chunks(ids):
            sql = "UPDATE runs SET state = 'running', attempt = attempt + 1, started_at = ?,"
            sql += " worker_id = ?, lease_until = ?, updated_at = ?"
            sql += f" WHERE id IN ({c.placeholders(len(part))}) AND state = 'queued'"
            sql += f" RETURNING {c.RUN_FIELDS}"
            params = (now_us, worker_id, now_us + round(lease * 1e6), now_us, *part)
            claimed.update((row[0], c.run_of(row)) for row in _rows(conn, sql, params))
        runs = [claimed[run_id] for run_id in ids if run_id in claimed]
        sql = f"INSERT INTO attempts ({c.ATTEMPT_COLUMNS}) VALUES (?, ?, ?, 'running', ?,"
        sql += " NULL, NULL, NULL, '', '')"
        _many(conn, sql, [(r.id, r.attempt, worker_id, now_us) for r in runs])
        events = [
            (now_us, r.id, r.job, "queued", "running", worker_id, None, r.attempt) for r in runs
        ]
        _many(conn, c.EVENT_INSERT, events)
        return runs

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        return await self._write(self._heartbeat, worker_id, list(held), lease)

    def _heartbeat(
        self, conn: Conn, worker_id: str, held: list[tuple[str, int]], lease: float
    ) -> list[str]:
        now_us = to_micros(utcnow())
        sql = "UPDATE workers SET last_heartbeat = ?, running = ? WHERE id = ?"
        conn.exec_driver_sql(sql, (now_us, len(held), worker_id))
        current: dict[str, tuple[str, int]] = {}
        for part in c.chunks(list(dict.fromkeys(run_id for run_id, _ in held))):
            sql = f"SELECT id, state, attempt FROM runs WHERE id IN ({c.placeholders(len(part))})"
            current.update((row[0], (row[1], row[2])) for row in _rows(conn, sql, part))
        lost = [rid for rid, n in held if current.get(rid) != ("running", n)]
        kept = list(dict.fromkeys(rid for rid, n in held if current.get(rid) == ("running", n)))
        for part in c.chunks(kept):
            sql = "UPDATE runs SET lease_until = ?, updated_at = ?"
            sql += f" WHERE id IN ({c.placeholders(len(part))})"
            conn.exec_driver_sql(sql, (now_us + round(lease * 1e6), now_us, *part))
        return lost

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        return await self._write(self._finish, list(outcomes), actor)

    def _finish(self, conn: Conn, outcomes: list[Outcome], actor: str) -> list[bool]:
        now_us = to_micros(utcnow())
        cur: dict[str, list[Any]] = {}
        for part in c.chunks(list(dict.fromkeys(out.run_id for out in outcomes))):
            sql = "SELECT id, state, attempt, lease_until, job, not_before, queued_at,"
            sql += f" published_at FROM runs WHERE id IN ({c.placeholders(len(part))})"
            cur.update((row[0], list(row)) for row in _rows(conn, sql, part))
        accepted, runs, attempts, events = [], [], [], []
        for out in outcomes:
            row = cur.get(out.run_id)
            ok = (
                row is not None
                and row[1] == "running"
                and row[2] == out.attempt
                and can_transition(R.RUNNING, out.target)
                and not (out.require_expired and row[3] is not None and row[3] > now_us)
            )
            accepted.append(ok)
            if not ok or row is None:
                continue
            target = out.target
            row[1] = target.value
            not_before = c.micros(out.not_before) if target is R.RETRYING else row[5]
            queued, published = (now_us, None) if target is R.QUEUED else (row[6], row[7])
            runs.append(
                (
                    target.value,
                    now_us,
                    now_us if target.terminal else None,
                    not_before,
                    queued,
                    published,
                    c.error_text(out.error),
                    c.dumps_or_none(out.result),
                    out.reason,
                    out.run_id,
                )
            )
            attempts.append(
                (
                    (out.attempt_state or target).value,
                    now_us,
                    c.error_text(out.error),
                    c.dumps_or_none(out.result),
                    out.stdout,
                    out.stderr,
                    out.run_id,
                    out.attempt,
                )
            )
            events.append(
                (
                    now_us,
                    out.run_id,
                    row[4],
                    "running",
                    target.value,
                    actor,
                    out.reason,
                    out.attempt,
                )
            )
        sql = "UPDATE runs SET state = ?, updated_at = ?, finished_at = ?, not_before = ?,"
        sql += " queued_at = ?, published_at = ?, lease_until = NULL, error = ?, result = ?,"
        sql += " reason = ? WHERE id = ?"
        _many(conn, sql, runs)
        sql = "UPDATE attempts SET state = ?, finished_at = ?, error = ?, result = ?, stdout = ?,"
        sql += " stderr = ? WHERE run_id = ? AND number = ?"
        _many(conn, sql, attempts)
        _many(conn, c.EVENT_INSERT, events)
        return accepted

    async def expired_runs(self, *, limit: int) -> list[Run]:
        sql = f"SELECT * FROM ({_RUNS} WHERE state = 'running' AND lease_until <= ? UNION ALL"
        sql += f" {_RUNS} WHERE state = 'running' AND lease_until IS NULL)"
        sql += " ORDER BY coalesce(lease_until, updated_at), id LIMIT ?"
        rows = await self._read(_rows, sql, (to_micros(utcnow()), max(limit, 0)))
        return [c.run_of(row) for row in rows]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        timeout = "json_extract(policy, '$.timeout')"
        sql = f"{_RUNS} WHERE state = 'running' AND started_at IS NOT NULL"
        sql += f" AND {timeout} IS NOT NULL"
        sql += f" AND started_at + CAST(round(({timeout} + ?) * 1000000) AS INTEGER) < ?"
        sql += " ORDER BY started_at, id LIMIT ?"
        rows = await self._read(_rows, sql, (grace, to_micros(utcnow()), max(limit, 0)))
        return [c.run_of(row) for row in rows]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        return await self._write(self._cancel_ids, list(dict.fromkeys(run_ids)), actor, reason)

    def _cancel_ids(self, conn: Conn, ids: list[str], actor: str, reason: str) -> list[Run]:
        found = _runs_by_id(conn, ids)
        runs = [found[run_id] for run_id in ids if run_id in found]
        return self._cancel(conn, runs, actor, reason, to_micros(utcnow()))

    def _cancel(
        self, conn: Conn, runs: list[Run], actor: str, reason: str, now_us: int
    ) -> list[Run]:
        runs = [run for run in runs if can_transition(run.state, R.CANCELLED)]
        sql = "UPDATE runs SET state = 'cancelled', updated_at = ?, finished_at = ?,"
        sql += " lease_until = NULL, reason = ? WHERE id = ?"
        _many(conn, sql, [(now_us, now_us, reason, run.id) for run in runs])
        sql = "UPDATE attempts SET state = 'cancelled', finished_at = ?"
        sql += " WHERE run_id = ? AND number = ? AND finished_at IS NULL"
        running = [(now_us, r.id, r.attempt) for r in runs if r.state is R.RUNNING]
        _many(conn, sql, running)
        events = [
            (now_us, r.id, r.job, r.state.value, "cancelled", actor, reason, r.attempt)
            for r in runs
        ]
        _many(conn, c.EVENT_INSERT, events)
        now = c.from_micros(now_us)
        return [
            replace(
                r,
                state=R.CANCELLED,
                updated_at=now,
                finished_at=now,
                lease_until=None,
                reason=reason,
            )
            for r in runs
        ]

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        return await self._read(self._get_logs, run_id, attempt)

    def _get_logs(self, conn: Conn, run_id: str, attempt: int | None) -> tuple[str, str]:
        sql = "SELECT stdout, stderr FROM attempts WHERE run_id = ?"
        params: tuple[Any, ...] = (run_id,)
        if attempt is not None:
            sql, params = sql + " AND number = ?", (run_id, attempt)
        rows = _rows(conn, sql + " ORDER BY number DESC LIMIT 1", params)
        if rows:
            return rows[0][0], rows[0][1]
        self._get_run(conn, run_id)
        which = "any attempt" if attempt is None else f"an attempt {attempt}"
        raise NotFound(f"run {run_id!r} has no {which}", field="attempt")

    # -- workers ---------------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        now_us = to_micros(utcnow())
        started = to_micros(info.started_at) if info.started_at else now_us
        names = [name.strip() for name in c.WORKER_COLUMNS.split(",")]
        sql = f"INSERT INTO workers ({c.WORKER_COLUMNS}) VALUES ({c.placeholders(len(names))})"
        sql += " ON CONFLICT (id) DO UPDATE SET "
        sql += ", ".join(f"{name} = excluded.{name}" for name in names[1:])
        await self._write(_exec, sql, c.worker_values(info, started, now_us))

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        if state not in c.WORKER_STATES:
            raise ValidationError(
                f"{state!r} is not a worker state: use one of {sorted(c.WORKER_STATES)}",
                field="state",
            )
        await self._write(self._set_worker_state, worker_id, state)

    def _set_worker_state(self, conn: Conn, worker_id: str, state: str) -> None:
        sql = "UPDATE workers SET state = ? WHERE id = ?"
        if conn.exec_driver_sql(sql, (state, worker_id)).rowcount == 0:
            raise NotFound(f"no worker with id {worker_id!r}", field="worker_id")

    async def list_workers(self) -> list[WorkerInfo]:
        sql = f"SELECT {c.WORKER_COLUMNS} FROM workers ORDER BY id"
        return [c.worker_of(row) for row in await self._read(_rows, sql)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        sql = "UPDATE workers SET state = 'dead' WHERE state IN ('up', 'draining')"
        sql += " AND (coalesce(last_heartbeat, started_at) IS NULL"
        sql += " OR coalesce(last_heartbeat, started_at) <= ?) RETURNING id"
        limit = to_micros(utcnow()) - round(dead_after * 1e6)
        return sorted(row[0] for row in await self._write(_rows, sql, (limit,)))

    # -- events ----------------------------------------------------------------------------------

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        sql = f"SELECT {c.EVENT_COLUMNS} FROM events WHERE id > ?"
        params: tuple[Any, ...] = (after,)
        if run_id is not None:
            sql, params = sql + " AND run_id = ?", (after, run_id)
        rows = await self._read(_rows, sql + " ORDER BY id LIMIT ?", (*params, max(limit, 0)))
        return [c.event_of(row) for row in rows]
