"""Leases held by one process of a cluster at a time (the pruner, the alert keeper, the
backfill step): see :meth:`~tss.store.roles.AlertStore.take_lease`."""

from __future__ import annotations

import logging

from tss.errors import log_failure
from tss.store.roles import AlertStore

log = logging.getLogger(__name__)


async def let_go(store: AlertStore, lease: str, holder: str) -> None:
    """Release ``lease`` when its holder stops cleanly, so another process takes it up at
    once (a pass cut short goes on there) rather than when it expires; a store that cannot
    be reached leaves it to expire."""
    try:
        await store.release_lease(lease, holder)
    except Exception as exc:
        log_failure(log, exc, f"releasing the {lease!r} lease", "; it expires on its own")
