"""The SQLite store: the embedded default (WAL), safe for several processes on one host.

All database work of one instance runs on one dedicated thread with one connection; the
async methods hand it over and await it. Writes open with ``BEGIN IMMEDIATE``, so processes
sharing the file (server, CLI, a second scheduler) queue on SQLite's write lock instead of
failing a lock upgrade; reads use deferred transactions and never block writers (WAL).
Each batch is one statement (``executemany`` or ``IN (...)``), never a round trip per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection as Conn
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tss.core import flows
from tss.core.fencing import holds
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
from tss.core.states import RunState, can_transition, check_transition
from tss.core.timeutil import from_micros, to_micros, utcnow
from tss.core.workers import worker_state
from tss.errors import ConfigError, Conflict, NotFound, StoreError, TSSError
from tss.store import _codec as c
from tss.store import _sql_flows as f
from tss.store import _sql_sessions as ss
from tss.store import migrate
from tss.store._listing import (
    JobOrder,
    bucket_us,
    check_offset,
)
from tss.store._sqlite_watch import CommitWatcher
from tss.store.base import DashboardSession, Planner, Store
from tss.store.schema import ACTIVE, QUEUED, RUNNING, WAITING

P = ParamSpec("P")
T = TypeVar("T")
R = RunState
_RUNS = c.RUNS_SELECT
# Without statistics SQLite's planner favours the (state, id) index for every query on a
# state; the partial indexes made for these queries are far smaller, so name them.
_QUEUED = f"{_RUNS} INDEXED BY ix_runs_queued WHERE {QUEUED}"
_OUTBOX = f"{_RUNS} INDEXED BY ix_runs_outbox WHERE {QUEUED}"
_DUE = f"{_RUNS} INDEXED BY ix_runs_due WHERE {WAITING}"
_LEASED = f"{_RUNS} INDEXED BY ix_runs_leased WHERE {RUNNING}"
_ACTIVE = f"FROM runs INDEXED BY ix_runs_active WHERE {ACTIVE}"
_JOBS = f"SELECT {c.JOB_COLUMNS} FROM jobs"
#: a column of a job's newest run (ids sort by creation), given the job: ix_runs_job_id
_LAST_RUN = "SELECT r.{} FROM runs AS r WHERE r.job = {} ORDER BY r.id DESC LIMIT 1"
_TOKENS = f"SELECT {c.TOKEN_COLUMNS} FROM tokens"
_UNIQUE_WHERE = {
    "idempotency_key": "idempotency_key IS NOT NULL",
    "scheduled_for": "\"trigger\" = 'schedule'",
}


def _database_of(url: str) -> str:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a store URL: {exc}", field="store.url") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(f"{url!r} is not a SQLite URL (sqlite:///path.db)", field="store.url")
    return parsed.database or ":memory:"


def _why(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc)


def _rows(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    result = conn.exec_driver_sql(sql, tuple(params))
    return list(result.fetchall()) if result.returns_rows else []


def _exec(conn: Conn, sql: str, params: Sequence[Any] = ()) -> int:
    return int(conn.exec_driver_sql(sql, tuple(params)).rowcount)


def _many(conn: Conn, sql: str, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql, rows)


def _in(conn: Conn, sql: str, ids: Sequence[Any], *before: Any) -> list[Any]:
    """Run ``sql`` (which has ``{}`` where the ``IN`` list goes) over ``ids`` in chunks."""
    rows: list[Any] = []
    for part in c.chunks(list(dict.fromkeys(ids))):
        rows += _rows(conn, sql.format(c.placeholders(len(part))), (*before, *part))
    return rows


def _existing(conn: Conn, column: str, pairs: Sequence[tuple[str, Any]]) -> dict[Any, Run]:
    """The stored runs whose ``(job, column)`` is among ``pairs``, by that pair (``column`` is
    ``idempotency_key`` or ``scheduled_for``: the two unique partial indexes)."""
    found: dict[Any, Run] = {}
    at, where = c.RUN_INDEX[column], _UNIQUE_WHERE[column]
    for part in c.chunks(list(dict.fromkeys(pairs)), 400):
        jobs, values = {job for job, _ in part}, {value for _, value in part}
        sql = f"{_RUNS} WHERE {where} AND job IN ({c.placeholders(len(jobs))})"
        sql += f" AND {column} IN ({c.placeholders(len(values))})"
        found.update(((r[1], r[at]), c.run_of(r)) for r in _rows(conn, sql, [*jobs, *values]))
    return found


def _taken_id(conn: Conn, rows: list[tuple[Any, ...]], changes_before: int) -> str:
    """The id of the ``RUN_INSERT`` row that failed: the rows before it went in one by one
    (``executemany``), so the connection's change count says which one it was."""
    inserted = _changes(conn) - changes_before
    return str(rows[min(max(inserted, 0), len(rows) - 1)][0])


def _changes(conn: Conn) -> int:
    raw = conn.connection.driver_connection
    return int(getattr(raw, "total_changes", 0))


class _Checkpointer:
    """Copies the WAL back into the database every ``every`` seconds on a connection and a
    thread of its own (``PASSIVE``: it never blocks readers or writers)."""

    def __init__(self, database: str, every: float = 1.0) -> None:
        self._database = database
        self._every = every
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tss-sqlite-wal", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self._database, timeout=0.1, isolation_level=None)
        try:
            while not self._stopped.wait(self._every):
                with contextlib.suppress(sqlite3.Error):  # busy: the next turn will do
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)


class SQLiteStore(Store):
    """A store in one SQLite file; several instances and processes may share the file."""

    name = "sqlite"

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = _database_of(url)
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._conn: Conn | None = None
        self._checkpointer: _Checkpointer | None = None
        self._watcher: CommitWatcher | None = None

    # -- plumbing: one thread, one connection ------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise StoreError(f"the SQLite store {self.database} is not started (or is closed)")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _tx(self, begin: str, fn: Callable[[Conn], T]) -> T:
        if self._conn is None:
            raise StoreError(f"the SQLite store {self.database} is not started (or is closed)")
        try:
            self._conn.info[migrate.BEGIN_KEY] = begin
            with self._conn.begin():
                return fn(self._conn)
        except TSSError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"SQLite store {self.database}: {_why(exc)}") from exc

    async def _write(self, fn: Callable[Concatenate[Conn, P], T], *a: P.args, **k: P.kwargs) -> T:
        return await self._run(lambda: self._tx("BEGIN IMMEDIATE", lambda cn: fn(cn, *a, **k)))

    async def _read(self, fn: Callable[Concatenate[Conn, P], T], *a: P.args, **k: P.kwargs) -> T:
        return await self._run(lambda: self._tx("BEGIN", lambda cn: fn(cn, *a, **k)))

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
            why = _why(exc.__cause__ or exc) if isinstance(exc, StoreError) else _why(exc)
            raise StoreError(f"cannot open the SQLite database {self.database}: {why}") from exc
        self._engine, self._conn = engine, conn
        if self.database != ":memory:":
            # SQLite checkpoints the WAL inside whichever COMMIT crosses 1,000 pages: on a
            # slow disk that one commit takes hundreds of ms on the store's only thread.
            # Checkpoint from a thread of its own instead.
            raw = conn.connection.driver_connection
            assert raw is not None
            raw.execute("PRAGMA wal_autocheckpoint = 0")  # outside SQLAlchemy's transaction
            self._checkpointer = _Checkpointer(self.database)

    def _shut(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        conn, engine, self._conn, self._engine = self._conn, self._engine, None, None
        if conn is not None:
            conn.close()
        if engine is not None:
            engine.dispose()

    async def exists(self) -> bool:
        """Whether the database file is there (an in-memory database always is)."""
        if self.database == ":memory:" or self.database.startswith("file:"):
            return True
        return await asyncio.to_thread(os.path.exists, self.database)

    async def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tss-sqlite")
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    async def watch(self) -> asyncio.Event | None:
        """An event set soon after anyone commits to the file (see
        :class:`~tss.store._sqlite_watch.CommitWatcher`); None for an in-memory database,
        which no other connection shares."""
        if self.database == ":memory:":
            return None
        if self._watcher is None:
            self._watcher = CommitWatcher(self.database)
        return self._watcher.subscribe()

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        executor = self._executor
        if executor is None:
            return
        try:
            await self._run(self._shut)
        finally:
            self._executor = None
            executor.shutdown(wait=True)

    async def now(self) -> datetime:
        return utcnow()

    # -- jobs ----------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec, next_fire_at: datetime | None) -> Job:
        return await self._write(self._create_job, spec, c.micros(next_fire_at))

    def _create_job(self, conn: Conn, spec: JobSpec, fire_us: int | None) -> Job:
        now_us = to_micros(utcnow())
        sql = "INSERT INTO jobs (name, spec, type, pool, tags, paused, next_fire_at, created_at,"
        sql += " updated_at, version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)"
        try:
            _exec(conn, sql, (spec.name, *c.job_values(spec), fire_us, now_us, now_us))
        except IntegrityError as exc:
            raise Conflict.job_exists(spec.name) from exc
        _many(conn, f.EDGES_INSERT, f.edges(spec))
        return Job(spec, from_micros(now_us), from_micros(now_us), c.when(fire_us), 1)

    async def update_job(
        self, spec: JobSpec, next_fire_at: datetime | None, *, expected_version: int | None = None
    ) -> Job:
        return await self._write(self._update_job, spec, c.micros(next_fire_at), expected_version)

    def _update_job(self, conn: Conn, spec: JobSpec, fire_us: int | None, want: int | None) -> Job:
        old = self._get_job(conn, spec.name)
        if want is not None and want != old.version:
            raise Conflict.stale_version(spec.name, old.version, want)
        withdrawn = self._cancel_ahead(conn, spec.name, "job changed")
        if refires_withdrawn(old.spec, spec):
            fire_us = c.micros(rewound(c.when(fire_us), withdrawn))
        now_us = to_micros(utcnow())
        sql = "UPDATE jobs SET spec = ?, type = ?, pool = ?, tags = ?, paused = ?,"
        sql += " next_fire_at = ?, updated_at = ?, version = version + 1 WHERE name = ?"
        _exec(conn, sql, (*c.job_values(spec), fire_us, now_us, spec.name))
        _exec(conn, f.EDGES_DELETE, (spec.name,))
        _many(conn, f.EDGES_INSERT, f.edges(spec))
        return Job(spec, old.created_at, from_micros(now_us), c.when(fire_us), old.version + 1)

    async def get_job(self, name: str) -> Job:
        return await self._read(self._get_job, name)

    def _get_job(self, conn: Conn, name: str) -> Job:
        rows = _rows(conn, f"{_JOBS} WHERE name = ?", (name,))
        if not rows:
            raise NotFound.job(name)
        return c.job_of(rows[0])

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        rows = await self._read(_in, f"{_JOBS} WHERE name IN ({{}})", names)
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
        where, params = c.job_where(
            job_filter, has_tag="EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = ?)"
        )
        return await self._read(self._list_jobs, where, params, order, after, limit, offset)

    def _list_jobs(
        self,
        conn: Conn,
        where: list[str],
        params: list[Any],
        order: JobOrder,
        after: tuple[Any, ...] | None,
        limit: int,
        offset: int,
    ) -> Page:
        limit = max(limit, 0)
        # No WHERE at all when unfiltered: SQLite counts a whole table much faster then.
        filtered = f" WHERE {' AND '.join(where)}" if where else ""
        total = _rows(conn, f"SELECT count(*) FROM jobs{filtered}", params)[0][0]
        if after is not None:
            where, params = [*where, order.seek], [*params, *after]
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"{_JOBS}{clause} ORDER BY {order.order_by} LIMIT ? OFFSET ?"
        rows = _rows(conn, sql, [*params, limit + 1, offset])
        jobs = [c.job_of(row) for row in rows[:limit]]
        return Page(jobs, order.cursor(jobs[-1]) if len(rows) > limit and jobs else None, total)

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        return await self._read(self._last_runs, list(dict.fromkeys(names)))

    def _last_runs(self, conn: Conn, names: list[str]) -> dict[str, Run]:
        """One indexed look-up per name (``ix_runs_job_id``), a statement per chunk."""
        found: dict[str, Run] = {}
        newest = f"({_LAST_RUN.format('id', '?')})"
        for part in c.chunks(names):
            sql = f"{_RUNS} WHERE id IN ({', '.join([newest] * len(part))})"
            found.update((run.job, run) for run in map(c.run_of, _rows(conn, sql, part)))
        return {name: found[name] for name in names if name in found}

    async def delete_job(self, name: str) -> None:
        await self._write(self._delete_job, name)

    def _delete_job(self, conn: Conn, name: str) -> None:
        if not _exec(conn, "DELETE FROM jobs WHERE name = ?", (name,)):
            raise NotFound.job(name)
        _exec(conn, f.EDGES_DELETE, (name,))
        self._cancel_ahead(conn, name, "job deleted")

    def _cancel_ahead(self, conn: Conn, name: str, why: str) -> list[datetime | None]:
        """Withdraw the fires of a job made ahead of their time (lookahead), or queued and
        announced ahead of it (announce_ahead): cancel them and free their fire (clear
        ``scheduled_for``), so that the same fire can be made again. Returns their times."""
        now_us = to_micros(utcnow())
        runs = [c.run_of(row) for row in _rows(conn, c.AHEAD, (name, now_us))]
        if runs:
            self._cancel(conn, runs, "user", why, now_us)
            sql = "UPDATE runs SET scheduled_for = NULL WHERE id = ?"
            _many(conn, sql, [(run.id,) for run in runs])
        return [run.scheduled_for for run in runs]

    async def set_paused(self, name: str, paused: bool) -> Job:
        return await self._write(self._set_paused, name, paused)

    def _set_paused(self, conn: Conn, name: str, paused: bool) -> Job:
        old = self._get_job(conn, name)
        spec, now_us = old.spec.model_copy(update={"paused": paused}), to_micros(utcnow())
        next_fire_at = old.next_fire_at
        if paused:
            next_fire_at = rewound(next_fire_at, self._cancel_ahead(conn, name, "job paused"))
        sql = "UPDATE jobs SET spec = ?, paused = ?, updated_at = ?, next_fire_at = ?"
        sql += " WHERE name = ?"
        _exec(conn, sql, (c.spec_text(spec), paused, now_us, c.micros(next_fire_at), name))
        return replace(old, spec=spec, updated_at=from_micros(now_us), next_fire_at=next_fire_at)

    # -- scheduling ----------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        return await self._write(self._fire_due_jobs, planner, limit, actor, horizon)

    def _fire_due_jobs(
        self, conn: Conn, planner: Planner, limit: int, actor: str, horizon: float
    ) -> tuple[list[Run], int]:
        """Claim, plan, insert and advance in one write transaction: while it holds the write
        lock no other instance or process can claim the same jobs."""
        now_us = to_micros(utcnow())
        until_us = now_us + c.seconds_us(horizon)
        sql = f"{_JOBS} WHERE paused = 0 AND next_fire_at <= ? ORDER BY next_fire_at, name LIMIT ?"
        due = [c.job_of(row) for row in _rows(conn, sql, (until_us, max(limit, 0)))]
        if not due:
            return [], 0
        sql = f"SELECT job, count(*) {_ACTIVE} AND job IN ({{}}) GROUP BY job"
        counts: dict[str, int] = dict(_in(conn, sql, [job.name for job in due]))
        now, news, advances = from_micros(now_us), list[NewRun](), []
        for job in due:
            firing = planner(job, now, counts.get(job.name, 0))
            if firing.cancel_active and counts.get(job.name):
                active = _rows(conn, f"SELECT {c.RUN_COLUMNS} {_ACTIVE} AND job = ?", (job.name,))
                self._cancel(conn, [c.run_of(row) for row in active], actor, REPLACED, now_us)
            news += firing.runs
            expected = c.micros(firing.expected_next_fire_at)
            advances.append((c.micros(firing.next_fire_at), job.name, expected))
        created = self._insert_runs(conn, news, actor, now_us)
        sql = "UPDATE jobs SET next_fire_at = ? WHERE name = ? AND next_fire_at IS ?"
        _many(conn, sql, advances)
        return [run for run, fresh in created if fresh and run.state is R.QUEUED], len(due)

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        return await self._write(self._promote, limit, actor, ahead)

    def _promote(self, conn: Conn, limit: int, actor: str, ahead: float) -> list[Run]:
        now_us = to_micros(utcnow())
        sql = f"SELECT * FROM ({_DUE} AND not_before <= ?"
        sql += f" UNION ALL {_DUE} AND not_before IS NULL)"
        sql += " ORDER BY coalesce(not_before, created_at), id LIMIT ?"
        until = now_us + c.seconds_us(ahead)
        runs = [c.run_of(row) for row in _rows(conn, sql, (until, max(limit, 0)))]
        sql = "UPDATE runs SET state = 'queued', updated_at = ?, queued_at = ?,"
        sql += " published_at = NULL WHERE id = ?"
        _many(conn, sql, [(now_us, now_us, run.id) for run in runs])
        events = [(r.id, r.job, r.state.value, "queued", "due", r.attempt) for r in runs]
        _many(conn, c.EVENT_INSERT, [(now_us, *event, actor) for event in events])
        now = from_micros(now_us)
        return [replace(r, state=R.QUEUED, updated_at=now, queued_at=now) for r in runs]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        fire, early = c.seconds_us(horizon), c.seconds_us(ahead)
        sql = f"SELECT (SELECT min(next_fire_at) - {fire} FROM jobs WHERE paused = 0),"
        sql += f" (SELECT min(not_before) - {early} FROM runs INDEXED BY ix_runs_due"
        sql += f" WHERE {WAITING}),"
        sql += " (SELECT min(created_at) FROM runs INDEXED BY ix_runs_due"
        sql += f" WHERE {WAITING} AND not_before IS NULL)"
        times = [t for t in (await self._read(_rows, sql))[0] if t is not None]
        return from_micros(min(times)) if times else None

    # -- runs ----------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        return await self._write(self._insert_runs, list(runs), actor, None)

    def _insert_runs(
        self, conn: Conn, news: list[NewRun], actor: str, now_us: int | None
    ) -> list[tuple[Run, bool]]:
        """Insert runs but those whose idempotency key or fire exists: the write lock is held,
        so what the two look-ups find cannot change before the insert. A run that starts a
        flow brings the waiting runs of its flow (:mod:`tss.core.flows`)."""
        now_us = to_micros(utcnow()) if now_us is None else now_us
        specs = self._downstream(conn, news)
        news = flows.with_flows(news, specs)
        out = self._insert_plain(conn, news, actor, now_us)
        members = flows.members_of(news, {run.id for run, fresh in out if fresh}, specs)
        if members:
            self._insert_plain(conn, members, actor, now_us)
        joined = {n.flow_id for n in news if n.flow_id is not None and n.flow_id != n.id}
        self._settle(conn, joined, actor, now_us)
        return out

    def _insert_plain(
        self, conn: Conn, news: list[NewRun], actor: str, now_us: int
    ) -> list[tuple[Run, bool]]:
        keyed = [(n.job, n.idempotency_key) for n in news if n.idempotency_key is not None]
        by_key = _existing(conn, "idempotency_key", keyed)
        by_fire = _existing(conn, "scheduled_for", [k for n in news if (k := c.fire_key(n))])
        out, rows, events = c.plan_inserts(news, by_key, by_fire, now_us, actor)
        changes = _changes(conn)
        try:
            _many(conn, c.RUN_INSERT, rows)
        except IntegrityError as exc:
            raise Conflict.run_exists(_taken_id(conn, rows, changes)) from exc
        _many(conn, c.EVENT_INSERT, events)
        return out

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        rows = await self._read(lambda conn: _rows(conn, f.DOWNSTREAM, (name,)))
        return f.specs_of(rows)

    def _downstream(self, conn: Conn, news: list[NewRun]) -> dict[str, dict[str, JobSpec]]:
        """The specs of the jobs downstream of each job that may start a flow in ``news``."""
        roots = sorted({new.job for new in news if flows.starts_flow(new)})
        if not roots or not _rows(conn, f.ANY_EDGE)[0][0]:
            return {}
        sql = "SELECT DISTINCT parent FROM job_deps WHERE parent IN ({})"
        parents = {row[0] for row in _in(conn, sql, roots)}
        found = {root: f.specs_of(_rows(conn, f.DOWNSTREAM, (root,))) for root in parents}
        return {root: specs for root, specs in found.items() if specs}

    def _settle(self, conn: Conn, flow_ids: set[str], actor: str, now_us: int) -> None:
        """Decide the waiting runs of these flows (in the caller's transaction)."""
        if not flow_ids:
            return
        sql = f"SELECT {f.FLOW_COLUMNS} FROM runs WHERE flow_id IS NOT NULL AND flow_id IN ({{}})"
        updates, events, _ = f.plan_settle(_in(conn, sql, sorted(flow_ids)), now_us, actor)
        _many(conn, f.SETTLE_RUN, updates)
        _many(conn, c.EVENT_INSERT, events)

    async def get_run(self, run_id: str) -> Run:
        return await self._read(self._get_run, run_id)

    def _get_run(self, conn: Conn, run_id: str) -> Run:
        rows = _rows(conn, f"{_RUNS} WHERE id = ?", (run_id,))
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
        return c.run_page(await self._read(_rows, sql, params), limit)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = c.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        counts = dict.fromkeys(RunState, 0)
        for state, count in await self._read(_rows, sql, params):
            if state in c.STATES:
                counts[c.STATES[state]] = count
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        sql, params = f.roots_query(limit, cursor)

        def read(conn: Conn) -> tuple[list[Any], list[Any]]:
            roots = _rows(conn, sql, params)
            ids = [row[0] for row in roots[: max(limit, 0)]]
            return roots, _in(conn, f.MEMBERS + "flow_id IN ({})", ids)

        roots, members = await self._read(read)
        return f.flow_page(roots, members, limit)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width = bucket_us(bucket)
        # Integer division floors here: times are after the epoch. Served by the partial
        # index ix_runs_finished_at (the comparison implies finished_at IS NOT NULL).
        sql = f"SELECT finished_at / {width} AS slot, state, count(*) FROM runs"
        sql += " WHERE finished_at >= ? GROUP BY slot, state ORDER BY slot, state"
        rows = await self._read(_rows, sql, (to_micros(since),))
        return [(from_micros(slot * width), c.STATES[state], n) for slot, state, n in rows]

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        return await self._read(self._list_attempts, run_id)

    def _list_attempts(self, conn: Conn, run_id: str) -> list[Attempt]:
        self._get_run(conn, run_id)
        sql = f"SELECT {c.ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ? ORDER BY number"
        return [c.attempt_of(row) for row in _rows(conn, sql, (run_id,))]

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        sql = "UPDATE runs SET published_at = ? WHERE id IN ({})"
        await self._write(lambda cn: _in(cn, sql, run_ids, to_micros(utcnow())))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        now_us = to_micros(utcnow())
        sql = f"SELECT * FROM ({_OUTBOX} AND published_at IS NULL AND queued_at <= ?"
        sql += f" UNION ALL {_OUTBOX} AND published_at <= ?)"
        sql += " ORDER BY queued_at, id LIMIT ?"
        fresh, stale = now_us - c.seconds_us(older_than), now_us - c.seconds_us(republish_after)
        return [c.run_of(r) for r in await self._read(_rows, sql, (fresh, stale, max(limit, 0)))]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        sql = f"{_QUEUED} AND pool IN ({c.placeholders(len(pools))})"
        sql += " ORDER BY priority DESC, queued_at, id LIMIT ?"
        return [c.run_of(row) for row in await self._read(_rows, sql, (*pools, limit))]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        return await self._write(self._claim, run_ids, worker_id, lease)

    def _claim(self, conn: Conn, ids: Sequence[str], worker_id: str, lease: float) -> list[Run]:
        now_us = to_micros(utcnow())
        sql = "UPDATE runs SET state = 'running', attempt = attempt + 1, started_at = ?,"
        sql += " worker_id = ?, lease_until = ?, updated_at = ? WHERE id IN ({})"
        sql += f" AND {QUEUED} RETURNING {c.RUN_FIELDS}"
        rows = _in(conn, sql, ids, now_us, worker_id, now_us + c.seconds_us(lease), now_us)
        claimed = {row[0]: c.run_of(row) for row in rows}
        runs = [claimed[run_id] for run_id in dict.fromkeys(ids) if run_id in claimed]
        sql = f"INSERT INTO attempts ({c.ATTEMPT_COLUMNS})"
        sql += " VALUES (?, ?, ?, 'running', ?, NULL, NULL, NULL, '', '')"
        _many(conn, sql, [(r.id, r.attempt, worker_id, now_us) for r in runs])
        events = [(now_us, r.id, r.job, "queued", "running", None, r.attempt) for r in runs]
        _many(conn, c.EVENT_INSERT, [(*event, worker_id) for event in events])
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
        _exec(conn, sql, (now_us, len(held), worker_id))
        rows = _in(
            conn, "SELECT id, state, attempt FROM runs WHERE id IN ({})", [i for i, _ in held]
        )
        current = {row[0]: (row[1], row[2]) for row in rows}
        ok = [run_id in current and holds(*current[run_id], n) for run_id, n in held]
        kept = [run_id for (run_id, _), holding in zip(held, ok, strict=True) if holding]
        sql = "UPDATE runs SET lease_until = ?, updated_at = ? WHERE id IN ({})"
        _in(conn, sql, kept, now_us + c.seconds_us(lease), now_us)
        return [run_id for (run_id, _), holding in zip(held, ok, strict=True) if not holding]

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        return await self._write(self._finish, list(outcomes), actor)

    def _finish(self, conn: Conn, outcomes: list[Outcome], actor: str) -> list[bool]:
        """One read of every run's state, attempt and lease; the fencing in Python; then one
        batched write each of runs, attempts and events."""
        sql = f"SELECT {c.FINISH_COLUMNS} FROM runs WHERE id IN ({{}})"
        current = {row[0]: list(row) for row in _in(conn, sql, [o.run_id for o in outcomes])}
        now_us = to_micros(utcnow())
        plan = c.plan_finish(outcomes, current, now_us, actor)
        accepted, runs, attempts, events = plan
        _many(conn, c.FINISH_RUN, runs)
        _many(conn, c.FINISH_ATTEMPT, attempts)
        _many(conn, c.EVENT_INSERT, events)
        self._settle(conn, c.ended_flows(outcomes, accepted, current), actor, now_us)
        return accepted

    async def expired_runs(self, *, limit: int) -> list[Run]:
        sql = f"SELECT * FROM ({_LEASED} AND lease_until <= ?"
        sql += f" UNION ALL {_LEASED} AND lease_until IS NULL)"
        sql += " ORDER BY coalesce(lease_until, updated_at), id LIMIT ?"
        rows = await self._read(_rows, sql, (to_micros(utcnow()), max(limit, 0)))
        return [c.run_of(row) for row in rows]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        timeout = "json_extract(policy, '$.timeout')"
        sql = f"{_LEASED} AND started_at IS NOT NULL AND {timeout} IS NOT NULL"
        sql += f" AND started_at + CAST(round(({timeout} + ?) * 1000000) AS INTEGER) < ?"
        sql += " ORDER BY started_at, id LIMIT ?"
        rows = await self._read(_rows, sql, (grace, to_micros(utcnow()), max(limit, 0)))
        return [c.run_of(row) for row in rows]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        return await self._write(self._cancel_ids, run_ids, actor, reason)

    def _cancel_ids(self, conn: Conn, ids: Sequence[str], actor: str, reason: str) -> list[Run]:
        found = {row[0]: c.run_of(row) for row in _in(conn, f"{_RUNS} WHERE id IN ({{}})", ids)}
        runs = [found[run_id] for run_id in dict.fromkeys(ids) if run_id in found]
        return self._cancel(conn, runs, actor, reason, to_micros(utcnow()))

    def _cancel(self, conn: Conn, runs: list[Run], actor: str, why: str, now_us: int) -> list[Run]:
        runs = [run for run in runs if can_transition(run.state, R.CANCELLED)]
        sql = "UPDATE runs SET state = 'cancelled', updated_at = ?, finished_at = ?,"
        sql += " lease_until = NULL, reason = ? WHERE id = ?"
        _many(conn, sql, [(now_us, now_us, why, run.id) for run in runs])
        sql = "UPDATE attempts SET state = 'cancelled', finished_at = ?"
        sql += " WHERE run_id = ? AND number = ? AND finished_at IS NULL"
        _many(conn, sql, [(now_us, r.id, r.attempt) for r in runs if r.state is R.RUNNING])
        events = [(now_us, r.id, r.job, r.state.value, "cancelled", why, r.attempt) for r in runs]
        _many(conn, c.EVENT_INSERT, [(*event, actor) for event in events])
        self._settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
        now = from_micros(now_us)
        return [
            replace(
                r, state=R.CANCELLED, updated_at=now, finished_at=now, lease_until=None, reason=why
            )
            for r in runs
        ]

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        return await self._write(self._fail_queued, run_ids, actor, error)

    def _fail_queued(
        self, conn: Conn, ids: Sequence[str], actor: str, error: ErrorInfo
    ) -> list[Run]:
        sql = f"{_RUNS} WHERE state = 'queued' AND id IN ({{}})"
        found = {row[0]: c.run_of(row) for row in _in(conn, sql, ids)}
        runs = [found[run_id] for run_id in dict.fromkeys(ids) if run_id in found]
        now_us, why = to_micros(utcnow()), error.message
        sql = "UPDATE runs SET state = 'failed', updated_at = ?, finished_at = ?, error = ?,"
        sql += " reason = ? WHERE id = ?"
        text = c.error_text(error)
        _many(conn, sql, [(now_us, now_us, text, why, run.id) for run in runs])
        events = [(now_us, r.id, r.job, "queued", "failed", why, r.attempt, actor) for r in runs]
        _many(conn, c.EVENT_INSERT, events)
        self._settle(conn, {r.flow_id for r in runs if r.flow_id is not None}, actor, now_us)
        now = from_micros(now_us)
        return [
            replace(r, state=R.FAILED, updated_at=now, finished_at=now, error=error, reason=why)
            for r in runs
        ]

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        sql = "UPDATE attempts SET stdout = ?, stderr = ?"
        sql += " WHERE run_id = ? AND number = ? AND finished_at IS NULL"
        rows = [(out, err, run_id, number) for run_id, number, out, err in logs]
        await self._write(_many, sql, rows)

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        return await self._read(self._get_logs, run_id, attempt)

    def _get_logs(self, conn: Conn, run_id: str, attempt: int | None) -> tuple[str, str]:
        sql = "SELECT stdout, stderr FROM attempts WHERE run_id = ? AND (? IS NULL OR number = ?)"
        rows = _rows(conn, sql + " ORDER BY number DESC LIMIT 1", (run_id, attempt, attempt))
        if rows:
            return rows[0][0], rows[0][1]
        self._get_run(conn, run_id)
        raise NotFound.attempt(run_id, attempt)

    # -- workers -------------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        now_us = to_micros(utcnow())
        started = to_micros(info.started_at) if info.started_at else now_us
        await self._write(_exec, c.WORKER_UPSERT, c.worker_values(info, started, now_us))

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        worker_state(state)
        sql = "UPDATE workers SET state = ? WHERE id = ?"
        if not await self._write(_exec, sql, (state, worker_id)):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        sql = f"SELECT {c.WORKER_COLUMNS} FROM workers ORDER BY id"
        return [c.worker_of(row) for row in await self._read(_rows, sql)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        seen = "coalesce(last_heartbeat, started_at)"
        sql = "UPDATE workers SET state = 'dead' WHERE state IN ('up', 'draining')"
        sql += f" AND ({seen} IS NULL OR {seen} <= ?) RETURNING id"
        limit = to_micros(utcnow()) - c.seconds_us(dead_after)
        return sorted(row[0] for row in await self._write(_rows, sql, (limit,)))

    # -- events --------------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        rows = await self._read(_rows, "SELECT max(id) FROM events")
        return int(rows[0][0] or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        sql = f"SELECT {c.EVENT_COLUMNS} FROM events WHERE id > ?"
        sql += "" if run_id is None else " AND run_id = ?"
        params = (after,) if run_id is None else (after, run_id)
        rows = await self._read(_rows, sql + " ORDER BY id LIMIT ?", (*params, max(limit, 0)))
        return [c.event_of(row) for row in rows]

    # -- API tokens ----------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        await self._write(self._create_token, token)

    def _create_token(self, conn: Conn, token: Token) -> None:
        sql = f"INSERT INTO tokens ({c.TOKEN_COLUMNS}) VALUES ({c.placeholders(8)})"
        try:
            _exec(conn, sql, c.token_values(token))
        except IntegrityError as exc:
            raise Conflict.token_exists(token.id) from exc

    async def get_token(self, token_id: str) -> Token:
        rows = await self._read(_rows, f"{_TOKENS} WHERE id = ?", (token_id,))
        if not rows:
            raise NotFound.token(token_id)
        return c.token_of(rows[0])

    async def list_tokens(self) -> list[Token]:
        rows = await self._read(_rows, f"{_TOKENS} ORDER BY created_at, id")
        return [c.token_of(row) for row in rows]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        return await self._write(self._revoke_tokens, id_or_name)

    def _revoke_tokens(self, conn: Conn, id_or_name: str) -> list[Token]:
        sql = "UPDATE tokens SET revoked_at = ? WHERE (id = ? OR name = ?)"
        sql += f" AND revoked_at IS NULL RETURNING {c.TOKEN_COLUMNS}"
        rows = _rows(conn, sql, (to_micros(utcnow()), id_or_name, id_or_name))
        if not rows and not _rows(
            conn, "SELECT 1 FROM tokens WHERE id = ? OR name = ?", (id_or_name, id_or_name)
        ):
            raise NotFound.token_named(id_or_name)
        return sorted(map(c.token_of, rows), key=lambda t: (t.created_at, t.id))

    async def touch_token(self, token_id: str) -> None:
        sql = "UPDATE tokens SET last_used_at = ? WHERE id = ?"
        await self._write(_exec, sql, (to_micros(utcnow()), token_id))

    # -- dashboard sessions --------------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        await self._write(self._create_session, session)

    def _create_session(self, conn: Conn, session: DashboardSession) -> None:
        _exec(conn, ss.PURGE.format(now=to_micros(utcnow())))
        try:
            _exec(conn, ss.INSERT, ss.values(session))
        except IntegrityError as exc:
            raise Conflict.session_exists() from exc

    async def get_session(self, id_hash: str) -> DashboardSession:
        rows = await self._read(_rows, ss.SELECT, (id_hash,))
        if not rows:
            raise NotFound.session()
        return ss.session_of(rows[0])

    async def delete_session(self, id_hash: str) -> None:
        await self._write(_exec, ss.DELETE, (id_hash,))
