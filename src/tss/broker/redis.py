"""The Redis broker: a stream per pool and priority, read through consumer groups.

URL: ``redis://[[user]:password@]host[:port][/db][?option=value&...]`` (``rediss://`` for
TLS). Two options are TSS's and are taken out before the URL reaches redis-py:

- ``prefix`` (default ``tss``): every key starts with ``<prefix>:broker:``, so brokers (and
  test runs) that share a Redis database never meet.
- ``reclaim_after`` (seconds, default 30: the worker lease): an entry that a consumer holds
  without renewing it this long (its worker died) is taken over by a live consumer.

Every other option is redis-py's (``socket_timeout``, ``socket_connect_timeout``,
``max_connections``, ``health_check_interval``, ``ssl_cert_reqs``...).

Keys:

- ``<prefix>:broker:<pool>:<priority>``: one stream per pool and priority (0-9), each read
  through the consumer group ``tss``; an entry has one field, ``m``: a `RunMessage` as JSON.
- ``<prefix>:broker:dead``: entries that were not run messages of their stream's pool
  (not JSON, not the schema, another pool's), moved aside instead of delivered: fields
  ``stream``, ``id``, ``error`` and ``field:<name>`` for each original field (the newest
  ~10,000 are kept).

How it works:

- ``get`` runs one Lua script (``redis_get.lua``) that walks the streams highest priority
  first (within one priority the pools take turns, so none starves another) and, per
  stream, takes over idle entries (XAUTOCLAIM, every ``reclaim_after / 2``) and reads new
  ones (XREADGROUP) until it has ``max_count``. With nothing there it blocks on XREADGROUP
  over every stream for the first new entry, then tops up with the script.
- ``ack`` is XACK + XDEL: a stream holds only what is not done yet, so nothing is trimmed.
- ``nack`` is one MULTI: XADD a copy at the tail of the same stream, XACK + XDEL the original.
- While a consumer holds entries it renews them (XCLAIM JUSTID to itself every third of
  ``reclaim_after``): only the entries of a dead or frozen consumer go idle that long, however
  long a run takes. Consumers idle for an hour with nothing pending are deleted.
- Connection errors: redis-py reconnects and retries three times with backoff, then a
  `BrokerError` says in one line which URL (password hidden) and what to check. The worker and
  the scheduler go on retrying with their own backoff; a reply lost with a connection leaves
  its entries pending on this consumer, not renewed, so they come back after
  ``reclaim_after``.

Durability is Redis's own (RDB/AOF as the server is configured). A restart without
persistence loses the streams: the scheduler's reconciler publishes the queued runs again
after ``scheduler.republish_after`` (the store is the truth), and acks of the lost entries
are ignored. One server or a primary with replicas; not Redis Cluster (a get reads streams
of several pools in one script).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, cast

from tss._urls import mask_url
from tss.broker.base import Broker, Delivery, RunMessage
from tss.errors import BrokerError, ConfigError

try:
    from tss import _redis
except ConfigError as exc:  # pragma: no cover - the dev extra installs the driver
    raise ConfigError(f"broker.url: {exc}", field="broker.url") from exc

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from tss.broker._redis_streams import (
    DEAD_MAXLEN,
    FIELD,
    FORGET_MS,
    GET_SCRIPT,
    GROUP,
    PRIORITIES,
    Tag,
    as_text,
    fields_of,
    ids_by_stream,
    parse_url,
    priority_of,
    queue_removal,
    raise_first_error,
)

log = logging.getLogger(__name__)


class RedisBroker(Broker):
    """Redis streams with consumer groups (see the module docstring for the layout).

    ``durable`` holds as far as the Redis server persists its data (RDB/AOF); without
    persistence the reconciler re-publishes what a restart lost.
    """

    name = "redis"
    durable = True

    def __init__(self, url: str) -> None:
        self.url = url
        self._shown = mask_url(url)
        redis_url, self.prefix, self.reclaim_after, socket_timeout = parse_url(url)
        #: this instance's consumer name in every group (unique per broker instance)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        #: the name of this instance's Redis connections (CLIENT LIST)
        self.client_name = f"tss-broker-{self.consumer}"
        self.dead_key = f"{self.prefix}:broker:dead"
        self._redis_url = redis_url
        # A blocking read must end well within the socket timeout.
        self._block_cap = max(0.05, min(2.0, socket_timeout / 2))
        self._client: aioredis.Redis | None = None
        self._script: Any = None
        self._redis()  # a bad URL is a ConfigError now, not at the first use
        self._held: dict[Tag, Delivery] = {}
        self._cursors: dict[str, str] = {}
        self._next_reclaim = 0.0
        self._reclaim_more = False
        self._turn = 0
        self._keeper: asyncio.Task[None] | None = None
        #: False after a connection error, until a ping gets through again
        self._reachable = True

    def _connect(self) -> aioredis.Redis:
        return _redis.connect(
            self._redis_url, field="broker.url", shown=self._shown, client_name=self.client_name
        )

    def _redis(self) -> aioredis.Redis:
        if self._client is None:
            self._client = self._connect()
            # EVALSHA, loading the script again if the server lost it (a restart)
            self._script = self._client.register_script(GET_SCRIPT)
        return self._client

    def stream_key(self, pool: str, priority: int) -> str:
        """The stream of ``pool`` at ``priority`` (clamped to 0-9)."""
        return f"{self.prefix}:broker:{pool}:{min(max(priority, 0), 9)}"

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Start renewing held entries and check the server. An unreachable server is
        logged, not raised: the worker and scheduler retry, and ``/readyz`` says not ready."""
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.create_task(self._keep_alive(), name="tss-redis-broker")
        try:
            await self.ping()
        except BrokerError as exc:
            log.warning("%s; will keep retrying", exc)

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        if self._held:
            with contextlib.suppress(BrokerError):
                await self.nack(list(self._held.values()))
            self._held.clear()
        if self._client is not None:
            client, self._client = self._client, None
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await client.aclose()

    async def ping(self) -> None:
        with self._errors("ping"):
            await self._redis().ping()

    # -- the port -------------------------------------------------------------------------

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        if not messages:
            return
        with self._errors("publish"):
            async with self._redis().pipeline(transaction=False) as pipe:
                for message in messages:
                    pipe.xadd(
                        self.stream_key(message.pool, message.priority), {FIELD: message.to_json()}
                    )
                await pipe.execute()

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        if max_count <= 0 or not pools:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        keys = self._keys(pools)
        with self._errors("get"):
            while True:
                found = await self._read(keys, max_count)
                if found:
                    return found
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                # Wake in time for the next reclaim: a dead consumer's entries are due then.
                until_reclaim = self._next_reclaim - loop.time()
                block = max(0.001, min(remaining, self._block_cap, until_reclaim))
                first = await self._block(keys, block)
                if first:
                    if len(first) < max_count:
                        first += await self._top_up(keys, max_count - len(first))
                    return sorted(first, key=lambda d: -priority_of(d))

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        tags = self._release(deliveries)
        if not tags:
            return
        with self._errors("ack"):
            async with self._redis().pipeline(transaction=False) as pipe:
                queue_removal(pipe, tags)
                raise_first_error(await pipe.execute(raise_on_error=False))

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        back = [d for d in deliveries if isinstance(d.tag, Tag)]
        tags = self._release(back)
        if not tags:
            return
        with self._errors("nack"):
            # One transaction: the copy is added and the original removed, or neither.
            async with self._redis().pipeline(transaction=True) as pipe:
                for delivery in back:
                    pipe.xadd(delivery.tag.stream, {FIELD: delivery.message.to_json()})
                queue_removal(pipe, tags)
                raise_first_error(await pipe.execute(raise_on_error=False))

    # -- reading --------------------------------------------------------------------------

    def _keys(self, pools: Sequence[str]) -> list[str]:
        unique = list(dict.fromkeys(pools))
        self._turn = (self._turn + 1) % len(unique)
        turned = unique[self._turn :] + unique[: self._turn]
        return [self.stream_key(pool, p) for p in PRIORITIES for pool in turned]

    async def _read(self, keys: list[str], count: int) -> list[Delivery]:
        now = asyncio.get_running_loop().time()
        reclaim = self._reclaim_more or now >= self._next_reclaim
        if reclaim:
            self._next_reclaim = now + self.reclaim_after / 2
        cursors = [self._cursors.get(k, "0-0") for k in keys]
        idle = max(1, int(self.reclaim_after * 1000)) if reclaim else 0
        args: list[str | int] = [GROUP, self.consumer, count, idle, FORGET_MS, *cursors]
        client = self._redis()
        new_cursors, scanned, entries = await self._script(keys, args, client)
        if reclaim:
            for key, cursor in zip(keys, new_cursors, strict=True):
                self._cursors[key] = as_text(cursor)
            self._reclaim_more = scanned < len(keys) or any(self._cursors[k] != "0-0" for k in keys)
        return await self._deliver([(as_text(s), as_text(i), f) for s, i, f in entries])

    async def _top_up(self, keys: list[str], count: int) -> list[Delivery]:
        """More after a blocking read, if the server answers: what the blocking read took
        is already held, and must reach the caller even if this fails."""
        try:
            return await self._read(keys, count)
        except (redis_errors.RedisError, OSError) as exc:
            log.debug("redis broker: no more entries after the first: %s", exc)
            return []

    async def _block(self, keys: list[str], seconds: float) -> list[Delivery]:
        try:
            reply: Any = await self._redis().xreadgroup(
                GROUP,
                self.consumer,
                dict.fromkeys(keys, ">"),
                count=1,
                block=max(1, int(seconds * 1000)),
            )
        except redis_errors.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []  # the streams are gone (a restart): the next read creates them
        entries = [(as_text(s), as_text(i), f) for s, items in reply or [] for i, f in items]
        return await self._deliver(entries)

    async def _deliver(self, entries: list[tuple[str, str, Any]]) -> list[Delivery]:
        """Deliveries for good entries; malformed ones go to the dead-letter stream."""
        out: list[Delivery] = []
        bad: list[tuple[Tag, dict[bytes, bytes], str]] = []
        gone: list[Tag] = []
        for stream, entry_id, raw in entries:
            tag = Tag(stream, entry_id)
            if raw is None:  # deleted while pending (Redis 6.2 reports these)
                gone.append(tag)
                continue
            fields = fields_of(raw)
            try:
                if FIELD not in fields:
                    raise BrokerError("broker message has no 'm' field")
                message = RunMessage.from_json(fields[FIELD])
                pool = stream.rpartition(":")[0].rpartition(":")[2]
                if message.pool != pool:
                    raise BrokerError(
                        f"broker message for pool {message.pool!r} in pool {pool!r}'s stream"
                    )
            except BrokerError as exc:
                bad.append((tag, fields, str(exc)))
                continue
            delivery = Delivery(message, tag)
            self._held[tag] = delivery
            out.append(delivery)
        if bad or gone:
            try:
                await self._bury(bad, gone)
            except (redis_errors.RedisError, OSError) as exc:
                # They stay pending here, not renewed: the next reclaim tries them again.
                log.warning("redis broker: could not move malformed entries aside: %s", exc)
        return out

    async def _bury(self, bad: list[tuple[Tag, dict[bytes, bytes], str]], gone: list[Tag]) -> None:
        async with self._redis().pipeline(transaction=True) as pipe:
            for tag, fields, reason in bad:
                dead: dict[Any, Any] = {"stream": tag.stream, "id": tag.entry_id, "error": reason}
                dead.update({b"field:" + k: v for k, v in fields.items()})
                pipe.xadd(self.dead_key, dead, maxlen=DEAD_MAXLEN, approximate=True)
            queue_removal(pipe, [tag for tag, _, _ in bad] + gone)
            raise_first_error(await pipe.execute(raise_on_error=False))
        for tag, _, reason in bad:
            log.warning(
                "redis broker: entry %s of %s is not a run message (%s); moved to %s",
                tag.entry_id, tag.stream, reason, self.dead_key,
            )  # fmt: skip

    # -- holding --------------------------------------------------------------------------

    def _release(self, deliveries: Sequence[Delivery]) -> list[Tag]:
        tags = [d.tag for d in deliveries if isinstance(d.tag, Tag)]
        for tag in tags:
            self._held.pop(tag, None)
        return tags

    async def _keep_alive(self) -> None:
        """In the background: check a lost server until it answers, and renew held entries
        so a live consumer's are never taken over, however long the run. (An entry another
        consumer already took over is taken back: harmless, since any consumer's XACK counts
        and the store decides who runs what.)"""
        period = max(0.05, self.reclaim_after / 3)
        while True:
            await asyncio.sleep(period)
            if not self._reachable:
                with contextlib.suppress(BrokerError):
                    await self.ping()  # says so in the log when it gets through
            held = ids_by_stream(list(self._held))
            if not held:
                continue
            try:
                async with self._redis().pipeline(transaction=False) as pipe:
                    for stream, ids in held.items():
                        pipe.xclaim(
                            stream, GROUP, self.consumer, 0, cast(list[Any], ids), justid=True
                        )
                    await pipe.execute(raise_on_error=False)
            except (redis_errors.RedisError, OSError) as exc:
                log.debug("redis broker: could not renew held entries: %s", exc)

    # -- errors ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Redis errors become `BrokerError`s that say what to check; the first success
        after a connection error says the server is back."""
        try:
            yield
        except (redis_errors.RedisError, OSError) as exc:
            if _redis.unreachable(exc):
                self._reachable = False
            raise _redis.translated(
                exc, BrokerError, f"the Redis broker at {self._shown}", "broker.url", doing=doing
            ) from exc
        if not self._reachable:
            self._reachable = True
            log.info("the Redis broker at %s is reachable again", self._shown)


__all__ = ["GROUP", "PRIORITIES", "RedisBroker"]
