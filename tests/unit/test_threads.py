"""ThreadRunner: plain functions in threads, results back on the loop in batches."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tss.tasks.threads import ThreadRunner


async def test_results_and_failures_come_back_to_their_callers() -> None:
    runner = ThreadRunner(4)
    here = threading.get_ident()

    def where() -> int:
        return threading.get_ident()

    def boom() -> None:
        raise ValueError("no disk")

    def stop() -> None:
        raise StopIteration

    assert await runner.call(where) != here
    assert await asyncio.gather(*(runner.call(lambda i=i: i * i) for i in range(500))) == [
        i * i for i in range(500)
    ]
    with pytest.raises(ValueError, match="no disk"):
        await runner.call(boom)
    with pytest.raises(RuntimeError, match="StopIteration"):  # a future cannot hold one
        await runner.call(stop)


async def test_threads_grow_to_the_calls_up_to_the_limit_and_end_when_idle() -> None:
    runner = ThreadRunner(3, idle_exit=0.2)
    gate = threading.Event()
    inside = threading.Semaphore(0)

    def held() -> str:
        inside.release()
        gate.wait(10)
        return "ok"

    calls = [runner.call(held) for _ in range(5)]
    for _ in range(3):  # three run at once; the other two wait for a thread
        assert await asyncio.to_thread(inside.acquire, timeout=10)
    assert runner.threads == 3
    assert not await asyncio.to_thread(inside.acquire, timeout=0.2)
    gate.set()
    assert await asyncio.gather(*calls) == ["ok"] * 5
    deadline = time.monotonic() + 10
    while runner.threads and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert runner.threads == 0
    assert await runner.call(lambda: "again") == "again"  # a new thread starts


async def test_a_cancelled_call_is_dropped_when_its_thread_ends() -> None:
    runner = ThreadRunner(1)
    gate = threading.Event()
    ran: list[str] = []

    def slow() -> str:
        gate.wait(10)
        ran.append("slow")
        return "late"

    future = runner.call(slow)
    future.cancel()
    gate.set()
    assert await runner.call(lambda: "next") == "next"  # the same thread, after slow
    assert ran == ["slow"] and future.cancelled()


def test_calls_from_two_event_loops_each_get_their_own_results() -> None:
    runner = ThreadRunner(4)
    results: dict[int, list[int]] = {}

    def loop_body(n: int) -> None:
        async def main() -> list[int]:
            return list(await asyncio.gather(*(runner.call(lambda i=i: n + i) for i in range(200))))

        results[n] = asyncio.run(main())

    threads = [threading.Thread(target=loop_body, args=(n * 1000,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == {n: [n + i for i in range(200)] for n in (1000, 2000)}
