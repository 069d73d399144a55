"""The store broker: workers take queued runs straight from the store. No extra server,
and it works across processes (several workers on one SQLite file, or PostgreSQL).

A store that can announce queued runs (:class:`Notifying`: PostgreSQL's LISTEN/NOTIFY)
wakes the broker when runs are queued in its pools, and a store that can tell a commit
happened (:class:`Watching`: SQLite) wakes it after any commit; the broker then reads the
store only after a notice, after handing out a full batch (more may be waiting), and every
``_SAFETY_POLL`` seconds in case a notice was lost. Other stores are polled, quickly at
first and backing off to ``_MAX_POLL``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Sequence

from tss._aio import wait_first
from tss.broker.base import Broker, Delivery, RunMessage
from tss.core.models import Run
from tss.core.workers import Room
from tss.store.base import RUNS_CHANNEL, Notifying, Store, Watching

_MIN_POLL = 0.01
_MAX_POLL = 0.25
#: with notices, the longest time between two reads of the store
_SAFETY_POLL = 2.0


class StoreBroker(Broker):
    """Publishing is a no-op (a queued run is already in the store). Workers call
    :meth:`claim`, which claims the next runs in the store in one step (disjoint between
    workers); :meth:`get` reads queued runs and leaves the claim to the caller."""

    name = "store"
    durable = True
    reads_store = True

    def __init__(self, store: Store) -> None:
        self._store = store
        self._published = asyncio.Event()
        #: per set of pools: the event the store sets on a notice, and when to read anyway
        self._notices: dict[tuple[str, ...], asyncio.Event | None] = {}
        self._next_read: dict[tuple[str, ...], float] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        # Wakes consumers in this process at once; others by a notice or their next poll.
        if messages:
            self._published.set()

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        async def read() -> list[Run]:
            return await self._store.fetch_queued(pools, limit=max_count)

        runs = await self._wait_for(pools, max_count, timeout, read)
        return [Delivery(RunMessage.of(r)) for r in runs]

    async def claim(
        self,
        pools: Sequence[str],
        max_count: int,
        timeout: float,
        *,
        worker_id: str,
        lease: float,
        room: Room,
        types: Collection[str] | None = None,
        labels: Collection[str] = (),
    ) -> list[Run]:
        async def read() -> list[Run]:
            return await self._store.claim_next(
                pools, limit=max_count, worker_id=worker_id, lease=lease, room=room,
                types=types, labels=labels,
            )  # fmt: skip

        return await self._wait_for(pools, max_count, timeout, read)

    async def _wait_for(
        self,
        pools: Sequence[str],
        max_count: int,
        timeout: float,
        read: Callable[[], Awaitable[list[Run]]],
    ) -> list[Run]:
        """``read()`` until it gives runs or ``timeout`` passes, woken by notices (a
        notifying or watching store) or polling (any other)."""
        key = tuple(sorted(set(pools)))
        notices = await self._notices_for(key)
        if notices is not None:
            return await self._wait_notified(notices, key, max_count, timeout, read)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        poll = _MIN_POLL
        while True:
            self._published.clear()
            runs = await read()
            if runs:
                return runs
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(self._published.wait(), min(poll, remaining))
            except TimeoutError:
                poll = min(poll * 2, _MAX_POLL)

    async def _notices_for(self, key: tuple[str, ...]) -> asyncio.Event | None:
        """The event that tells runs may have been queued in pools ``key``: a notice of a
        notifying store, or any commit to a watching one; None when the store says neither
        (then it is polled)."""
        if key not in self._notices:
            store = self._store
            notices = None
            if isinstance(store, Notifying):
                notices = await store.listen(RUNS_CHANNEL, key)
            elif isinstance(store, Watching):
                notices = await store.watch()
            if notices is not None:
                notices.set()  # read once to begin with
            self._notices[key] = notices
        return self._notices[key]

    async def _wait_notified(
        self,
        notices: asyncio.Event,
        key: tuple[str, ...],
        max_count: int,
        timeout: float,
        read: Callable[[], Awaitable[list[Run]]],
    ) -> list[Run]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            now = loop.time()
            if notices.is_set() or self._published.is_set() or now >= self._next_read.get(key, 0):
                # Cleared before reading: a notice that comes while we read is kept.
                notices.clear()
                self._published.clear()
                self._next_read[key] = now + _SAFETY_POLL
                runs = await read()
                if runs:
                    if len(runs) >= max_count:
                        notices.set()  # a full batch: more may be waiting
                    return runs
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            until_read = self._next_read[key] - loop.time()
            await wait_first(notices, self._published, timeout=max(min(remaining, until_read), 0))

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        return None
