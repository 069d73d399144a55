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

- ``get`` runs one Lua script that walks the streams highest priority first (within one
  priority the pools take turns, so none starves another) and, per stream, takes over idle
  entries (XAUTOCLAIM, every ``reclaim_after / 2``) and reads new ones (XREADGROUP) until it
  has ``max_count``. With nothing there it blocks on XREADGROUP over every stream for the
  first new entry, then tops up with the script.
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
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from tss._urls import mask_url
from tss.broker.base import Broker, Delivery, RunMessage
from tss.errors import BrokerError, ConfigError

try:
    from tss import _redis
except ConfigError as exc:  # pragma: no cover - the dev extra installs the driver
    raise ConfigError(f"broker.url: {exc}", field="broker.url") from exc

import redis.asyncio as aioredis
from redis import exceptions as rx

log = logging.getLogger(__name__)

#: the consumer group on every stream
GROUP = "tss"
#: stream priorities, highest first (a job's priority is 0-9)
PRIORITIES = range(9, -1, -1)
_FIELD = b"m"
_DEAD_MAXLEN = 10_000
_FORGET_MS = 3_600_000
_OWN_OPTIONS = ("prefix", "reclaim_after")

# KEYS: the streams, highest priority first. ARGV: group, consumer, how many, reclaim idle
# time in ms (0: no reclaim this time), forget idle time in ms, then an XAUTOCLAIM cursor per
# key. Returns {cursors, scanned, {{stream, id, fields}...}}. Missing groups are created at
# id 0, so entries published before any consumer existed (or after a restart) are read.
_GET = """
local group, consumer = ARGV[1], ARGV[2]
local want, idle, forget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, cursors, scanned = {}, {}, 0
local function take(key, entries)
  for _, e in ipairs(entries) do
    out[#out + 1] = {key, e[1], e[2]}
    want = want - 1
  end
end
for i, key in ipairs(KEYS) do
  local cursor = ARGV[5 + i]
  if want > 0 and idle > 0 then
    scanned = scanned + 1
    local res = redis.pcall('XAUTOCLAIM', key, group, consumer, idle, cursor, 'COUNT', want)
    if res.err and not string.find(res.err, 'NOGROUP') then
      return redis.error_reply(res.err)
    elseif res.err then
      cursor = '0-0'
    else
      cursor = res[1]
      take(key, res[2])
      for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
        local info = {}
        for j = 1, #c, 2 do info[c[j]] = c[j + 1] end
        if info.pending == 0 and info.idle > forget and info.name ~= consumer then
          redis.call('XGROUP', 'DELCONSUMER', key, group, info.name)
        end
      end
    end
  end
  cursors[i] = cursor
  if want > 0 then
    local cmd = {'XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', key, '>'}
    local res = redis.pcall(unpack(cmd))
    if type(res) == 'table' and res.err then
      if not string.find(res.err, 'NOGROUP') then return redis.error_reply(res.err) end
      redis.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
      res = redis.call(unpack(cmd))
    end
    if res then take(key, res[1][2]) end
  end
end
return {cursors, scanned, out}
"""


@dataclass(frozen=True, slots=True)
class _Tag:
    """Where a delivery came from: its stream and entry id."""

    stream: str
    entry_id: str


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
        redis_url, self.prefix, self.reclaim_after, socket_timeout = _parse(url)
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
        self._held: dict[_Tag, Delivery] = {}
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
            self._script = self._client.register_script(_GET)
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
            with contextlib.suppress(rx.RedisError, OSError):
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
                        self.stream_key(message.pool, message.priority), {_FIELD: message.to_json()}
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
                    return sorted(first, key=lambda d: -_priority_of(d))

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        tags = self._release(deliveries)
        if not tags:
            return
        with self._errors("ack"):
            async with self._redis().pipeline(transaction=False) as pipe:
                _remove(pipe, tags)
                _check(await pipe.execute(raise_on_error=False))

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        back = [d for d in deliveries if isinstance(d.tag, _Tag)]
        tags = self._release(back)
        if not tags:
            return
        with self._errors("nack"):
            # One transaction: the copy is added and the original removed, or neither.
            async with self._redis().pipeline(transaction=True) as pipe:
                for delivery in back:
                    pipe.xadd(delivery.tag.stream, {_FIELD: delivery.message.to_json()})
                _remove(pipe, tags)
                _check(await pipe.execute(raise_on_error=False))

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
        args: list[str | int] = [GROUP, self.consumer, count, idle, _FORGET_MS, *cursors]
        client = self._redis()
        new_cursors, scanned, entries = await self._script(keys, args, client)
        if reclaim:
            for key, cursor in zip(keys, new_cursors, strict=True):
                self._cursors[key] = _text(cursor)
            self._reclaim_more = scanned < len(keys) or any(self._cursors[k] != "0-0" for k in keys)
        return await self._deliver([(_text(s), _text(i), f) for s, i, f in entries])

    async def _top_up(self, keys: list[str], count: int) -> list[Delivery]:
        """More after a blocking read, if the server answers: what the blocking read took
        is already held, and must reach the caller even if this fails."""
        try:
            return await self._read(keys, count)
        except (rx.RedisError, OSError) as exc:
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
        except rx.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []  # the streams are gone (a restart): the next read creates them
        entries = [(_text(s), _text(i), f) for s, items in reply or [] for i, f in items]
        return await self._deliver(entries)

    async def _deliver(self, entries: list[tuple[str, str, Any]]) -> list[Delivery]:
        """Deliveries for good entries; malformed ones go to the dead-letter stream."""
        out: list[Delivery] = []
        bad: list[tuple[_Tag, dict[bytes, bytes], str]] = []
        gone: list[_Tag] = []
        for stream, entry_id, raw in entries:
            tag = _Tag(stream, entry_id)
            if raw is None:  # deleted while pending (Redis 6.2 reports these)
                gone.append(tag)
                continue
            fields = _fields(raw)
            try:
                if _FIELD not in fields:
                    raise BrokerError("broker message has no 'm' field")
                message = RunMessage.from_json(fields[_FIELD])
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
            except (rx.RedisError, OSError) as exc:
                # They stay pending here, not renewed: the next reclaim tries them again.
                log.warning("redis broker: could not move malformed entries aside: %s", exc)
        return out

    async def _bury(
        self, bad: list[tuple[_Tag, dict[bytes, bytes], str]], gone: list[_Tag]
    ) -> None:
        async with self._redis().pipeline(transaction=True) as pipe:
            for tag, fields, reason in bad:
                dead: dict[Any, Any] = {"stream": tag.stream, "id": tag.entry_id, "error": reason}
                dead.update({b"field:" + k: v for k, v in fields.items()})
                pipe.xadd(self.dead_key, dead, maxlen=_DEAD_MAXLEN, approximate=True)
            _remove(pipe, [tag for tag, _, _ in bad] + gone)
            _check(await pipe.execute(raise_on_error=False))
        for tag, _, reason in bad:
            log.warning(
                "redis broker: entry %s of %s is not a run message (%s); moved to %s",
                tag.entry_id, tag.stream, reason, self.dead_key,
            )  # fmt: skip

    # -- holding --------------------------------------------------------------------------

    def _release(self, deliveries: Sequence[Delivery]) -> list[_Tag]:
        tags = [d.tag for d in deliveries if isinstance(d.tag, _Tag)]
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
            by_stream = _by_stream(list(self._held))
            if not by_stream:
                continue
            try:
                async with self._redis().pipeline(transaction=False) as pipe:
                    for stream, ids in by_stream.items():
                        pipe.xclaim(
                            stream, GROUP, self.consumer, 0, cast(list[Any], ids), justid=True
                        )
                    await pipe.execute(raise_on_error=False)
            except (rx.RedisError, OSError) as exc:
                log.debug("redis broker: could not renew held entries: %s", exc)

    # -- errors ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Redis errors become `BrokerError`s that say what to check; the first success
        after a connection error says the server is back."""
        try:
            yield
        except rx.AuthenticationError as exc:
            raise BrokerError(
                f"redis broker at {self._shown} refused the credentials ({_line(exc)}): "
                "check the user and password in broker.url"
            ) from exc
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            self._reachable = False
            raise BrokerError(
                f"redis broker at {self._shown} cannot be reached ({_line(exc)}): check that "
                "Redis is running there and that broker.url's host, port, password and TLS "
                "(rediss://) are right"
            ) from exc
        except rx.RedisError as exc:
            raise BrokerError(
                f"redis broker at {self._shown}: {doing} failed: {_line(exc)}"
            ) from exc
        if not self._reachable:
            self._reachable = True
            log.info("redis broker at %s is reachable again", self._shown)


def _parse(url: str) -> tuple[str, str, float, float]:
    """Split TSS's options from redis-py's: (redis url, prefix, reclaim_after, socket timeout).

    :raises ConfigError: an unknown option or a bad value, naming it.
    """

    def bad(why: str) -> ConfigError:
        return ConfigError(f"broker.url: {why} in {mask_url(url)}", field="broker.url")

    parts = urlsplit(url)
    own: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OWN_OPTIONS:
            own[key] = value
        elif key in _redis.URL_OPTIONS:
            rest.append((key, value))
        else:
            raise bad(
                f"unknown option {key!r} (TSS's are {', '.join(_OWN_OPTIONS)}; the others must "
                "be redis-py connection options)"
            )
    prefix = own.get("prefix", "tss")
    if not prefix or any(c.isspace() for c in prefix):
        raise bad(f"prefix {prefix!r} must be a non-empty word")
    try:
        reclaim_after = float(own.get("reclaim_after", "30"))
        socket_timeout = float(dict(rest).get("socket_timeout", "10"))
    except ValueError as exc:
        raise bad(f"a number was expected ({exc})") from exc
    if not reclaim_after > 0 or not socket_timeout > 0:
        raise bad("reclaim_after and socket_timeout must be positive numbers of seconds")
    return parts._replace(query=urlencode(rest)).geturl(), prefix, reclaim_after, socket_timeout


def _remove(pipe: Any, tags: Sequence[_Tag]) -> None:
    """Queue XACK + XDEL of these entries on a pipeline."""
    for stream, ids in _by_stream(tags).items():
        pipe.xack(stream, GROUP, *ids)
        pipe.xdel(stream, *ids)


def _check(results: list[Any]) -> None:
    """Raise the first error of a pipeline but NOGROUP (the stream went away with a
    restart: its entries are gone, which is what an ack wants)."""
    for result in results:
        if isinstance(result, Exception) and "NOGROUP" not in str(result):
            raise result


def _by_stream(tags: Sequence[_Tag]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for tag in tags:
        out.setdefault(tag.stream, []).append(tag.entry_id)
    return out


def _priority_of(delivery: Delivery) -> int:
    tag: _Tag = delivery.tag
    return int(tag.stream.rpartition(":")[2])


def _fields(raw: Any) -> dict[bytes, bytes]:
    """An entry's fields, from redis-py (a dict) or from the script (a flat list)."""
    if isinstance(raw, dict):
        return raw
    return {raw[i]: raw[i + 1] for i in range(0, len(raw) - 1, 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


__all__ = ["GROUP", "PRIORITIES", "RedisBroker"]
