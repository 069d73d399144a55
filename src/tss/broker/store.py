"""The store broker: workers take queued runs straight from the store. No extra server,
and it works across processes (several workers on one SQLite file, or PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from tss.broker.base import Broker, Delivery, RunMessage
from tss.store.base import Store

_MIN_POLL = 0.01
_MAX_POLL = 0.25


class StoreBroker(Broker):
    """Publishing is a no-op (a queued run is already in the store); `get` reads queued runs
    and the claim in the store decides which worker gets each."""

    name = "store"
    durable = True

    def __init__(self, store: Store) -> None:
        self._store = store
        self._published = asyncio.Event()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        # Wakes consumers in this process at once; others find the runs on their next poll.
        if messages:
            self._published.set()

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll = _MIN_POLL
        while True:
            self._published.clear()
            runs = await self._store.fetch_queued(pools, limit=max_count)
            if runs:
                return [
                    Delivery(
                        RunMessage(r.id, r.job, r.pool, r.priority, r.policy.cores, r.policy.memory)
                    )
                    for r in runs
                ]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self._published.wait(), min(poll, remaining))
            except TimeoutError:
                poll = min(poll * 2, _MAX_POLL)

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        return None
