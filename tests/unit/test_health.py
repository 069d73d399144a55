"""The readiness probe is bounded: a check that never answers, or whose cancellation itself
hangs (a database call on a server that went silent), is reported at once, and the next
check after it ends sees a dependency that came back."""

from __future__ import annotations

import asyncio

from tss.api.health import Probe
from tss.errors import StoreError


def test_a_check_that_answers_is_ready() -> None:
    async def body() -> str | None:
        async def fine() -> None:
            return None

        return await Probe(fine, 0.5)()

    assert asyncio.run(body()) is None


def test_a_failing_check_says_why() -> None:
    async def body() -> str | None:
        async def down() -> None:
            raise StoreError("cannot reach the store at x")

        return await Probe(down, 0.5)()

    assert asyncio.run(body()) == "cannot reach the store at x"


def test_a_hung_check_is_not_waited_for_even_when_its_cancellation_hangs() -> None:
    async def body() -> list[str | None]:
        released = asyncio.Event()
        answering = False
        calls = 0

        async def hung() -> None:
            nonlocal calls
            calls += 1
            if answering:
                return
            try:
                await asyncio.Event().wait()  # the query that never returns
            except asyncio.CancelledError:
                await released.wait()  # the driver's cleanup waits on the server too
                raise

        probe = Probe(hung, 0.05)
        # Neither waits for the stuck cancellation: that would never end (until `released`),
        # and the bound only catches that.
        first = await asyncio.wait_for(probe(), 10)
        second = await asyncio.wait_for(probe(), 10)
        assert calls == 1  # the first is still unwinding: no second one piles up
        answering = True
        released.set()  # the server answers again: the stuck call ends
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return [first, second, await probe()]

    first, second, third = asyncio.run(body())
    assert first == "no answer within 0.05s"
    assert second is not None and second.startswith("no answer for ")
    assert third is None
