"""The Redis store's administration: workers, API tokens and dashboard sessions."""

from __future__ import annotations

from tss.core.models import DashboardSession, Token, WorkerInfo
from tss.core.timeutil import from_micros, to_micros
from tss.core.workers import worker_state
from tss.errors import Conflict, NotFound
from tss.store import encoding
from tss.store.redis import codec, scripts
from tss.store.redis.connection import RedisPart
from tss.store.roles import AdminStore


class RedisAdmin(RedisPart, AdminStore):
    """The workers, tokens and sessions part of :class:`~tss.store.redis.RedisStore`."""

    async def register_worker(self, info: WorkerInfo) -> None:
        await self._conn.eval(scripts.REGISTER_WORKER, info.id, *codec.worker_fields(info))

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        worker_state(state)
        if not await self._conn.eval(scripts.SET_WORKER_STATE, worker_id, state):
            raise NotFound.worker(worker_id)

    async def list_workers(self) -> list[WorkerInfo]:
        with self._conn.errors():
            ids = sorted(await self._conn.client().smembers(f"{self.keys}workers"))
        hashes = await self._conn.hashes([f"{self.keys}worker:{worker_id}" for worker_id in ids])
        return [codec.worker_of(i, h) for i, h in zip(ids, hashes, strict=True) if h]

    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        return sorted(
            await self._conn.eval(scripts.MARK_DEAD, str(encoding.seconds_us(dead_after)))
        )

    async def create_token(self, token: Token) -> None:
        created = str(to_micros(token.created_at))
        if not await self._conn.eval(
            scripts.CREATE_TOKEN, token.id, created, *codec.token_fields(token)
        ):
            raise Conflict.token_exists(token.id)

    async def get_token(self, token_id: str) -> Token:
        [found] = await self._conn.hashes([f"{self.keys}token:{token_id}"])
        if not found:
            raise NotFound.token(token_id)
        return codec.token_of(found)

    async def list_tokens(self) -> list[Token]:
        with self._conn.errors():
            ids = await self._conn.client().zrange(f"{self.keys}tokens", 0, -1)
        hashes = await self._conn.hashes([f"{self.keys}token:{token_id}" for token_id in ids])
        return [codec.token_of(h) for h in hashes if h]

    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        found = await self._conn.eval(scripts.REVOKE_TOKENS, id_or_name)
        if found is None:
            raise NotFound.token_named(id_or_name)
        return [codec.token_of(codec.pairs(flat)) for flat in found]

    async def touch_token(self, token_id: str) -> None:
        await self._conn.eval(scripts.TOUCH_TOKEN, token_id)

    # -- dashboard sessions ----------------------------------------------------------------

    async def create_session(self, session: DashboardSession) -> None:
        expires = to_micros(session.expires_at)
        fields = ("token_id", session.token_id, "created_at", to_micros(session.created_at))
        made = await self._conn.eval(
            scripts.CREATE_SESSION, session.id_hash, expires // 1000, *fields, "expires_at", expires
        )
        if not made:
            raise Conflict.session_exists()

    async def get_session(self, id_hash: str) -> DashboardSession:
        [found] = await self._conn.hashes([f"{self.keys}session:{id_hash}"])
        if not found:
            raise NotFound.session()
        return DashboardSession(
            id_hash=id_hash,
            token_id=found["token_id"],
            created_at=from_micros(int(found["created_at"])),
            expires_at=from_micros(int(found["expires_at"])),
        )

    async def delete_session(self, id_hash: str) -> None:
        with self._conn.errors():
            await self._conn.client().delete(f"{self.keys}session:{id_hash}")
