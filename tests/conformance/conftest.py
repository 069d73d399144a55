"""Fixtures of the store conformance suite: every test runs once per backend.

A backend is a class with ``open()`` (a started store on this test's data) and
``advance(seconds)`` (let store time pass). To add one, write the class and list it in
:data:`BACKENDS`; the whole suite then runs against it.

``async def`` tests run on one event loop per test (the ``loop`` fixture of
``tests/conftest.py``), the same loop the ``store`` fixture was opened on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.support import FakeClock
from tests.servers import REDIS_START, REDIS_URL, PgDatabases, require_server
from tss.store.base import Store
from tss.store.memory import MemoryStore


class Backend:
    """How the suite reaches one kind of store."""

    #: whether ``advance`` is instant (a fake clock) rather than a real sleep
    fake_clock = False

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    async def open(self) -> Store:
        """A started store on this test's backing data; the caller closes it."""
        raise NotImplementedError

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of store time pass."""
        time.sleep(seconds)

    def close(self) -> None:
        """Remove what the test left behind (called after its stores are closed)."""


class MemoryBackend(Backend):
    fake_clock = True

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.clock = FakeClock()
        self.store = MemoryStore(clock=self.clock)

    async def open(self) -> Store:
        return self.store  # one process, one store: every "instance" is the same

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class SQLiteBackend(Backend):
    """A SQLite file per test; every instance on it shares one fake clock."""

    fake_clock = True

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.clock = FakeClock()

    async def open(self) -> Store:
        from tss.store.sqlite import SQLiteStore

        store = SQLiteStore(f"sqlite:///{self.tmp_path}/tss.db", clock=self.clock)
        await store.start()
        return store

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)


class RedisBackend(Backend):
    """The Redis store on a real server (``TSS_TEST_REDIS_URL``, default the local one) under
    a key prefix of this test's own, whose keys are deleted after the test (SCAN + UNLINK),
    so tests can share a server with anything else. Without a server the tests skip saying
    how to start one; in CI (``CI=true``) they fail instead."""

    def __init__(self, tmp_path: Path) -> None:
        import uuid

        import redis

        super().__init__(tmp_path)
        require_server("Redis", REDIS_URL, REDIS_START)
        base = REDIS_URL
        self.prefix = f"tss-test-{uuid.uuid4().hex}"
        self.url = f"{base}{'&' if '?' in base else '?'}prefix={self.prefix}"
        client = redis.Redis.from_url(base, socket_connect_timeout=2)
        self.client = client

    def close(self) -> None:
        keys = list(self.client.scan_iter(match=f"{self.prefix}:*", count=1000))
        for start in range(0, len(keys), 1000):
            self.client.unlink(*keys[start : start + 1000])
        self.client.close()

    async def open(self) -> Store:
        from tss.store.redis import RedisStore

        store = RedisStore(self.url)
        await store.start()
        return store


class PostgresBackend(Backend):
    """A fresh database per test, cloned from a migrated template and dropped afterwards
    (``tests/servers.py``: ``TSS_TEST_POSTGRES_URL``, default the local server)."""

    #: pytest's config, so that the databases are dropped when pytest ends
    config: pytest.Config | None = None

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.databases = PgDatabases.shared(self.config)
        self.url = self.databases.create()

    async def open(self) -> Store:
        from tss.store.postgres import PostgresStore

        store = PostgresStore(self.url)
        await store.start()
        return store

    def close(self) -> None:
        self.databases.drop(self.url)


BACKENDS: dict[str, type[Backend]] = {
    "memory": MemoryBackend,
    "sqlite": SQLiteBackend,
    "postgres": PostgresBackend,
    "redis": RedisBackend,
}


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    PostgresBackend.config = request.config
    chosen = BACKENDS[request.param](tmp_path)
    yield chosen
    chosen.close()


@pytest.fixture
def store_factory(
    backend: Backend, run: Callable[[Awaitable[Any]], Any]
) -> Iterator[Callable[[], Awaitable[Store]]]:
    """``await store_factory()``: one more independent instance on the same data."""
    opened: list[Store] = []

    async def open_() -> Store:
        store = await backend.open()
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        run(store.close())


@pytest.fixture
def store(store_factory: Callable[[], Awaitable[Store]], run: Callable[..., Any]) -> Store:
    result: Store = run(store_factory())
    return result


@pytest.fixture
def advance(backend: Backend) -> Callable[[float], None]:
    """Let store time pass: instant on a fake clock, a real (short) sleep otherwise."""
    return backend.advance
