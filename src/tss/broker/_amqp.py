"""What the RabbitMQ broker puts on the wire and reads from its URL: the options in the
query string, the bundles a publish is cut into, the redelivery count a message carries,
and the deliveries prefetched and not yet handed out (see :mod:`tss.broker.rabbitmq` for
how they are used)."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tss._urls import mask_url
from tss.broker.base import Delivery, RunMessage
from tss.errors import ConfigError

#: what a missing driver is told
NEEDS_DRIVER = (
    'broker.url: amqp:// needs the RabbitMQ driver: pip install "tss-scheduler[rabbitmq]"'
)
#: header counting how often a message came back without an ack
REDELIVERIES = "x-tss-redeliveries"
#: run priorities are 0-9; the queues allow 0-10
MAX_PRIORITY = 9
_OPTIONS = ("prefix", "prefetch", "max_redeliveries", "confirm_window", "bundle")
#: a burst is spread over at least this many messages before runs share one
_SPREAD = 16
_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


@dataclass(frozen=True, slots=True)
class Options:
    """TSS's options from the broker URL's query string."""

    prefix: str = "tss"
    prefetch: int = 0
    max_redeliveries: int = 5
    confirm_window: int = 256
    bundle: int = 50


def bundles(messages: Sequence[RunMessage], most: int) -> list[list[RunMessage]]:
    """``messages`` in publishing order, grouped by pool and priority into bundles of up
    to ``most``, a group spread over at least ``_SPREAD`` bundles where it can be."""
    groups: dict[tuple[str, int], list[RunMessage]] = {}
    for message in messages:
        groups.setdefault((message.pool, message.priority), []).append(message)
    out: list[list[RunMessage]] = []
    for group in groups.values():
        size = max(1, min(most, len(group) // _SPREAD))
        out.extend(group[i : i + size] for i in range(0, len(group), size))
    return out


def redeliveries_of(headers: Mapping[str, Any]) -> int:
    """How often a message came back without an ack, from its header (0 if absent or bad)."""
    value = headers.get(REDELIVERIES, 0)
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else 0


def parse_url(url: str) -> tuple[str, Options]:
    """The URL for aio-pika (TSS's options taken out, a connection name added) and the
    options.

    :raises ConfigError: an option with a bad value (``broker.url``).
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    ours = {key: value for key, value in query if key in _OPTIONS}
    rest = [(key, value) for key, value in query if key not in _OPTIONS]

    def bad(why: str) -> ConfigError:
        return ConfigError(f"broker.url: {why} in {mask_url(url)!r}", field="broker.url")

    prefix = ours.get("prefix", "tss")
    if not _PREFIX.fullmatch(prefix):
        raise bad(
            f"prefix {prefix!r} must be 1-40 letters, digits, '_', '.' or '-', starting with "
            "a letter or digit"
        )
    numbers: dict[str, int] = {}
    for key, low, high in (
        ("prefetch", 0, 65535),
        ("max_redeliveries", 0, 1000),
        ("confirm_window", 1, 65535),
        ("bundle", 1, 1000),
    ):
        if key not in ours:
            continue
        try:
            numbers[key] = int(ours[key])
        except ValueError:
            raise bad(f"{key} must be a whole number, not {ours[key]!r}") from None
        if not low <= numbers[key] <= high:
            raise bad(f"{key} must be between {low} and {high}, not {numbers[key]}")
    if not any(key == "name" for key, _ in rest):
        rest.append(("name", f"tss-{prefix}-{socket.gethostname()}-{os.getpid()}"))
    driver_url = urlunsplit(parts._replace(query=urlencode(rest)))
    return driver_url, Options(prefix=prefix, **numbers)


class Prefetched:
    """Deliveries received from the consumers and not yet handed out, per pool, highest
    priority first (then in arrival order)."""

    def __init__(self) -> None:
        self._heaps: dict[str, list[tuple[int, int, Delivery]]] = {}
        self._seq = itertools.count()
        #: set when deliveries arrive (or the session is lost: waiters look again)
        self.arrived = asyncio.Event()

    def put(self, pool: str, deliveries: Sequence[Delivery]) -> None:
        """Hold ``deliveries`` of ``pool`` (the runs of one message) and wake waiters."""
        heap = self._heaps.setdefault(pool, [])
        for delivery in deliveries:
            entry = (-delivery.message.priority, next(self._seq), delivery)
            heapq.heappush(heap, entry)
        self.arrived.set()

    def clear(self) -> None:
        """Forget everything held (its session is gone: RabbitMQ has it back)."""
        self._heaps.clear()

    def drain(self) -> list[Delivery]:
        """Everything held, which is forgotten."""
        held = [entry[2] for heap in self._heaps.values() for entry in heap]
        self._heaps.clear()
        return held

    def count(self, pools: Sequence[str]) -> int:
        """How many deliveries of ``pools`` are held."""
        return sum(len(self._heaps.get(pool, ())) for pool in pools)

    async def wait(self, pools: Sequence[str], until: float) -> None:
        """Until something of ``pools`` is held, or the loop's clock reaches ``until``."""
        loop = asyncio.get_running_loop()
        while not self.count(pools):
            remaining = until - loop.time()
            if remaining <= 0:
                return
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)

    def take(self, pools: Sequence[str], max_count: int) -> list[Delivery]:
        """Up to ``max_count`` deliveries of ``pools``, highest priority first across them."""
        heaps = [heap for pool in dict.fromkeys(pools) if (heap := self._heaps.get(pool))]
        out: list[Delivery] = []
        while heaps and len(out) < max_count:
            best = min(heaps, key=lambda heap: heap[0][:2])
            out.append(heapq.heappop(best)[2])
            if not best:
                heaps.remove(best)
        return out
