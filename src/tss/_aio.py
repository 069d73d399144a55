"""Small asyncio helpers shared by the scheduler and the worker."""

from __future__ import annotations

import asyncio


async def wait_first(*events: asyncio.Event, timeout: float | None = None) -> None:
    """Return as soon as any of ``events`` is set, or after ``timeout`` seconds (None: no
    limit). The events are left as they are."""
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
