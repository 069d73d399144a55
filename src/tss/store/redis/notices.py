"""Notices of queued runs from the Redis store, for the store broker (``store://``).

A claimer that finds a pool's queue short arms it (``K armed:<pool>``, set by the
``claim_next`` script); the next script that queues a run in that pool deletes the mark and
publishes the pool's name on ``K queued`` (``index()`` in ``scripts/lib.lua``). So a busy
queue publishes nothing, and an idle worker hears of the first run at once instead of
polling. One connection per store subscribes; it reconnects by itself with backoff, and
sets every event when it is back, since notices sent while it was away are lost. A lost
notice costs at most the store broker's safety read (2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from typing import Any

from tss.store.redis.connection import RedisConnection

log = logging.getLogger(__name__)

#: the channel (after the store's key prefix) on which queued pools are announced
QUEUED = "queued"


class Listener:
    """Sets asyncio events when the store announces runs queued in their pools."""

    def __init__(self, conn: RedisConnection) -> None:
        self._conn = conn
        self.channel = conn.keys + QUEUED
        self._subscribers: list[tuple[asyncio.Event, frozenset[str] | None]] = []
        self._task: asyncio.Task[None] | None = None
        self._connected = asyncio.Event()

    async def subscribe(self, pools: Collection[str] | None) -> asyncio.Event:
        """An event set when runs are queued in one of ``pools`` (any pool: None)."""
        event = asyncio.Event()
        self._subscribers.append((event, None if pools is None else frozenset(pools)))
        if self._task is None:
            self._task = asyncio.create_task(self._keep_listening(), name="tss-redis-listen")
        # Wait briefly for the subscription, so that a run queued right after this returns
        # is heard; if the server is away the event still works (set when it is back).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), 5)
        return event

    def _set_all(self) -> None:
        for event, _ in self._subscribers:
            event.set()

    def _reconnected(self, _connection: Any) -> None:
        self._set_all()

    def _on_message(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        pool = message.get("data")
        for event, wanted in self._subscribers:
            if wanted is None or pool in wanted:
                event.set()

    async def _keep_listening(self) -> None:
        backoff = 0.2
        while True:
            pubsub = self._conn.client().pubsub()
            try:
                await pubsub.subscribe(self.channel)
                # redis-py reconnects and subscribes again by itself after a dropped
                # connection: what was published meanwhile is lost, so look again then too.
                pubsub.connection.register_connect_callback(self._reconnected)
                self._connected.set()
                self._set_all()  # what was queued while nobody listened: look again
                backoff = 0.2
                while True:
                    message = await pubsub.get_message(timeout=None)
                    if message is not None:
                        self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a lost connection: listen again
                log.warning(
                    "the Redis store at %s stopped announcing queued runs (%s: %s); "
                    "listening again in %.1fs",
                    self._conn.shown, type(exc).__name__, exc, backoff,
                )  # fmt: skip
            finally:
                self._connected.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            self._set_all()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10.0)

    async def close(self) -> None:
        """Stop listening. Idempotent."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
