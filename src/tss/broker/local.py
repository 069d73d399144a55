"""The in-process broker: the embedded default. Nothing survives the process; the
scheduler re-publishes queued runs at start, so nothing is lost either."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Sequence

from tss.broker.base import Broker, Delivery, RunMessage


class LocalBroker(Broker):
    """Per-pool priority queues in memory, shared by the schedulers and workers of one process."""

    name = "local"
    durable = False

    def __init__(self) -> None:
        self._queues: dict[str, list[tuple[int, int, RunMessage]]] = {}
        self._seq = itertools.count()
        self._changed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._queues.clear()

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        for message in messages:
            self._push(message)
        if messages:
            self._changed.set()

    def _push(self, message: RunMessage) -> None:
        heap = self._queues.setdefault(message.pool, [])
        heapq.heappush(heap, (-message.priority, next(self._seq), message))

    def depth(self, pool: str) -> int:
        """Messages waiting in ``pool``."""
        return len(self._queues.get(pool, ()))

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            taken = self._take(pools, max_count)
            if taken:
                return taken
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return []

    def _take(self, pools: Sequence[str], max_count: int) -> list[Delivery]:
        heaps = [h for p in pools if (h := self._queues.get(p))]
        out: list[Delivery] = []
        while heaps and len(out) < max_count:
            best = min(heaps, key=lambda h: h[0][:2])
            out.append(Delivery(heapq.heappop(best)[2]))
            if not best:
                heaps.remove(best)
        return out

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        await self.publish([d.message for d in deliveries])
