"""The Redis store's connection: the client, its scripts, pipelines and error translation.

The driver is imported here, lazily (only a ``redis://`` store URL imports this module), with
the ``pip install`` hint when it is missing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tss._urls import mask_url
from tss.core.models import Run
from tss.errors import ConfigError, StoreError
from tss.store import _redis_codec as rc
from tss.store import _redis_lua as lua
from tss.store import encoding as c

try:
    from tss import _redis
except ConfigError as exc:  # pragma: no cover - the dev extra installs the driver
    raise ConfigError(f"store.url: {exc}", field="store.url") from exc

import redis.asyncio as aioredis
from redis import exceptions as rx

#: keys per pipeline, ids or names per read script: bounds the time of each call
BATCH = 500


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class RedisConnection:
    """One client on the store's server, and the key prefix of the store's data."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.shown = mask_url(url)
        self._redis_url, self.prefix = rc.parse_url(url, set(_redis.URL_OPTIONS))
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
            with contextlib.suppress(rx.RedisError, OSError):
                await client.aclose()

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Redis errors become one-line `StoreError`s that say what to check."""
        try:
            yield
        except rx.AuthenticationError as exc:
            raise StoreError(
                f"the Redis store at {self.shown} refused the credentials ({_line(exc)}):"
                " check the user and password in store.url"
            ) from exc
        except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
            raise StoreError(
                f"the Redis store at {self.shown} cannot be reached ({_line(exc)}): check that"
                " Redis is running there and that store.url's host, port, password and TLS"
                " (rediss://) are right"
            ) from exc
        except rx.RedisError as exc:
            raise StoreError(f"the Redis store at {self.shown} failed: {_line(exc)}") from exc

    async def eval(self, source: str, *args: Any) -> Any:
        """Run one of the ``_redis_lua`` scripts (EVALSHA, loading it when Redis lacks it);
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
        for part in c.chunks(list(keys), BATCH):

            def build(pipe: Any, part: Sequence[str] = part) -> None:
                for key in part:
                    pipe.hgetall(key)

            found += await self.pipe(build)
        return found

    async def runs(self, ids: Sequence[str]) -> list[Run]:
        """The runs with these ids that exist, in that order."""
        runs: list[Run] = []
        for part in c.chunks(list(ids), BATCH):
            runs += rc.runs_of(await self.eval(lua.RUN_ROWS, *part))
        return runs
