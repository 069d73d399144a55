"""Dashboard sessions: stored by the hash of their id, read back, ended, and expired ones
purged when a new one is made (every backend)."""

from __future__ import annotations

import pytest

from tss.errors import Conflict, NotFound
from tss.store.base import DashboardSession, Store

from .support import seconds


async def test_a_session_reads_back_until_it_is_deleted(store: Store) -> None:
    now = await store.now()
    made = DashboardSession("a" * 64, "tok1", now, now + seconds(3600))
    await store.create_session(made)
    assert await store.get_session("a" * 64) == made
    with pytest.raises(Conflict):
        await store.create_session(made)
    await store.delete_session("a" * 64)
    with pytest.raises(NotFound):
        await store.get_session("a" * 64)
    await store.delete_session("a" * 64)  # ending it again is not an error
    with pytest.raises(NotFound):
        await store.get_session("b" * 64)


async def test_an_expired_session_is_gone_or_reads_as_expired(store: Store) -> None:
    now = await store.now()
    past = now - seconds(1)
    await store.create_session(DashboardSession("c" * 64, "tok", past, past + seconds(0.5)))
    await store.create_session(DashboardSession("d" * 64, "tok", now, now + seconds(3600)))
    # a new session purges expired ones (SQL, memory) or the server dropped it (Redis)
    await store.create_session(DashboardSession("f" * 64, "tok", now, now + seconds(3600)))
    try:
        expired = await store.get_session("c" * 64)
    except NotFound:
        pass
    else:  # a backend may keep it a while, but it reads as expired
        assert expired.expires_at <= await store.now()
    assert (await store.get_session("d" * 64)).token_id == "tok"
