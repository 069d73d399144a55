"""The Redis store (see :mod:`tss.store.redis.store` for the key layout and guarantees)."""

from __future__ import annotations

from tss.store.redis.store import RedisStore

__all__ = ["RedisStore"]
