"""Where a chaos test's processes keep their store and broker: a SQLite file, a PostgreSQL
database of the test's own (with ``store://`` or RabbitMQ on a prefix of its own), or a
Redis key prefix of its own for both. Readers go through the store itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.brokers import RABBITMQ_URL, require_server
from tss.core.models import Run

#: the shared Redis server
REDIS_URL = "redis://127.0.0.1:6379/0"
#: worker and scheduler timings under which a killed process's runs are repaired in seconds
FAST_REPAIR = {
    "worker": {"lease": 2, "heartbeat_interval": 0.5, "grace_period": 1},
    "scheduler": {"reap_interval": 0.5, "max_sleep": 0.5, "dead_worker_after": 3},
}
REDIS_START = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""'
#: every deployment a chaos test runs on
KINDS = ["sqlite", "postgres+store", "postgres+rabbitmq", "redis+redis"]


@dataclass(frozen=True)
class Where:
    """The ``store`` and ``broker`` config sections, and how to read the store back."""

    store_url: str
    broker_url: str

    @property
    def sections(self) -> dict[str, Any]:
        return {"store": {"url": self.store_url}, "broker": {"url": self.broker_url}}

    def runs(self) -> list[Run]:
        return asyncio.run(_runs(self.store_url))

    def attempts(self, run_id: str) -> list[Any]:
        return asyncio.run(_attempts(self.store_url, run_id))


@contextmanager
def deployment(kind: str, tmp_path: Path, config: pytest.Config) -> Iterator[Where]:
    """A fresh place for ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield Where(f"sqlite:///{tmp_path / 'tss.db'}", "store://")
        return
    tag = f"tss-chaos-{uuid.uuid4().hex[:12]}"
    if kind == "redis+redis":
        url = f"{REDIS_URL}?prefix={tag}"
        require_server("Redis", url, REDIS_START)
        try:
            yield Where(url, url)
        finally:
            asyncio.run(_drop_redis_keys(tag))
        return
    from tests.pg_databases import PgDatabases

    databases = PgDatabases.shared(config)
    url = databases.create()
    broker = "store://"
    if kind == "postgres+rabbitmq":
        require_server("RabbitMQ", RABBITMQ_URL, "rabbitmq-server -detached")
        broker = f"{RABBITMQ_URL}?prefix={tag}"
    try:
        yield Where(url, broker)
    finally:
        databases.drop(url)


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.unlink(*keys[i : i + 500])
    finally:
        await client.aclose()


async def _runs(url: str) -> list[Run]:
    from tss.service import open_store
    from tss.store.paging import collect

    store = open_store(url)
    await store.start()
    try:
        runs: list[Run] = await collect(
            lambda size, cursor: store.list_runs(limit=size, cursor=cursor), page_size=1000
        )
        return runs
    finally:
        await store.close()


async def _attempts(url: str, run_id: str) -> list[Any]:
    from tss.service import open_store

    store = open_store(url)
    await store.start()
    try:
        return list(await store.list_attempts(run_id))
    finally:
        await store.close()
