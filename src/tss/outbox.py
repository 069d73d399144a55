"""The outbox's second half: publish queued runs to the broker, then record them published.

A run is queued in the store first (the scheduler promoting it, a manual trigger, or a flow
run whose parents ended, decided in the transaction that recorded the parent's outcome);
whoever queued it publishes it. If that process dies in between, the scheduler's
reconciler publishes whatever stayed unpublished. Duplicate messages are harmless: the
claim in the store drops them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tss.broker.base import Broker, RunMessage
from tss.core.models import Run
from tss.errors import log_failure
from tss.store.base import Store

log = logging.getLogger(__name__)

#: a flow run found unpublished this long after it was published is left to the reconciler
_FLOW_REPUBLISH_AFTER = 3600.0


async def publish(store: Store, broker: Broker, runs: Sequence[Run]) -> None:
    """Publish ``runs`` and record them published (a store-reading broker needs neither
    record nor reconciling).

    :raises BrokerError: the broker did not take them; they stay unpublished.
    """
    if not runs:
        return
    await broker.publish([RunMessage.of(r) for r in runs])
    if not broker.reads_store:
        await store.mark_published([r.id for r in runs])


async def publish_flow_runs(store: Store, broker: Broker, *, limit: int) -> int:
    """Publish flow runs that became queued when their parents ended (in the store's
    finish transaction, so nobody published them yet). Called by whoever just recorded the
    end of a flow run, so a flow moves on at once instead of at the reconciler's next
    pass. Returns how many were published."""
    if broker.reads_store:
        return 0  # workers see queued runs in the store already
    found = await store.find_unpublished(
        older_than=0.0, republish_after=_FLOW_REPUBLISH_AFTER, limit=limit
    )
    ready = [run for run in found if run.flow_id is not None]
    await publish(store, broker, ready)
    return len(ready)


class Sender:
    """Publishes the runs a node queued and records them published, in the background and
    many at a time: a producer that triggers one run per call has its run committed when
    the call returns, and the broker has it a moment later, without the call waiting for the
    broker's confirm (a durable broker's is a disk write) or for a second round trip to the
    store. Whatever is lost with the process, or refused by a broker or store that is down,
    is still unpublished in the store: the reconciler publishes it (a run sent twice is
    dropped at claim). Marks can be late, never wrong: a run is recorded published only once
    the broker has it."""

    def __init__(self, store: Store, broker: Broker, within: float) -> None:
        self._store = store
        self._broker = broker
        self._within = within
        self._runs: list[Run] = []
        self._task: asyncio.Task[None] | None = None

    def send(self, runs: Sequence[Run]) -> None:
        """Publish these queued runs soon (they were just committed)."""
        self._runs.extend(runs)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush(), name="tss-send")

    async def _flush(self) -> None:
        while self._runs:
            batch, self._runs = self._runs, []
            try:
                async with asyncio.timeout(self._within):
                    await publish(self._store, self._broker, batch)
            except Exception as exc:  # an outage or a bug: the reconciler publishes them
                why = "" if str(exc) else f" (no answer within {self._within:g}s)"
                log_failure(
                    log, exc, f"could not publish {len(batch)} queued runs{why}",
                    "; a scheduler's reconciler will",
                )  # fmt: skip

    async def close(self, timeout: float) -> None:
        """Send what is pending, waiting at most ``timeout`` seconds."""
        task = self._task
        if task is not None and not task.done():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                task.cancel()
