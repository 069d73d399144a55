"""Functions the runtime tests run as ``python`` jobs."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from tss.tasks import TaskContext


def add(a: int, b: int) -> int:
    print(f"adding {a} and {b}")
    return a + b


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    print("async says hi")
    return a + b


def with_context(ctx: TaskContext) -> dict[str, object]:
    ctx.logger.info("hello from the run logger")
    return {"run_id": ctx.run_id, "attempt": ctx.attempt, "job": ctx.job}


def fail_until(path: str, succeed_on: int) -> str:
    """Fails until it has been called ``succeed_on`` times (counted in a file)."""
    counter = Path(path)
    n = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(n))
    if n < succeed_on:
        raise ConnectionError(f"call {n} fails")
    return f"ok on call {n}"


def always_fail() -> None:
    raise ValueError("bad things happened")


def sleep_for(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def write_pid_and_sleep(path: str, seconds: float) -> None:
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


def shout(n: int) -> None:
    print("x" * n)


def big_result(n: int) -> str:
    return "y" * n


def not_json() -> object:
    return {1, 2, 3}
