"""The audit log: who wrote what, and when.

Each service records an entry right after a write succeeds (:meth:`Audit.record`). The
entry follows the write; it is not part of its transaction (a job's *version* is: see
:mod:`tss.service.history`). An entry that cannot be stored is logged, never raised: the
write it describes has happened, and a caller told otherwise would make it again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tss.core.history import AUDIT_ACTIONS, AuditEntry
from tss.core.models import Page
from tss.errors import TSSError, ValidationError
from tss.service.base import NodeService

log = logging.getLogger(__name__)


class Audit(NodeService):
    """The node's audit log: record a write, list the log."""

    async def record(self, actor: str, action: str, target: str, **details: Any) -> None:
        """Record that ``actor`` did ``action`` (one of
        :data:`~tss.core.history.AUDIT_ACTIONS`) to ``target``, with ``details`` (which
        must hold no secret: no token secret, no environment value).

        :raises ValueError: an unknown action (a programming error, not a user's).
        """
        await self.record_all(actor, [(action, target, details)])

    async def record_all(
        self,
        actor: str,
        writes: Sequence[tuple[str, str, dict[str, Any]]],
        *,
        at: datetime | None = None,
    ) -> None:
        """:meth:`record` for several writes of ``actor`` at once, ``(action, target,
        details)`` each, in one step of the store (a batch apply of many jobs). ``at`` is
        when, by the store's clock, if the write already says (a run's ``created_at``): it
        saves a read of the clock; otherwise the store is asked.

        :raises ValueError: an unknown action.
        """
        for action, _, _ in writes:
            if action not in AUDIT_ACTIONS:
                raise ValueError(f"unknown audit action {action!r}")
        if not writes:
            return
        try:
            if at is None:
                at = await self._store.now()
            entries = [AuditEntry(0, at, actor, a, t, dict(d)) for a, t, d in writes]
            await self._store.add_audit(entries)
        except TSSError as exc:
            what = ", ".join(f"{a} {t}" for a, t, _ in writes[:5])
            log.error("audit entries (%s) by %s not recorded: %s", what, actor, exc)

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Audit entries, newest first, filtered (:meth:`~tss.store.roles.AuditStore.list_audit`).

        :raises ValidationError: an unknown action, ``since`` after ``until``, a bad limit
            or cursor, naming the field.
        """
        if action is not None and action not in AUDIT_ACTIONS:
            raise ValidationError(
                f"action must be one of {', '.join(AUDIT_ACTIONS)}, not {action!r}",
                field="action",
            )
        if since is not None and until is not None and since > until:
            raise ValidationError("since must not be after until", field="since")
        return await self._store.list_audit(
            actor=actor, action=action, target=target, since=since, until=until,
            limit=limit, cursor=cursor,
        )  # fmt: skip
