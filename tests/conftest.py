"""Fixtures every test folder shares.

- ``pg_url``: a fresh migrated PostgreSQL database for the test (see :mod:`tests.servers`,
  which also holds the "fail in CI, skip locally" rule and the servers' URLs).
- ``loop`` and ``run``: one event loop for the whole test, which fixtures and the test body
  share, and a way to run a coroutine on it from a synchronous fixture.
- ``async def`` tests run on the test's ``loop`` (the project does not rely on
  pytest-asyncio). Synchronous code with no loop to share calls :func:`tests.servers.run`.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

from tests.servers import pg_url

__all__ = ["pg_url"]  # a fixture

T = TypeVar("T")


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


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run ``async def`` tests on the test's ``loop`` (a new one if they take none)."""
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
