"""The PostgreSQL store's plumbing: its URL, its asyncpg pool, driver errors turned into TSS
errors, transactions retried on deadlock, and the LISTEN connection behind notices.

asyncpg is imported only when a PostgreSQL store is opened; without it the message says
how to install it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from tss._urls import mask_url
from tss.errors import ConfigError, StoreError, TSSError
from tss.store.sql.migrate import POSTGRES_SCHEMES

log = logging.getLogger("tss.store.postgres")
T = TypeVar("T")

#: the store's clock in SQL: microseconds since the epoch at the start of the transaction
#: (``now()``), so every time one transaction writes is the same instant and a transaction
#: that waited on a lock errs on the early side (a lease looks less expired, not more)
NOW_US = "(extract(epoch from now()) * 1000000)::bigint"
#: how many times a transaction that lost a deadlock or a serialization race is tried
_TX_TRIES = 5


def asyncpg_module() -> Any:
    """The asyncpg module (untyped: it ships no type information).

    :raises ConfigError: it is not installed.
    """
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - the dev environment has it
        raise ConfigError(
            'store.url: the PostgreSQL store needs asyncpg: pip install "tss-scheduler[postgres]"',
            field="store.url",
        ) from exc
    return asyncpg


def dsn_of(url: str) -> str:
    """The asyncpg DSN of a store URL (``postgres://``, ``postgresql://`` or
    ``postgresql+driver://``).

    :raises ConfigError: not a PostgreSQL URL.
    """
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ConfigError(
            f"{mask_url(url)!r} is not a store URL: {exc}", field="store.url"
        ) from exc
    if parts.scheme.lower() not in POSTGRES_SCHEMES:
        raise ConfigError(
            f"{mask_url(url)!r} is not a PostgreSQL URL"
            " (postgresql://user:password@host:5432/database)",
            field="store.url",
        )
    return urlunsplit(parts._replace(scheme="postgresql"))


# -- errors ----------------------------------------------------------------------------------


def _is_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` means the server could not be reached or dropped the connection (as
    opposed to refusing one statement)."""
    asyncpg = asyncpg_module()
    e = asyncpg.exceptions
    lost = (
        OSError,
        TimeoutError,
        asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
        e.InternalClientError,  # a FATAL from an ended backend met a statement on its way
        e.PostgresConnectionError,  # class 08
        e.OperatorInterventionError,  # class 57: admin shutdown, crash, cannot connect now
        e.InvalidAuthorizationSpecificationError,  # class 28: who we are
        e.InvalidCatalogNameError,  # no such database
        e.InsufficientResourcesError,  # too many connections
    )
    return isinstance(exc, lost) and not isinstance(exc, e.QueryCanceledError)


def is_retryable(exc: BaseException) -> bool:
    """A transaction that lost a deadlock or a serialization race: running it again is safe."""
    return isinstance(exc, asyncpg_module().exceptions.TransactionRollbackError)


def store_error(exc: BaseException, url: str) -> StoreError:
    """The one-line :class:`StoreError` for a driver error (password hidden)."""
    why = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, asyncpg_module().exceptions.InternalClientError):
        why = "the server closed the connection"  # asyncpg's words are about its internals
    where = mask_url(url)
    if _is_unreachable(exc):
        return StoreError(
            f"cannot reach the PostgreSQL store at {where} ({why}): check that the server is"
            " up and that store.url names the right host, port, database, user and password"
        )
    return StoreError(f"PostgreSQL store {where}: {why}")


def is_driver_error(exc: BaseException) -> bool:
    asyncpg = asyncpg_module()
    driver = (
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError,
        OSError,
        TimeoutError,
    )
    return isinstance(exc, driver) and not isinstance(exc, TSSError)


# -- the pool --------------------------------------------------------------------------------


async def _keep_session(_conn: Any) -> None:
    return None


class Pool:
    """A small asyncpg pool; every use goes through :meth:`run`, which translates errors."""

    def __init__(self, url: str, *, max_size: int = 10) -> None:
        self.url = url
        self.dsn = dsn_of(url)
        self.max_size = max_size
        self._pool: Any = None

    async def open(self) -> None:
        asyncpg = asyncpg_module()
        try:
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=1,
                max_size=self.max_size,
                timeout=10,  # connecting
                command_timeout=60,
                # JIT compiling a query costs more than these short queries take.
                server_settings={"jit": "off", "application_name": "tss"},
                # The store leaves no session state on its connections (no SET, no LISTEN,
                # no session locks, no cursors), so skip asyncpg's reset query (RESET ALL,
                # UNLISTEN *, ...): a round trip on every release. Open transactions are
                # still rolled back.
                reset=_keep_session,
            )
        except Exception as exc:
            if is_driver_error(exc):
                raise store_error(exc, self.url) from exc
            raise

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), 10)
            except Exception:  # TimeoutError included: a server that does not answer
                pool.terminate()

    async def run(
        self, fn: Callable[[Any], Awaitable[T]], *, tx: bool = False, retry_lost: bool = False
    ) -> T:
        """``await fn(connection)``, in a transaction with ``tx``; tried again after losing
        a deadlock or a serialization race, and once more on a fresh connection after a
        dropped one with ``retry_lost`` (for reads: idle connections die with a restart).

        :raises StoreError: the driver failed (one line, password hidden).
        """
        if self._pool is None:
            raise StoreError(
                f"the PostgreSQL store {mask_url(self.url)} is not started (or is closed)"
            )
        tries = 0
        while True:
            tries += 1
            try:
                async with self._pool.acquire() as conn:
                    if not tx:
                        return await fn(conn)
                    async with conn.transaction():
                        return await fn(conn)
            except TSSError:
                raise
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                # Rolled back whole (a transaction, or one statement on its own): safe to
                # run again.
                if is_retryable(exc) and tries < _TX_TRIES:
                    await asyncio.sleep(0.005 * tries)
                    continue
                if _is_unreachable(exc):
                    # The server restarted or ended our sessions: the idle connections are
                    # as dead as this one. Replace them all on their next use.
                    with contextlib.suppress(Exception):
                        await self._pool.expire_connections()
                    if retry_lost and tries == 1:
                        continue
                raise store_error(exc, self.url) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one read; tried once more if the connection had died (a server restart)."""
        found: list[Any] = await self.run(lambda conn: conn.fetch(sql, *args), retry_lost=True)
        return found

    async def write(self, sql: str, *args: Any) -> list[Any]:
        """Rows of one statement that writes (its own transaction)."""
        found: list[Any] = await self.run(lambda conn: conn.fetch(sql, *args))
        return found

    async def tx(self, body: Callable[[Any], Awaitable[T]]) -> T:
        """``await body(connection)`` in one transaction."""
        return await self.run(body, tx=True)


def columns(rows: Sequence[Sequence[Any]], width: int, text: Sequence[int] = ()) -> list[list[Any]]:
    """``rows`` as ``width`` column lists (the arrays ``unnest`` takes). In the ``text``
    columns (free text: logs, reasons) a NUL, which PostgreSQL text cannot hold, becomes
    U+FFFD instead of failing the whole batch."""
    cols = [list(col) for col in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
    for i in text:
        col = cols[i]
        if "\x00" in "".join(v for v in col if v):
            cols[i] = [v.replace("\x00", "\ufffd") if v else v for v in col]
    return cols


def clean(text: str | None) -> str | None:
    """One free-text value made storable (see :func:`columns`)."""
    return text.replace("\x00", "\ufffd") if text and "\x00" in text else text


# -- notices ---------------------------------------------------------------------------------


class Listener:
    """One connection that LISTENs and sets asyncio events when notices arrive.

    It reconnects by itself with backoff; after a reconnect every event is set, since
    notices sent while it was away are lost.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dsn = dsn_of(url)
        self._subscribers: dict[str, list[tuple[asyncio.Event, frozenset[str] | None]]] = {}
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._connected = asyncio.Event()

    async def subscribe(self, channel: str, payloads: Collection[str] | None) -> asyncio.Event:
        event = asyncio.Event()
        wanted = None if payloads is None else frozenset(payloads)
        first = channel not in self._subscribers
        self._subscribers.setdefault(channel, []).append((event, wanted))
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening(), name="tss-pg-listen")
        elif first and self._conn is not None and not self._conn.is_closed():
            with contextlib.suppress(Exception):
                await self._conn.add_listener(channel, self._on_notice)
        # Wait briefly for the connection so that notices sent right after this return are
        # seen; if the server is away the event still works (set when it is back).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 5)
        return event

    def _on_notice(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        for event, wanted in self._subscribers.get(channel, ()):
            if wanted is None or payload in wanted:
                event.set()

    def _on_lost(self, _conn: Any) -> None:
        self._connected.clear()
        self._lost.set()

    def _set_all(self) -> None:
        for subscribers in self._subscribers.values():
            for event, _ in subscribers:
                event.set()

    async def _keep_listening(self) -> None:
        asyncpg = asyncpg_module()
        backoff = 0.2
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn, timeout=10, server_settings={"application_name": "tss-listen"}
                )
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
                log.warning("%s; listening again in %.1fs", store_error(exc, self.url), backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            self._lost.clear()
            conn.add_termination_listener(self._on_lost)
            try:
                for channel in list(self._subscribers):
                    await conn.add_listener(channel, self._on_notice)
                self._conn = conn
                self._connected.set()
                self._set_all()  # what was sent while nobody listened: look again
                backoff = 0.2
                await self._lost.wait()
            except Exception as exc:
                if not is_driver_error(exc):
                    raise
            finally:
                self._conn = None
                self._connected.clear()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(), 2)
                conn.terminate()
            self._set_all()
            await asyncio.sleep(backoff)

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._subscribers.clear()


# -- what the store asks of a database before using it ---------------------------------------


async def schema_revision(conn: Any) -> str | None:
    """The schema revision recorded in the database; None for one without TSS's schema."""
    if not await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
        return None
    value = await conn.fetchval("SELECT version_num FROM alembic_version")
    return None if value is None else str(value)


async def orders_by_code_point(conn: Any) -> bool:
    """Whether the database's collation sorts text by code point, as the other stores do
    (``C``, ``POSIX``, glibc's ``C.UTF-8``); if not, names are compared ``COLLATE "C"``."""
    row = await conn.fetchrow("SELECT * FROM pg_database WHERE datname = current_database()")
    if row.get("datlocprovider", "c") != "c":
        return False
    collate = str(row["datcollate"])
    return collate in ("C", "POSIX") or collate.startswith("C.")
