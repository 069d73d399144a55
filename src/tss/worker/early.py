"""Deliveries of runs announced ahead of their time (``scheduler.announce_ahead``), held by
the worker until their ``not_before``: a run is never claimed before it (this host's
clock), and a burst is already in the worker's hands when it is due."""

from __future__ import annotations

import heapq
import itertools
import time

from tss.broker.base import Delivery


class EarlyDeliveries:
    """The held deliveries, soonest first. Each holds a worker slot while it waits."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def hold(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Keep the deliveries whose time has not come; return the others."""
        now = time.time()
        ready: list[Delivery] = []
        for delivery in deliveries:
            not_before = delivery.message.not_before
            if not_before is not None and not_before > now:
                heapq.heappush(self._heap, (not_before, next(self._seq), delivery))
            else:
                ready.append(delivery)
        return ready

    def any_due(self) -> bool:
        """Whether the soonest held delivery's time has come."""
        return bool(self._heap) and self._heap[0][0] <= time.time()

    def due(self, *, everything: bool = False) -> list[Delivery]:
        """The held deliveries whose time has come (all of them with ``everything``)."""
        now = time.time()
        due: list[Delivery] = []
        while self._heap and (everything or self._heap[0][0] <= now):
            due.append(heapq.heappop(self._heap)[2])
        return due

    def until_next(self) -> float:
        """Seconds until the next held delivery is due (a long time if none is held)."""
        return max(self._heap[0][0] - time.time(), 0.0) if self._heap else 3600.0
