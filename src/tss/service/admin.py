"""Workers, API tokens, dashboard sessions and the node's health: who may call, and who
serves.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tss.core.models import Role, Token, WorkerInfo
from tss.service.base import NodeService
from tss.tokens import (
    Principal,
    authenticate,
    close_session,
    new_token,
    open_session,
    session_principal,
)

if TYPE_CHECKING:
    pass


class Admin(NodeService):
    """A node's workers, tokens and sessions."""

    @property
    def _admin_token(self) -> str | None:
        return self._node.settings.api.admin_token

    # -- workers --------------------------------------------------------------------------

    async def list_workers(self, state: str | None = None) -> list[WorkerInfo]:
        """The registered workers, those in ``state`` only if given."""
        workers = await self._store.list_workers()
        return workers if state is None else [w for w in workers if w.state == state]

    async def report_worker(self, info: WorkerInfo) -> WorkerInfo:
        """Record a worker's own report of its status (the seed's ``POST /v1/queue``)."""
        await self._store.register_worker(info)
        if info.state != "up":
            await self._store.set_worker_state(info.id, info.state)
        return next(w for w in await self._store.list_workers() if w.id == info.id)

    # -- API tokens -----------------------------------------------------------------------

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None = None, actor: str = "user"
    ) -> tuple[Token, str]:
        """Make a token; the returned text is the only copy of its secret (the audit log
        records the token's name, id and role, never the secret)."""
        record, text = new_token(name, role, now=await self._store.now(), expires_at=expires_at)
        await self._store.create_token(record)
        expires = None if expires_at is None else expires_at.isoformat()
        await self._node.audit.record(
            actor, "token.create", name, id=record.id, role=role, expires_at=expires
        )
        return record, text

    async def list_tokens(self) -> list[Token]:
        """Every token (never its secret), revoked ones included."""
        return await self._store.list_tokens()

    async def revoke_tokens(self, id_or_name: str, *, actor: str = "user") -> list[Token]:
        """Revoke the tokens with this id or name; they stop working at once.

        :raises NotFound: no token has that id or name.
        """
        revoked = await self._store.revoke_tokens(id_or_name)
        for name in sorted({token.name for token in revoked}):
            ids = [token.id for token in revoked if token.name == name]
            await self._node.audit.record(actor, "token.revoke", name, ids=ids)
        return revoked

    async def authenticate(self, raw: str) -> Principal | None:
        """Who a presented token stands for, or None when it is not valid now."""
        return await authenticate(self._store, raw, admin_token=self._admin_token)

    async def touch_token(self, token_id: str) -> None:
        """Record that a token was used just now."""
        await self._store.touch_token(token_id)

    # -- dashboard sessions ---------------------------------------------------------------

    async def open_session(self, principal: Principal, *, ttl: float) -> str:
        """Start a dashboard session; returns its id (the only copy: the store keeps its
        hash)."""
        return await open_session(self._store, principal, ttl=ttl, admin_token=self._admin_token)

    async def session_principal(self, session_id: str) -> Principal | None:
        """Who a dashboard session stands for; None when it is not valid now."""
        return await session_principal(self._store, session_id, admin_token=self._admin_token)

    async def close_session(self, session_id: str) -> None:
        """End a dashboard session (nothing happens for an unknown one)."""
        await close_session(self._store, session_id)

    # -- health ---------------------------------------------------------------------------

    async def ping_store(self) -> None:
        """Returns once the store answers (its clock is read).

        :raises StoreError: it does not.
        """
        await self._store.now()

    async def store_exists(self) -> bool:
        """Whether the store was ever created (a reading command must not create one).

        :raises StoreError: the store's server cannot be reached.
        """
        return await self._store.exists()

    async def ping_broker(self) -> None:
        """Returns once the broker answers.

        :raises BrokerError: it does not.
        """
        await self._node.broker.ping()

    async def metrics(self) -> bytes:
        """The node's Prometheus metrics (gauges read from the store now)."""
        rendered: bytes = await self._node.metrics.render(self._store)
        return rendered
