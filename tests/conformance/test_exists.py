"""``Store.exists``: true once a store was started (created), on every backend. A store never
created answers false without being created: see tests/e2e/test_cli_store_reads.py."""

from __future__ import annotations

from tss.store.base import Store


async def test_a_started_store_exists(store: Store) -> None:
    assert await store.exists() is True
    await store.now()  # still usable after looking


async def test_a_store_says_whether_its_data_is_on_a_server(store: Store) -> None:
    # PostgreSQL and Redis are reached over the network; memory and SQLite are local.
    assert store.remote is (store.name in {"postgresql", "redis"})
    assert store.name in {"memory", "sqlite", "postgresql", "redis"}
