"""Where a chaos test's processes keep their store and broker: a SQLite file, a PostgreSQL
database of the test's own (with ``store://`` or RabbitMQ on a prefix of its own), or a
Redis key prefix of its own for both. Readers go through the store itself."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tss.core.models import Run

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
        require_server("Redis", 6379)
        url = f"redis://127.0.0.1:6379/0?prefix={tag}"
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
        require_server("RabbitMQ", 5672)
        broker = f"amqp://guest:guest@127.0.0.1:5672/?prefix={tag}"
    try:
        yield Where(url, broker)
    finally:
        databases.drop(url)


def require_server(name: str, port: int) -> None:
    """Skip (fail in CI) when a server this deployment needs is not listening."""
    with socket.socket() as probe:
        probe.settimeout(1)
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return
    message = f"{name} is not listening on 127.0.0.1:{port} (see the README to start it)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


async def _drop_redis_keys(prefix: str) -> None:
    import redis.asyncio as aioredis

    client = aioredis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for i in range(0, len(keys), 500):
            await client.unlink(*keys[i : i + 500])
    finally:
        await client.aclose()


async def _runs(url: str) -> list[Run]:
    from tss.app import open_store
    from tss.store.base import collect

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
    from tss.app import open_store

    store = open_store(url)
    await store.start()
    try:
        return list(await store.list_attempts(run_id))
    finally:
        await store.close()
