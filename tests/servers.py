"""The servers the tests reach, and the rules for reaching them, written once.

- :func:`in_ci`: whether this run is CI's. ``.ci/run`` sets ``CI=true``; ``1`` and ``yes``
  count too (any case), so a CI that says ``CI=1`` is not mistaken for a laptop.
- :func:`missing` / :func:`require_server`: a server (or a browser) a test needs and cannot
  reach fails the test in CI, where it must not pass silently, and skips it elsewhere, saying
  how to start it.
- The servers' URLs (``TSS_TEST_POSTGRES_URL``, ``TSS_TEST_REDIS_URL``,
  ``TSS_TEST_RABBITMQ_URL``; default: the local ones) and the commands that start them.
- :func:`run`: the one way a synchronous test runs a coroutine (``async def`` tests run on
  the ``loop`` fixture of ``tests/conftest.py`` instead).
- PostgreSQL databases: each test gets a fresh database cloned from a migrated template; the
  databases a test process made are dropped when it exits (:class:`PgDatabases`, the
  ``pg_url`` fixture). The template is named after a hash of the migration scripts, so a new
  migration makes a new template; it is built once, by whichever pytest process (xdist
  worker) needs it first, under an advisory lock, under a temporary name renamed when
  complete.
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import os
import queue
import socket
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tss._urls import mask_url
from tss.store.sql import migrate

T = TypeVar("T")

#: the values of ``CI`` that mean "this is CI"
CI_VALUES = frozenset({"1", "true", "yes"})

ADMIN_URL = os.environ.get("TSS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TSS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("TSS_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/")

#: how to start each server (as ``.ci/run`` does)
POSTGRES_START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
RABBITMQ_START = "rabbitmq-server -detached"

#: the variable that points the tests at another server, by server name
_URL_VARIABLES = {
    "PostgreSQL": "TSS_TEST_POSTGRES_URL",
    "Redis": "TSS_TEST_REDIS_URL",
    "RabbitMQ": "TSS_TEST_RABBITMQ_URL",
}
_DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "rediss": 6379, "amqp": 5672}
_LOCK_KEY = 0x7473_735F_7465_7374  # "tss_test"


def in_ci() -> bool:
    """Whether this run is CI's (``CI`` is ``1``, ``true`` or ``yes``, in any case)."""
    return os.environ.get("CI", "").strip().lower() in CI_VALUES


def missing(message: str) -> NoReturn:
    """Fail the test in CI (a missing server must not pass silently there), skip it
    elsewhere; ``message`` says what is missing and how to get it."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_server(name: str, url: str, how_to_start: str) -> None:
    """Fail (in CI) or skip (elsewhere) unless the host and port of ``url`` take TCP
    connections; the message names the server and says how to start it."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme.split("+")[0], 0)
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError as exc:
        variable = _URL_VARIABLES.get(name)
        elsewhere = f" (or point {variable} at one)" if variable else ""
        missing(
            f"{name} is not reachable at {host}:{port} ({exc});"
            f" start it with `{how_to_start}`{elsewhere}"
        )


def drop_redis_keys(prefix: str, url: str = REDIS_URL) -> None:
    """Delete every key under ``prefix:`` on the Redis server of ``url`` (SCAN + UNLINK:
    the server is shared, so only what one test made goes)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            client.unlink(*keys[start : start + 1000])
    finally:
        client.close()


@contextmanager
def redis_prefix(name: str = "tss-test") -> Iterator[str]:
    """A key prefix of the caller's own on the shared Redis server (``REDIS_URL``), whose
    keys are deleted afterwards; fails in CI or skips elsewhere without a server."""
    require_server("Redis", REDIS_URL, REDIS_START)
    prefix = f"{name}-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix
    finally:
        drop_redis_keys(prefix)


def run(coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
    """Run ``coro`` to its end on a new event loop, from synchronous test code; a coroutine
    that takes longer than ``timeout`` seconds (a hang) fails with ``TimeoutError``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url_for(database: str, base: str = ADMIN_URL) -> str:
    """``base`` with its database replaced."""
    return urlunsplit(urlsplit(base)._replace(path=f"/{database}"))


def _template_name() -> str:
    digest = hashlib.sha256()
    for path in sorted((migrate.MIGRATIONS / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return f"tss_tpl_{digest.hexdigest()[:12]}"


class PgDatabases:
    """Creates and drops this process's test databases (one instance per process).

    Cloning takes ~0.1 s and dropping forces a checkpoint in PostgreSQL 15, so neither is
    done on a test's critical path: a thread keeps :data:`READY` clones made ahead, and the
    databases are dropped, several at once, when the process exits (:meth:`finish`).
    """

    READY = 2
    _shared: PgDatabases | None = None
    _shared_lock = threading.Lock()

    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.template: str | None = None
        self._unavailable: str | None = None
        self._lock = threading.Lock()
        self._ready: queue.Queue[str | BaseException] = queue.Queue()
        self._wanted = threading.Semaphore(0)
        self._to_drop: list[str] = []
        self._maker: threading.Thread | None = None
        self._cleanup_registered = False
        atexit.register(self.finish)

    @classmethod
    def shared(cls, config: pytest.Config | None = None) -> PgDatabases:
        """This process's instance. Give pytest's ``config`` so that the databases are
        dropped when pytest ends (pytest-xdist workers end without running ``atexit``)."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            if config is not None and not cls._shared._cleanup_registered:
                config.add_cleanup(cls._shared.finish)
                cls._shared._cleanup_registered = True
            return cls._shared

    def _connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.admin_url, autocommit=True, connect_timeout=3)

    def require(self) -> None:
        """Skip (locally) or fail (in CI) unless the server takes connections; build the
        template and start making clones on first use."""
        with self._lock:
            if self.template is None and self._unavailable is None:
                try:
                    self._connect().close()
                except psycopg.OperationalError as exc:
                    why = " ".join(str(exc).split())
                    self._unavailable = (
                        f"PostgreSQL is not reachable at {mask_url(self.admin_url)} ({why});"
                        f" start it with `{POSTGRES_START}` (or point TSS_TEST_POSTGRES_URL"
                        " at one)"
                    )
                else:
                    self.template = self._build_template()
                    self._maker = threading.Thread(
                        target=self._make, name="tss-test-createdb", daemon=True
                    )
                    self._maker.start()
                    for _ in range(self.READY):
                        self._wanted.release()
        if self._unavailable is not None:
            missing(self._unavailable)

    def _build_template(self) -> str:
        name = _template_name()
        with self._connect() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
                ).fetchone()
                if not exists:
                    building = f"{name}_building"
                    conn.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                    conn.execute(f'CREATE DATABASE "{building}"')
                    migrate.upgrade(url_for(building, self.admin_url))
                    conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
        return name

    def _make(self) -> None:
        """The maker thread: one clone each time one is wanted."""
        conn = self._connect()
        while True:
            self._wanted.acquire()
            if self.template is None:  # finish() stops it
                conn.close()
                return
            name = f"tss_t_{uuid.uuid4().hex[:16]}"
            try:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
                self._to_drop.append(name)
                self._ready.put(name)
            except BaseException as exc:
                self._ready.put(exc)

    def create(self) -> str:
        """The URL of a new database cloned from the template."""
        self.require()
        made = self._ready.get(timeout=60)
        self._wanted.release()
        if isinstance(made, BaseException):
            raise made
        return url_for(made, self.admin_url)

    def create_empty(self) -> str:
        """The URL of a new empty database (no schema)."""
        self.require()
        name = f"tss_t_{uuid.uuid4().hex[:16]}"
        with self._connect() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._to_drop.append(name)
        return url_for(name, self.admin_url)

    def adopt(self, name: str) -> None:
        """Drop database ``name`` (made by a test itself) at exit with the others: a drop
        forces a checkpoint, which on a busy server takes long enough to stall a test's
        teardown; dropped together, the checkpoints coalesce."""
        self._to_drop.append(name)

    def drop(self, url: str) -> None:
        """Mark the database of ``url`` done with; it is dropped when the process exits."""

    def finish(self) -> None:
        """Drop every database this process made (connections left open are ended)."""
        if self.template is None:
            return
        self.template = None
        self._wanted.release()
        if self._maker is not None:
            self._maker.join(30)
        names, self._to_drop = self._to_drop, []
        # Several at once, so that the checkpoints they force coalesce. (Plain threads:
        # this runs at exit, when executors take no more work.)
        droppers = [threading.Thread(target=self._drop, args=(names[i::8],)) for i in range(8)]
        for thread in droppers:
            thread.start()
        for thread in droppers:
            thread.join(120)

    def _drop(self, names: list[str]) -> None:
        if names:
            with self._connect() as conn:
                for name in names:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The URL of a fresh migrated database for this test (see :class:`PgDatabases`)."""
    databases = PgDatabases.shared(request.config)
    url = databases.create()
    yield url
    databases.drop(url)


def terminate_backends(url: str) -> int:
    """End every server process connected to the database of ``url`` (as a server restart
    would, for that database only); how many there were."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchone()
    return int(row[0]) if row else 0
