"""The Redis store's connection: its URL, the client, its scripts, pipelines and error
translation.

The client comes from :func:`tss._redis.connect`, the one connection setup the store and the
Redis broker share; the driver is imported there, lazily (only a ``redis://`` URL imports
it), with the ``pip install`` hint when it is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tss._urls import mask_url
from tss.core.models import Run
from tss.errors import ConfigError, StoreError
from tss.store import encoding
from tss.store.redis import codec, scripts

try:
    from tss import _redis
except ConfigError as exc:  # pragma: no cover - the dev extra installs the driver
    raise ConfigError(f"store.url: {exc}", field="store.url") from exc

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

#: keys per pipeline, ids or names per read script: bounds the time of each call
BATCH = 500
#: the store's own URL options, with their defaults; every other option goes to redis-py
OWN_OPTIONS = {"prefix": "tss"}


class RedisConnection:
    """One client on the store's server, and the key prefix of the store's data."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = mask_url(url)
        split = _redis.split_url(url, OWN_OPTIONS, field="store.url")
        self._redis_url, self.prefix = split.url, split.own["prefix"]
        #: the start of every key of the store
        self.keys = f"{self.prefix}:store:"
        self._client: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}

    def client(self) -> Any:
        """The client (made on first use). Typed loosely: redis-py types its replies as bytes
        or str, and with ``decode_responses`` every reply here is str."""
        if self._client is None:
            self._client = _redis.connect(
                self._redis_url, field="store.url", shown=self.shown, decode_responses=True
            )
            self._scripts = {}
        return self._client

    async def close(self) -> None:
        """Drop the client. Idempotent."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(redis_errors.RedisError, OSError):
                await client.aclose()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Redis errors become one-line `StoreError`s that say what to check."""
        try:
            yield
        except (redis_errors.RedisError, OSError) as exc:
            raise _redis.translated(
                exc, StoreError, f"the Redis store at {self.shown}", "store.url"
            ) from exc

    async def eval(self, source: str, *args: Any) -> Any:
        """Run one of the :mod:`~tss.store.redis.scripts` (EVALSHA, loading it when Redis lacks it);
        ``ARGV[1]`` is the key prefix, then ``args``."""
        client = self.client()
        script = self._scripts.get(source)
        if script is None:
            script = self._scripts[source] = client.register_script(source)
        with self.errors():
            return await script(args=[self.keys, *args])

    async def pipe(self, build: Callable[[Any], object]) -> list[Any]:
        """Send the commands ``build`` queues on a pipeline in one round trip."""
        with self.errors():
            async with self.client().pipeline(transaction=False) as pipe:
                build(pipe)
                result: list[Any] = await pipe.execute()
        return result

    async def hashes(self, keys: Sequence[str]) -> list[dict[str, str]]:
        """HGETALL of each key ({} for a missing one), in batches of one round trip."""
        found: list[dict[str, str]] = []
        for part in encoding.chunks(list(keys), BATCH):

            def build(pipe: Any, part: Sequence[str] = part) -> None:
                for key in part:
                    pipe.hgetall(key)

            found += await self.pipe(build)
        return found

    async def runs(self, ids: Sequence[str]) -> list[Run]:
        """The runs with these ids that exist, in that order."""
        runs: list[Run] = []
        for part in encoding.chunks(list(ids), BATCH):
            runs += codec.runs_of(await self.eval(scripts.RUN_ROWS, *part))
        return runs


def on_each(command: str, keys: Sequence[str], *args: str) -> Callable[[Any], object]:
    """A pipeline builder for :meth:`RedisConnection.pipe`: ``command`` on each of ``keys``
    (with ``args``)."""
    return lambda pipe: [getattr(pipe, command)(key, *args) for key in keys]


class RedisPart:
    """What each part of the Redis store (jobs, runs, history, admin) works on."""

    _conn: RedisConnection
    #: the start of every key of the store
    keys: str
