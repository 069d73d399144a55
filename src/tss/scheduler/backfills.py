"""The scheduler's backfill step: a backfill with ``max_active`` makes its next fires as
earlier ones end (:meth:`tss.service.ledger.Ledger.advance` decides what to make).

One scheduler at a time does it, under the store lease ``backfills``; a scheduler killed
mid-step loses nothing, because a fire is made at most once (one run per fire) and the
backfill's progress is recorded after its runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from tss.core.models import Run
from tss.errors import TSSError
from tss.store.base import Store
from tss.store.leases import let_go

log = logging.getLogger(__name__)

#: the lease the backfill step is taken under
LEASE = "backfills"


class BackfillStep:
    """Every ``interval`` seconds, while it holds the lease: ``step()`` makes runs, and
    ``publish`` hands the queued ones to the broker."""

    def __init__(
        self,
        store: Store,
        step: Callable[[], Awaitable[list[Run]]],
        publish: Callable[[Sequence[Run]], Awaitable[None]],
        *,
        holder: str,
        interval: float = 2.0,
    ) -> None:
        self.store = store
        self.step = step
        self.publish = publish
        self.holder = holder
        self.interval = interval

    async def once(self) -> list[Run]:
        """One step, if this holder gets the lease; the runs made."""
        if await self.store.take_lease(LEASE, self.holder, self.interval * 5) is None:
            return []
        made = await self.step()
        if made:
            await self.publish(made)
        return made

    async def run(self, stop: asyncio.Event) -> None:
        """Step until ``stop`` is set; a failing step is logged and tried again."""
        try:
            while not stop.is_set():
                try:
                    await self.once()
                except TSSError as exc:
                    log.warning(
                        "backfill step failed (tried again in %.0fs): %s", self.interval, exc
                    )
                except Exception:  # a bug here must not stop the scheduler beside it
                    log.exception("backfill step failed (tried again in %.0fs)", self.interval)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            await let_go(self.store, LEASE, self.holder)
