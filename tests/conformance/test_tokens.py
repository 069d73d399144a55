"""API tokens: create, read, list, revoke by id or name, record use."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from tss.core.models import ROLES, Role, Token
from tss.errors import Conflict, NotFound
from tss.store.base import Store

from .support import seconds


def token(
    token_id: str, name: str, created_at: datetime, role: Role = "viewer", **fields: object
) -> Token:
    return Token(
        id=token_id,
        name=name,
        role=role,
        secret_hash=f"sha256:{token_id}-secret-hash",
        created_at=created_at,
        **fields,  # type: ignore[arg-type]
    )


async def test_created_token_reads_back(store: Store) -> None:
    now = await store.now()
    made = [
        token(f"t{n}", f"user-{n}", now, role, expires_at=now + seconds(3600))
        for n, role in enumerate(ROLES)
    ]
    for item in made:
        await store.create_token(item)
    for item in made:
        fetched = await store.get_token(item.id)
        assert fetched == item
        assert fetched.created_at.tzinfo is not None
        assert fetched.revoked_at is None and fetched.last_used_at is None
        assert fetched.usable(now)
    assert not (await store.get_token("t0")).usable(now + seconds(3600))


async def test_tokens_are_listed_oldest_first(store: Store) -> None:
    now = await store.now()
    assert await store.list_tokens() == []
    await store.create_token(token("b", "ci", now + seconds(2)))
    await store.create_token(token("c", "ci", now))
    await store.create_token(token("a", "ops", now + seconds(1), "admin"))
    listed = await store.list_tokens()
    assert [t.id for t in listed] == ["c", "a", "b"]
    assert listed[1].role == "admin"


async def test_duplicate_token_id_is_a_conflict_and_changes_nothing(store: Store) -> None:
    now = await store.now()
    await store.create_token(token("t1", "first", now))
    with pytest.raises(Conflict) as info:
        await store.create_token(token("t1", "second", now, "admin"))
    assert info.value.field == "id"
    kept = await store.get_token("t1")
    assert (kept.name, kept.role) == ("first", "viewer")
    assert len(await store.list_tokens()) == 1


async def test_unknown_token_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.get_token("nope")
    with pytest.raises(NotFound):
        await store.revoke_tokens("nope")


async def test_revoke_by_id_then_by_name(store: Store, advance: Callable[[float], None]) -> None:
    now = await store.now()
    await store.create_token(token("t1", "ci", now))
    await store.create_token(token("t2", "ci", now + seconds(1)))
    await store.create_token(token("t3", "ci", now + seconds(2)))
    await store.create_token(token("t4", "ops", now))
    advance(0.01)

    before = await store.now()
    [one] = await store.revoke_tokens("t2")
    after = await store.now()
    assert one.id == "t2"
    assert one.revoked_at is not None and before <= one.revoked_at <= after
    assert await store.get_token("t2") == one
    assert not one.usable(after)
    assert (await store.get_token("t1")).revoked_at is None

    advance(0.01)
    rest = await store.revoke_tokens("ci")  # the ones not revoked yet, oldest first
    assert [t.id for t in rest] == ["t1", "t3"]
    assert all(t.revoked_at is not None and t.revoked_at > one.revoked_at for t in rest)
    assert (await store.get_token("t2")).revoked_at == one.revoked_at  # not revoked twice
    assert (await store.get_token("t4")).revoked_at is None  # another name

    assert await store.revoke_tokens("ci") == []  # nothing left: no error
    assert await store.revoke_tokens("t1") == []
    assert {t.id for t in await store.list_tokens() if t.revoked_at is None} == {"t4"}


async def test_touch_records_the_last_use(store: Store, advance: Callable[[float], None]) -> None:
    now = await store.now()
    await store.create_token(token("t1", "ci", now))
    await store.create_token(token("t2", "ci", now))
    advance(0.01)
    before = await store.now()
    await store.touch_token("t1")
    first = (await store.get_token("t1")).last_used_at
    assert first is not None and before <= first <= await store.now()
    assert (await store.get_token("t2")).last_used_at is None
    advance(0.01)
    await store.touch_token("t1")
    second = (await store.get_token("t1")).last_used_at
    assert second is not None and second > first
    await store.touch_token("ghost")  # ignored
    assert [t.id for t in await store.list_tokens()] == ["t1", "t2"]
