"""The SQLite store: the embedded default (WAL), safe for several processes on one host.

Each method hands one transaction body (:mod:`tss.store.sqlite.writes`) to the store's one
thread and connection (:mod:`tss.store.sqlite.connection`) and awaits it. Times come from
the store's clock, read inside the transaction: the system clock, or one given to
:class:`SQLiteStore` (tests move a fake one).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from tss.core.alerts import Alert, AlertUpdate, Silence
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
    PauseInfo,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.states import RunState, check_transition
from tss.core.timeutil import from_micros, to_micros, to_utc, utcnow
from tss.core.workers import worker_state
from tss.errors import NotFound
from tss.store import encoding
from tss.store.auditing import change_of
from tss.store.base import DashboardSession, Planner, Store
from tss.store.paging import JobOrder, bucket_us, check_offset
from tss.store.roles import Claim
from tss.store.sql import migrate, plans, rows
from tss.store.sql import queries as shared
from tss.store.sqlite import queries, retention, writes
from tss.store.sqlite.audit import SQLiteAudit
from tss.store.sqlite.connection import Connection, SQLiteConnection, execute, many, rows_in
from tss.store.sqlite.connection import rows as fetch
from tss.store.sqlite.ledger import SQLiteLedger
from tss.store.sqlite.retention import SQLiteRetention
from tss.store.sqlite.watch import CommitWatcher

P = ParamSpec("P")
T = TypeVar("T")


#: the most runs (or outcomes) a write may touch and still run on the event loop's thread
#: when the connection is free (:meth:`SQLiteStore._write_sized`)
SMALL = 64


class SQLiteStore(SQLiteAudit, SQLiteRetention, SQLiteLedger, Store):
    """A store in one SQLite file; several instances and processes may share the file.

    ``clock`` is the store's clock (default: the system's, in UTC)."""

    name = "sqlite"
    one_writer = True

    def __init__(self, url: str, *, clock: Callable[[], datetime] | None = None) -> None:
        self.url = url
        self._db = SQLiteConnection(url)
        self.database = self._db.database
        self._clock = clock or utcnow
        self._watcher: CommitWatcher | None = None

    def _now_us(self) -> int:
        return to_micros(to_utc(self._clock()))

    async def _write(
        self, fn: Callable[Concatenate[Connection, int, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        """``fn(connection, now_us, ...)`` in a write transaction, now read inside it."""
        return await self._db.write(lambda conn: fn(conn, self._now_us(), *a, **k))

    async def _write_sized(
        self,
        size: int,
        fn: Callable[Concatenate[Connection, int, P], T],
        *a: P.args,
        **k: P.kwargs,
    ) -> T:
        """:meth:`_write` of a transaction on ``size`` runs (or outcomes): one of at most
        :data:`SMALL` (a trigger, a claim, a batch of outcomes) runs on the event loop's
        thread when the connection is free at once (:meth:`SQLiteConnection.write`)."""
        write = lambda conn: fn(conn, self._now_us(), *a, **k)  # noqa: E731
        return await self._db.write(write, here=size <= SMALL)

    async def _read(
        self, fn: Callable[Concatenate[Connection, P], T], *a: P.args, **k: P.kwargs
    ) -> T:
        return await self._db.read(lambda conn: fn(conn, *a, **k))

    # -- lifecycle -------------------------------------------------------------------------

    async def exists(self) -> bool:
        """Whether the database file is there (an in-memory database always is)."""
        if self.database == ":memory:" or self.database.startswith("file:"):
            return True
        return await asyncio.to_thread(os.path.exists, self.database)

    async def start(self) -> None:
        await self._db.open(migrate.upgrade_connection)

    async def watch(self) -> asyncio.Event | None:
        """An event set soon after anyone commits to the file (see
        :class:`~tss.store.sqlite.watch.CommitWatcher`); None for an in-memory database,
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
        await self._db.close()

    async def now(self) -> datetime:
        return from_micros(self._now_us())

    # -- jobs ------------------------------------------------------------------------------

    async def create_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        fire_us, change = encoding.micros(next_fire_at), change_of("created", rolled_back)
        return await self._write(writes.create_job, spec, fire_us, actor, change)

    async def update_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        expected_version: int | None = None,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        fire_us, change = encoding.micros(next_fire_at), change_of("updated", rolled_back)
        return await self._write(writes.update_job, spec, fire_us, expected_version, actor, change)

    async def get_job(self, name: str) -> Job:
        return await self._read(writes.get_job, name)

    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        found_rows = await self._read(rows_in, f"{shared.JOBS} WHERE name IN ({{}})", names)
        found = {job.name: job for job in map(rows.job_of, found_rows)}
        return {name: found[name] for name in names if name in found}

    async def downstream(self, name: str) -> dict[str, JobSpec]:
        return plans.specs_of(await self._read(fetch, shared.DOWNSTREAM, (name,)))

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
        has_tag = "EXISTS (SELECT 1 FROM json_each(jobs.tags) WHERE value = ?)"
        where, params = shared.job_where(job_filter, has_tag=has_tag)
        return await self._read(writes.list_jobs, where, params, order, after, limit, offset)

    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        return await self._read(writes.last_runs, list(dict.fromkeys(names)))

    async def delete_job(self, name: str, *, actor: str = "user") -> None:
        await self._write(writes.delete_job, name, actor)

    async def set_paused(self, name: str, paused: bool, *, pause: PauseInfo | None = None) -> Job:
        return await self._write(writes.set_paused, name, paused, pause)

    async def resume_due_pauses(self, *, limit: int) -> list[Job]:
        # A read first: the sweep runs every second, and seldom finds a pause that ended;
        # the write lock is taken only when one did.
        if not await self._read(writes.pauses_due, self._now_us()):
            return []
        return await self._write(writes.resume_due_pauses, limit)

    # -- scheduling ------------------------------------------------------------------------

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        return await self._write(writes.fire_due_jobs, planner, limit, actor, horizon)

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        return await self._write(writes.promote, limit, actor, ahead)

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        early = (encoding.seconds_us(horizon), encoding.seconds_us(ahead))
        [found] = await self._read(fetch, queries.NEXT_WAKEUP, early)
        times = [t for t in found if t is not None]
        return from_micros(min(times)) if times else None

    # -- runs ------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        return await self._write_sized(len(runs), writes.insert_runs, list(runs), actor)

    async def create_runs_of(
        self, job: Job, runs: Sequence[NewRun], *, actor: str
    ) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        return await self._write_sized(len(runs), writes.insert_runs_of, job, list(runs), actor)

    async def get_run(self, run_id: str) -> Run:
        return await self._read(writes.get_run, run_id)

    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        sql, params = shared.run_page_query(run_filter, limit=limit, cursor=cursor, offset=offset)
        return plans.run_page(await self._read(fetch, sql, params), limit)

    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        where, params = shared.run_where(run_filter)
        sql = f"SELECT state, count(*) FROM runs WHERE {' AND '.join(where)} GROUP BY state"
        counts = dict.fromkeys(RunState, 0)
        for state, count in await self._read(fetch, sql, params):
            if state in encoding.STATES:
                counts[encoding.STATES[state]] = count
        return counts

    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        sql, params = shared.roots_query(limit, cursor)

        def read(conn: Connection) -> tuple[list[Any], list[Any]]:
            roots = fetch(conn, sql, params)
            ids = [encoding.RunRow._make(row).id for row in roots[: max(limit, 0)]]
            return roots, rows_in(conn, shared.MEMBERS + "flow_id IN ({})", ids)

        roots, members = await self._db.read(read)
        return plans.flow_page(roots, members, limit)

    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        width = bucket_us(bucket)
        found = await self._read(fetch, queries.THROUGHPUT, (width, to_micros(since)))
        return [(from_micros(slot * width), encoding.STATES[state], n) for slot, state, n in found]

    async def delete_ended_runs(
        self, job: str, *, limit: int, ended_before: datetime | None = None, keep_last: int = 0
    ) -> int:
        before, keep = encoding.before_us(ended_before), max(keep_last, 0)
        return await self._db.write(
            lambda conn: retention.prune_runs(conn, job, before, keep, max(limit, 0))
        )

    async def list_attempts(self, run_id: str) -> list[Attempt]:
        def read(conn: Connection) -> list[Attempt]:
            writes.get_run(conn, run_id)
            sql = f"SELECT {shared.ATTEMPT_COLUMNS} FROM attempts WHERE run_id = ? ORDER BY number"
            return [rows.attempt_of(row) for row in fetch(conn, sql, (run_id,))]

        return await self._db.read(read)

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        sql = "UPDATE runs SET published_at = ? WHERE id IN ({})"

        def mark(conn: Connection, now_us: int) -> None:
            rows_in(conn, sql, run_ids, now_us)

        await self._write_sized(len(run_ids), mark)

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        def read(conn: Connection, now_us: int) -> list[Any]:
            fresh = now_us - encoding.seconds_us(older_than)
            stale = now_us - encoding.seconds_us(republish_after)
            return fetch(conn, queries.FIND_UNPUBLISHED, (fresh, stale, max(limit, 0)))

        return [encoding.run_of(row) for row in await self._read(read, self._now_us())]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        sql = queries.FETCH_QUEUED.format(shared.placeholders(len(pools)))
        return [encoding.run_of(row) for row in await self._read(fetch, sql, (*pools, limit))]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        return await self._write_sized(len(run_ids), writes.claim, run_ids, worker_id, lease)

    async def _claim_next(self, claim: Claim) -> list[Run]:
        return await self._write_sized(claim.limit, writes.claim_next, *claim)

    async def _finish_and_claim(
        self, outcomes: list[Outcome], actor: str, claim: Claim
    ) -> tuple[list[bool], list[Run]]:
        size = max(len(outcomes), claim.limit)
        return await self._write_sized(size, writes.finish_and_claim, outcomes, actor, *claim)

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        return await self._write_sized(len(held), writes.heartbeat, worker_id, list(held), lease)

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        return await self._write_sized(len(outcomes), writes.finish, list(outcomes), actor)

    async def expired_runs(self, *, limit: int) -> list[Run]:
        found = await self._read(fetch, queries.EXPIRED, (self._now_us(), max(limit, 0)))
        return [encoding.run_of(row) for row in found]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        params = (grace, self._now_us(), max(limit, 0))
        return [encoding.run_of(row) for row in await self._read(fetch, queries.OVERDUE, params)]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        return await self._write(writes.cancel_ids, run_ids, actor, reason)

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        return await self._write(writes.fail_queued, run_ids, actor, error)

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        params = [(out, err, run_id, number) for run_id, number, out, err in logs]
        await self._db.write(lambda conn: many(conn, queries.SAVE_LOGS, params))

    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        return await self._read(writes.get_logs, run_id, attempt)

    # -- workers ---------------------------------------------------------------------------

    async def register_worker(self, info: WorkerInfo) -> None:
        def write(conn: Connection, now_us: int) -> None:
            started = to_micros(info.started_at) if info.started_at else now_us
            execute(conn, shared.WORKER_UPSERT, rows.worker_values(info, started, now_us))

        await self._write(write)

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        checked = worker_state(state)
        sql = "UPDATE workers SET state = ? WHERE id = ?"
        if not await self._db.write(lambda conn: execute(conn, sql, (checked, worker_id))):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        sql = f"SELECT {shared.WORKER_COLUMNS} FROM workers ORDER BY id"
        return [rows.worker_of(row) for row in await self._read(fetch, sql)]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        def write(conn: Connection, now_us: int) -> list[Any]:
            return fetch(conn, queries.MARK_DEAD, (now_us - encoding.seconds_us(dead_after),))

        return sorted(row[0] for row in await self._write(write))

    # -- events ----------------------------------------------------------------------------

    async def last_event_id(self) -> int:
        [(newest,)] = await self._read(fetch, "SELECT max(id) FROM events")
        return int(newest or 0)

    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        sql = f"SELECT {shared.EVENT_COLUMNS} FROM events WHERE id > ?"
        sql += "" if run_id is None else " AND run_id = ?"
        params = (after,) if run_id is None else (after, run_id)
        found = await self._read(fetch, sql + " ORDER BY id LIMIT ?", (*params, max(limit, 0)))
        return [rows.event_of(row) for row in found]

    # -- API tokens ------------------------------------------------------------------------

    async def create_token(self, token: Token) -> None:
        await self._db.write(lambda conn: writes.create_token(conn, token))

    async def get_token(self, token_id: str) -> Token:
        found = await self._read(fetch, f"{shared.TOKENS} WHERE id = ?", (token_id,))
        if not found:
            raise NotFound.token(token_id)
        return rows.token_of(found[0])

    async def list_tokens(self) -> list[Token]:
        found = await self._read(fetch, f"{shared.TOKENS} ORDER BY created_at, id")
        return [rows.token_of(row) for row in found]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        return await self._write(writes.revoke_tokens, id_or_name)

    async def touch_token(self, token_id: str) -> None:
        sql = "UPDATE tokens SET last_used_at = ? WHERE id = ?"
        await self._write(lambda conn, now_us: execute(conn, sql, (now_us, token_id)))

    # -- dashboard sessions ----------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        await self._write(writes.create_session, session)

    async def get_session(self, id_hash: str) -> DashboardSession:
        found = await self._read(fetch, shared.SESSION_SELECT, (id_hash,))
        if not found:
            raise NotFound.session()
        return rows.session_of(found[0])

    async def delete_session(self, id_hash: str) -> None:
        await self._db.write(lambda conn: execute(conn, shared.SESSION_DELETE, (id_hash,)))

    # -- alerts, leases, silences ----------------------------------------------------------

    async def add_alerts(self, alerts: Sequence[Alert]) -> list[bool]:
        return await self._db.write(lambda conn: writes.add_alerts(conn, list(alerts)))

    async def due_alerts(self, *, limit: int) -> list[Alert]:
        params = (self._now_us(), max(limit, 0))
        found = await self._read(fetch, queries.DUE_ALERTS, params)
        return [rows.alert_of(row) for row in found]

    async def settle_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        params = [rows.alert_update_values(update) for update in updates]
        await self._db.write(lambda conn: many(conn, shared.ALERT_SETTLE, params))

    async def list_alerts(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        sql, params = shared.alert_page_query(job, state, channel, limit, cursor)
        return plans.alert_page(await self._read(fetch, sql, params), limit)

    async def get_alert(self, alert_id: str) -> Alert:
        found = await self._read(fetch, f"{shared.ALERTS} WHERE id = ?", (alert_id,))
        if not found:
            raise NotFound.alert(alert_id)
        return rows.alert_of(found[0])

    async def take_lease(self, name: str, holder: str, ttl: float) -> dict[str, Any] | None:
        return await self._write(writes.take_lease, name, holder, ttl)

    async def save_lease(self, name: str, holder: str, state: dict[str, Any]) -> bool:
        params = (encoding.dumps(state), name, holder)
        return bool(await self._db.write(lambda conn: execute(conn, shared.LEASE_SAVE, params)))

    async def put_silence(self, silence: Silence) -> None:
        params = rows.silence_values(silence)
        await self._db.write(lambda conn: execute(conn, shared.SILENCE_UPSERT, params))

    async def delete_silence(self, job: str) -> bool:
        sql = shared.SILENCE_DELETE
        return bool(await self._db.write(lambda conn: execute(conn, sql, (job,))))

    async def list_silences(self) -> list[Silence]:
        found = await self._read(fetch, queries.SILENCES, (self._now_us(),))
        return [rows.silence_of(row) for row in found]
