"""The SQLite store's plumbing: one thread and one connection per store, transactions opened
with ``BEGIN IMMEDIATE`` for writes (plain ``BEGIN`` for reads), the pragmas (WAL, busy
timeout), a WAL checkpointer of its own, and driver errors turned into TSS errors.

All database work of one store runs on its one thread; the async side hands a function
over (:meth:`SQLiteConnection.write`, :meth:`SQLiteConnection.read`) and awaits it. A short
write of a bounded size may instead run on the event loop's thread when the connection is
free at once (no transaction on the store's thread, no other process holding the write
lock): the hand-over and back costs as much CPU as the transaction.
Writes take the write lock up front, so processes sharing the file (server, CLI, a second
scheduler) queue on SQLite's lock instead of failing a lock upgrade; reads use deferred
transactions and never block writers (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from tss.errors import ConfigError, StoreError, TSSError
from tss.store.encoding import chunks
from tss.store.sql.engine import BUSY_TIMEOUT_MS, configure_engine
from tss.store.sql.queries import placeholders

T = TypeVar("T")

#: bytes of WAL past which the store's thread checkpoints it and starts it over (see
#: :class:`Checkpointer`)
WAL_LIMIT = 32 * 1024 * 1024
#: seconds the checkpointer tries to start a WAL past its limit over without stalling the
#: store before the store's thread does it (see :class:`Checkpointer`)
CATCH_UP = 0.5
#: seconds between two passive checkpoints while catching up
_CATCH_UP_REST = 0.002
#: milliseconds that truncating checkpoint waits for another process's reader or writer
#: before leaving it to the next turn (the store's thread waits meanwhile)
_TRUNCATE_WAIT_MS = 100


def database_of(url: str) -> str:
    """The database file of a SQLite store URL (``:memory:`` for none).

    :raises ConfigError: not a SQLite URL.
    """
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"{url!r} is not a store URL: {exc}", field="store.url") from exc
    if parsed.get_backend_name() != "sqlite":
        raise ConfigError(f"{url!r} is not a SQLite URL (sqlite:///path.db)", field="store.url")
    return parsed.database or ":memory:"


def why(exc: BaseException) -> str:
    """The driver's words for ``exc``."""
    return str(getattr(exc, "orig", None) or exc)


# -- statements on a connection (called on the store's thread, inside a transaction) ---------

#: what the store's statements run on: the driver's own connection. SQLAlchemy opens it,
#: migrates and configures it; the store's transactions then go to sqlite3 directly, as
#: SQLAlchemy's layer per statement and per transaction cost more than the statements
#: (``tss server`` on SQLite spends most of its time on the store's one thread).
Connection = sqlite3.Connection


def rows(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[Any]:
    """The rows of one statement (none for a statement that returns none)."""
    return conn.execute(sql, tuple(params)).fetchall()


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> int:
    """Run one statement; how many rows it changed."""
    return conn.execute(sql, tuple(params)).rowcount


def many(conn: Connection, sql: str, params: Sequence[Sequence[Any]]) -> None:
    """Run one statement once per parameter row (``executemany``)."""
    if params:
        # Plain tuples: sqlite3 binds a tuple subclass (a named row) by the slower
        # sequence protocol.
        conn.executemany(sql, list(map(tuple, params)))


def rows_in(conn: Connection, sql: str, ids: Sequence[Any], *before: Any) -> list[Any]:
    """Run ``sql`` (which has ``{}`` where the ``IN`` list goes) over ``ids`` in chunks."""
    found: list[Any] = []
    for part in chunks(list(dict.fromkeys(ids))):
        found += rows(conn, sql.format(placeholders(len(part))), (*before, *part))
    return found


def changes(conn: Connection) -> int:
    """How many rows this connection has changed since it opened (``total_changes``)."""
    return conn.total_changes


# -- the store's thread and connection -------------------------------------------------------


class Checkpointer:
    """Copies the WAL back into the database every ``every`` seconds on a connection and a
    thread of its own (``PASSIVE``: it never blocks readers or writers).

    SQLite starts the WAL over only when a write begins after a checkpoint that copied all
    of it; under a steady stream of writes a passive checkpoint copying a second's worth of
    frames rarely gets there (frames are appended while it copies), so the file grows
    without end (~140 KB per run on ``tss server``). When the WAL file is past ``limit``
    bytes, the checkpointer *catches up*: passive checkpoints back to back, each copying
    only what was written during the one before, until one ends with nothing left and the
    next write starts the file over (cut back to ``journal_size_limit``), for up to
    ``catch_up`` seconds. No transaction waits for that. Only when it does not get there
    (another process's reader holding an old snapshot, or writes that never leave a gap) is
    ``truncate`` called: the store's own thread then checkpoints between two of its
    transactions, where its writer cannot be in the way, and restarts the file (a stall of
    the store for as long as that copy takes).
    """

    def __init__(
        self,
        database: str,
        every: float = 1.0,
        *,
        limit: int = 0,
        truncate: Callable[[], None] | None = None,
        catch_up: float = CATCH_UP,
    ) -> None:
        self._database = database
        self._every = every
        self._limit = limit
        self._truncate = truncate
        self._catch_up = catch_up
        self._stopped = threading.Event()
        #: checkpoints that copied the whole WAL back (the next write starts it over)
        self.completed = 0
        #: times the WAL was started over by catching up (no stall of the store)
        self.restarted = 0
        self._thread = threading.Thread(target=self._loop, name="tss-sqlite-wal", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        conn = sqlite3.connect(self._database, timeout=0.1, isolation_level=None)
        try:
            while not self._stopped.wait(self._every):
                self._passive(conn)
                if self._truncate is not None and self._wal_size() > self._limit:
                    if self._caught_up(conn):
                        self.restarted += 1
                    else:
                        self._truncate()
        finally:
            conn.close()

    def _passive(self, conn: sqlite3.Connection) -> int | None:
        """One passive checkpoint; the frames in the WAL when it began (None: busy, or an
        error; the next turn will do)."""
        with contextlib.suppress(sqlite3.Error):
            busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if not busy and frames == copied:
                self.completed += 1
            return None if busy else int(frames)
        return None

    def _caught_up(self, conn: sqlite3.Connection) -> bool:
        """Passive checkpoints back to back until a write starts the WAL over (its frames
        go down); False when that did not happen within ``catch_up`` seconds."""
        deadline = time.monotonic() + self._catch_up
        last: int | None = None
        while time.monotonic() < deadline and not self._stopped.is_set():
            frames = self._passive(conn)
            if frames is not None:
                if last is not None and frames < last:
                    return True
                last = frames
            time.sleep(_CATCH_UP_REST)
        return False

    def _wal_size(self) -> int:
        try:
            return os.stat(self._database + "-wal").st_size
        except OSError:
            return 0

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)


class SQLiteConnection:
    """One thread and one connection to one SQLite database, migrated when opened."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.database = database_of(url)
        self._executor: ThreadPoolExecutor | None = None
        self._engine: Engine | None = None
        self._conn: sa.engine.Connection | None = None  # SQLAlchemy's: it migrates
        self._raw: Connection | None = None  # the driver's under it: the store's work
        #: held by whoever uses ``_raw``: the store's thread, or the event loop's thread for
        #: a short write (:meth:`write` with ``here``)
        self._lock = threading.Lock()
        self._checkpointer: Checkpointer | None = None
        #: bytes of WAL past which it is truncated (:data:`WAL_LIMIT`; tests lower it)
        self.wal_limit = WAL_LIMIT
        #: seconds the checkpointer catches up before the store's thread truncates
        #: (:data:`CATCH_UP`; 0 truncates at once)
        self.catch_up = CATCH_UP
        #: truncating checkpoints done on the store's thread
        self.truncated = 0

    @property
    def started(self) -> bool:
        return self._executor is not None

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._executor is None:
            raise StoreError(f"the SQLite store {self.database} is not started (or is closed)")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _tx(self, begin: str, fn: Callable[[Connection], T]) -> T:
        with self._lock:
            raw = self._raw
            if raw is None:
                raise StoreError(f"the SQLite store {self.database} is not started (or is closed)")
            try:
                raw.execute(begin)
            except sqlite3.Error as exc:
                raise StoreError(f"SQLite store {self.database}: {exc}") from exc
            return self._commit(raw, fn)

    def _commit(self, raw: Connection, fn: Callable[[Connection], T]) -> T:
        """``fn(raw)`` in the transaction ``raw`` is in, then commit (roll back if it raised).
        The caller holds the lock."""
        try:
            try:
                found = fn(raw)
            except BaseException:
                raw.execute("ROLLBACK")
                raise
            raw.execute("COMMIT")
            return found
        except TSSError:
            raise
        except sqlite3.Error as exc:
            if raw.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    raw.execute("ROLLBACK")
            raise StoreError(f"SQLite store {self.database}: {exc}") from exc

    def _write_here(self, fn: Callable[[Connection], T]) -> tuple[bool, T | None]:
        """``fn`` in a write transaction on the calling thread (the event loop's), if the
        connection is free at once: the store's thread is between two transactions and no
        other process holds the write lock. ``(False, None)`` when it is not (nothing ran)."""
        if not self._lock.acquire(blocking=False):
            return False, None
        try:
            raw = self._raw
            if raw is None:
                return False, None
            try:
                raw.execute("PRAGMA busy_timeout = 0")
                try:
                    raw.execute("BEGIN IMMEDIATE")
                finally:
                    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            except sqlite3.Error:  # locked by another process: wait for it on the thread
                return False, None
            return True, self._commit(raw, fn)
        finally:
            self._lock.release()

    async def write(self, fn: Callable[[Connection], T], *, here: bool = False) -> T:
        """``fn(connection)`` in a write transaction (``BEGIN IMMEDIATE``) on the thread.

        ``here=True`` is for a short transaction of a bounded size (a trigger, a claim, a
        batch of outcomes): it runs on the caller's thread when the connection is free at
        once, which saves the hand-over to the store's thread and back (about 90 us of CPU,
        as much as the transaction itself), and waits on the thread as usual when it is not.

        :raises StoreError: the database failed.
        """
        if here:
            ran, found = self._write_here(fn)
            if ran:
                return cast(T, found)
        return await self._run(lambda: self._tx("BEGIN IMMEDIATE", fn))

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """``fn(connection)`` in a read transaction on the thread.

        :raises StoreError: the database failed.
        """
        return await self._run(lambda: self._tx("BEGIN", fn))

    async def open(self, upgrade: Callable[[sa.engine.Connection], None]) -> None:
        """Start the thread, connect, and bring the schema up to date with ``upgrade``."""
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="tss-sqlite")
        try:
            await self._run(lambda: self._open(upgrade))
        except BaseException:
            self._executor.shutdown(wait=True)
            self._executor = None
            raise

    def _open(self, upgrade: Callable[[sa.engine.Connection], None]) -> None:
        engine = sa.create_engine(self.url)
        configure_engine(engine)
        try:
            conn = engine.connect()
            try:
                upgrade(conn)
            except BaseException:
                conn.close()
                raise
        except (SQLAlchemyError, StoreError) as exc:
            engine.dispose()
            cause = why(exc.__cause__ or exc) if isinstance(exc, StoreError) else why(exc)
            raise StoreError(f"cannot open the SQLite database {self.database}: {cause}") from exc
        raw = conn.connection.driver_connection
        assert isinstance(raw, sqlite3.Connection) and raw.isolation_level is None
        with self._lock:
            self._engine, self._conn, self._raw = engine, conn, raw
        if self.database != ":memory:":
            # SQLite checkpoints the WAL inside whichever COMMIT crosses 1,000 pages: on a
            # slow disk that one commit takes hundreds of ms on the store's only thread.
            # Checkpoint from a thread of its own instead.
            raw.execute("PRAGMA wal_autocheckpoint = 0")  # outside any transaction
            # A restarted WAL is cut back to the limit by the write that starts it over.
            raw.execute(f"PRAGMA journal_size_limit = {int(self.wal_limit)}")
            self._checkpointer = Checkpointer(
                self.database,
                limit=self.wal_limit,
                truncate=self._truncate_soon,
                catch_up=self.catch_up,
            )

    def _truncate_soon(self) -> None:
        """Queue :meth:`_truncate` on the store's thread (called from the checkpointer's)."""
        executor = self._executor
        if executor is not None:
            with contextlib.suppress(RuntimeError):  # shut down meanwhile
                executor.submit(self._truncate)

    def _truncate(self) -> None:
        """Checkpoint the whole WAL so the next write starts it over (cut back to the
        limit), between two of the store's transactions; another process's reader or writer
        in the way leaves it to the next turn."""
        with self._lock:
            raw = self._raw
            if raw is None or raw.in_transaction:
                return
            with contextlib.suppress(sqlite3.Error):
                raw.execute(f"PRAGMA busy_timeout = {_TRUNCATE_WAIT_MS}")
                try:
                    # RESTART, not TRUNCATE: the next write starts the file over in
                    # place (cut back to journal_size_limit) instead of freeing every
                    # block now and growing the file again; the stall is ~40% shorter.
                    busy = raw.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()[0]
                finally:
                    raw.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                if not busy:
                    self.truncated += 1

    def _shut(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
            self._checkpointer = None
        with self._lock:
            conn, engine, self._conn, self._engine = self._conn, self._engine, None, None
            self._raw = None
        if conn is not None:
            conn.close()
        if engine is not None:
            engine.dispose()

    async def close(self) -> None:
        """Close the connection and stop the thread. Idempotent."""
        executor = self._executor
        if executor is None:
            return
        try:
            await self._run(self._shut)
        finally:
            self._executor = None
            executor.shutdown(wait=True)
