"""Fixtures of the store conformance suite: every test runs once per backend.

A backend is a class with ``open()`` (a started store on this test's data) and
``advance(seconds)`` (let store time pass). To add one, write the class and list it in
:data:`BACKENDS`; the whole suite then runs against it.

The project does not rely on pytest-asyncio: ``async def`` tests here run on one event loop
per test (the ``loop`` fixture), the same loop the ``store`` fixture was opened on.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tss.core.timeutil import utcnow
from tss.store.base import Store
from tss.store.memory import MemoryStore

T = TypeVar("T")


class FakeClock:
    """A store clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.value = utcnow()

    def __call__(self) -> datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += timedelta(seconds=seconds)


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
    async def open(self) -> Store:
        from tss.store.sqlite import SQLiteStore

        store = SQLiteStore(f"sqlite:///{self.tmp_path}/tss.db")
        await store.start()
        return store


BACKENDS: dict[str, type[Backend]] = {
    "memory": MemoryBackend,
    "sqlite": SQLiteBackend,
}


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the whole test: fixtures and the test body share it."""
    event_loop = asyncio.new_event_loop()
    yield event_loop
    pending = asyncio.all_tasks(event_loop)
    for task in pending:
        task.cancel()
    if pending:
        event_loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    event_loop.run_until_complete(event_loop.shutdown_asyncgens())
    event_loop.run_until_complete(event_loop.shutdown_default_executor())
    event_loop.close()


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[T]], T]:
    """Run a coroutine to its end on the test's loop."""

    def run_(awaitable: Awaitable[T]) -> T:
        return loop.run_until_complete(awaitable)

    return run_


@pytest.fixture(params=list(BACKENDS), ids=list(BACKENDS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return BACKENDS[request.param](tmp_path)


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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the test's ``loop``."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    coro: Coroutine[Any, Any, None] = pyfuncitem.obj(
        **{name: pyfuncitem.funcargs[name] for name in names}
    )
    loop = pyfuncitem.funcargs.get("loop")
    if isinstance(loop, asyncio.AbstractEventLoop):
        loop.run_until_complete(coro)
    else:
        asyncio.run(coro)
    return True
