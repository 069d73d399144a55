"""Where a chaos test's processes keep their store and broker: a SQLite file, a PostgreSQL
database of the test's own (with ``store://`` or RabbitMQ on a prefix of its own), or a
Redis key prefix of its own for both. Readers go through the store itself."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import (
    RABBITMQ_START,
    RABBITMQ_URL,
    REDIS_START,
    REDIS_URL,
    PgDatabases,
    redis_prefix,
    require_server,
    run,
)
from tss.core.models import Run

__all__ = ["FAST_REPAIR", "KINDS", "REDIS_START", "REDIS_URL", "Where", "deployment"]

#: worker and scheduler timings under which a killed process's runs are repaired in seconds
FAST_REPAIR = {
    "worker": {"lease": 2, "heartbeat_interval": 0.5, "grace_period": 1},
    "scheduler": {"reap_interval": 0.5, "max_sleep": 0.5, "dead_worker_after": 3},
}
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
        return run(_runs(self.store_url))

    def attempts(self, run_id: str) -> list[Any]:
        return run(_attempts(self.store_url, run_id))


@contextmanager
def deployment(kind: str, tmp_path: Path, config: pytest.Config) -> Iterator[Where]:
    """A fresh place for ``kind``, removed afterwards."""
    if kind == "sqlite":
        yield Where(f"sqlite:///{tmp_path / 'tss.db'}", "store://")
        return
    if kind == "redis+redis":
        with redis_prefix("tss-chaos") as prefix:
            url = f"{REDIS_URL}?prefix={prefix}"
            yield Where(url, url)
        return
    databases = PgDatabases.shared(config)
    url = databases.create()
    broker = "store://"
    if kind == "postgres+rabbitmq":
        require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
        broker = f"{RABBITMQ_URL}?prefix=tss-chaos-{uuid.uuid4().hex[:12]}"
    try:
        yield Where(url, broker)
    finally:
        databases.drop(url)


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
