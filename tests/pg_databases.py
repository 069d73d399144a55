"""PostgreSQL databases for tests: each test gets a fresh database cloned from a migrated
template; the databases a test process made are dropped when it exits.

The server is ``TSS_TEST_POSTGRES_URL`` (default: the local one, trust auth). The template is
named after a hash of the migration scripts, so a new migration makes a new template; it is
built once, by whichever pytest process (xdist worker) needs it first, under an advisory
lock, under a temporary name renamed when complete. Without a server the tests skip saying
how to start one; in CI (``CI=true``) they fail instead.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import queue
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tss._urls import mask_url
from tss.store.sql import migrate

ADMIN_URL = os.environ.get("TSS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
START_HINT = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
_LOCK_KEY = 0x7473_735F_7465_7374  # "tss_test"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
                        f" start it with: {START_HINT} (or set TSS_TEST_POSTGRES_URL)"
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
            if in_ci():
                pytest.fail(self._unavailable)
            pytest.skip(self._unavailable)

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
