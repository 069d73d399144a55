"""``Store.exists``: true once a store was started (created), on every backend. A store never
created answers false without being created: see tests/e2e/test_cli_store_reads.py."""

from __future__ import annotations

from tss.store.base import Store


async def test_a_started_store_exists(store: Store) -> None:
    assert await store.exists() is True
    await store.now()  # still usable after looking
