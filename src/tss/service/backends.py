"""Which class serves a store or broker URL: one table per port, by URL scheme.

The only place that names concrete backends. A backend's module is imported only when its
scheme is asked for, so a node on SQLite never loads a PostgreSQL, Redis or RabbitMQ
driver; a driver that is not installed is reported with the ``pip install`` that adds it.
"""

from __future__ import annotations

import asyncio
import importlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from tss._urls import mask_url
from tss.broker.base import Broker
from tss.errors import ConfigError
from tss.store.base import Store


@dataclass(frozen=True, slots=True)
class Backend:
    """Where a backend's class lives, what it is built from, and the extra it needs."""

    module: str
    cls: str
    #: what the constructor takes: the URL, the node's store (a store-reading broker) or nothing
    takes: str = "url"
    #: the ``tss-scheduler[...]`` extra that installs its driver, if any
    extra: str | None = None


STORES: dict[str, Backend] = {
    "sqlite": Backend("tss.store.sqlite", "SQLiteStore"),
    "memory": Backend("tss.store.memory", "MemoryStore", takes="nothing"),
    "postgresql": Backend("tss.store.postgres", "PostgresStore", extra="postgres"),
    "postgres": Backend("tss.store.postgres", "PostgresStore", extra="postgres"),
    "redis": Backend("tss.store.redis", "RedisStore", extra="redis"),
    "rediss": Backend("tss.store.redis", "RedisStore", extra="redis"),
}
BROKERS: dict[str, Backend] = {
    "local": Backend("tss.broker.local", "LocalBroker", takes="nothing"),
    "store": Backend("tss.broker.store", "StoreBroker", takes="store"),
    "amqp": Backend("tss.broker.rabbitmq", "RabbitMQBroker", extra="rabbitmq"),
    "amqps": Backend("tss.broker.rabbitmq", "RabbitMQBroker", extra="rabbitmq"),
    "redis": Backend("tss.broker.redis", "RedisBroker", extra="redis"),
    "rediss": Backend("tss.broker.redis", "RedisBroker", extra="redis"),
}


def _build(backend: Backend, key: str, url: str, store: Store | None) -> Any:
    try:
        cls = getattr(importlib.import_module(backend.module), backend.cls)
    except ImportError as exc:
        hint = f': pip install "tss-scheduler[{backend.extra}]"' if backend.extra else ""
        raise ConfigError(
            f"{key}: {urlsplit(url).scheme}:// needs a driver that is not installed "
            f"({exc.name or exc}){hint}",
            field=key,
        ) from exc
    if backend.takes == "nothing":
        return cls()
    if backend.takes == "store":
        return cls(store)
    return cls(url)


def _unsupported(key: str, scheme: str, url: str, supported: str) -> ConfigError:
    return ConfigError(
        f"{key}: unsupported scheme {scheme!r} in {mask_url(url)!r} (supported: {supported})",
        field=key,
    )


def open_store(url: str) -> Store:
    """The store for a URL (``sqlite:///tss.db``, ``postgresql://...``, ``redis://...``,
    ``memory://``). Drivers are imported only for the backend asked for.

    :raises ConfigError: an unknown scheme, or its driver is not installed.
    """
    scheme = urlsplit(url).scheme.split("+")[0]
    backend = STORES.get(scheme)
    if backend is None:
        raise _unsupported("store.url", scheme, url, "sqlite, postgresql, redis, memory")
    store: Store = _build(backend, "store.url", url, None)
    return store


def open_broker(url: str, store: Store) -> Broker:
    """The broker for a URL (``local://``, ``store://``, ``amqp://...``, ``redis://...``).

    :raises ConfigError: an unknown scheme, or its driver is not installed.
    """
    scheme = urlsplit(url).scheme
    backend = BROKERS.get(scheme)
    if backend is None:
        raise _unsupported("broker.url", scheme, url, "local, store, amqp, redis")
    broker: Broker = _build(backend, "broker.url", url, store)
    return broker


async def upgrade_store(url: str) -> str:
    """Bring the schema of the store at ``url`` up to date (safe to run again, or from several
    hosts at once) and say where it stands, in a line for the operator.

    SQLite and PostgreSQL run their Alembic migrations (a store starting does the same); a
    Redis store checks and writes its schema version when it starts; memory keeps none.

    :raises ConfigError: an unknown scheme, or its driver is not installed.
    :raises StoreError: the store cannot be reached or migrated.
    """
    shown = mask_url(url)
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "memory":
        return f"{shown} keeps no schema: nothing to upgrade"
    if scheme == "sqlite":
        from tss.store.sql import migrate

        await asyncio.to_thread(migrate.upgrade, url)
        revision = await asyncio.to_thread(migrate.current_revision, url)
        return f"{shown} is at revision {revision}"
    store = open_store(url)
    await store.start()  # starting the store applies its migrations
    await store.close()
    return f"{shown} is up to date"
