"""Failing queued runs that no live worker can ever take (``scheduler.unrunnable_after``).

A run in a pool nobody serves, of a task type no worker has, or larger than every worker
would otherwise wait ``queued`` forever. Each check reads the live workers and the queued
runs and asks :func:`tss.core.waiting.why_waiting` about each; a run found unrunnable at
every check for ``unrunnable_after`` seconds is failed with that reason (error type
``Unrunnable``).

The clock of a run starts at the first check that finds it unrunnable and stops as soon
as one check finds it runnable, so a worker that comes back in time saves it. When no
worker is up at all (a deploy, an outage) no run's clock runs: that is the whole
deployment down, not a run asking for what nobody has. The clocks live in this process
only (a scheduler is stateless): a restarted scheduler starts them again, which can only
make a run wait longer, never fail sooner; with several schedulers the first whose clock
reaches the bound fails the run, once (only a run still queued is failed).
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable

from tss import outbox
from tss.broker.base import Broker
from tss.core.models import ErrorInfo, Page, Run, RunFilter
from tss.core.states import RunState
from tss.core.waiting import UNRUNNABLE, why_waiting
from tss.errors import BrokerError
from tss.store.base import Store
from tss.store.paging import collect

log = logging.getLogger(__name__)
_QUEUED = RunFilter(states=(RunState.QUEUED,))


def check_interval(after: float) -> float:
    """Seconds between checks: a quarter of the bound, between 1 and 15 s (each check
    reads every queued run, so it is not done on every tick)."""
    return min(max(after / 4, 1.0), 15.0)


class UnrunnableRuns:
    """Keeps, per queued run found unrunnable, since when; fails those past the bound."""

    def __init__(
        self, store: Store, broker: Broker, *, after: float | None, actor: str, limit: int
    ) -> None:
        self.store = store
        self.broker = broker
        #: seconds a run may stay unrunnable; None or 0: never failed
        self.after = after or 0.0
        self.actor = actor
        self.limit = limit
        self._since: dict[str, float] = {}
        self._next_check = float("-inf")

    async def tick(self, now: float) -> list[Run]:
        """Check when a check is due (``now`` is the loop's monotonic clock); return the
        runs failed."""
        if self.after <= 0 or now < self._next_check:
            return []
        self._next_check = now + check_interval(self.after)
        return await self.check(now)

    async def check(self, now: float) -> list[Run]:
        """Read the live workers and the queued runs (the newest ``limit``), restart the
        clocks, and fail the runs unrunnable for ``after`` seconds; return them."""
        workers = await self.store.list_workers()

        def fetch(size: int, cursor: str | None) -> Awaitable[Page]:
            return self.store.list_runs(_QUEUED, limit=size, cursor=cursor)

        runs: list[Run] = await collect(fetch, self.limit)
        since: dict[str, float] = {}
        due: dict[str, list[str]] = defaultdict(list)
        for run in runs:
            waiting = why_waiting(run, workers)
            if waiting is None or not waiting.final:
                continue
            since[run.id] = first = self._since.get(run.id, now)
            if now - first >= self.after:
                due[waiting.reason].append(run.id)
        self._since = since
        failed: list[Run] = []
        for reason, ids in sorted(due.items()):
            error = ErrorInfo(UNRUNNABLE, reason)
            failed += await self.store.fail_queued_runs(ids, actor=self.actor, error=error)
        for run in failed:
            self._since.pop(run.id, None)
            log.warning("run %s of job %s failed: %s", run.id, run.job, run.reason)
        if any(run.flow_id is not None for run in failed):
            with contextlib.suppress(BrokerError):  # the reconciler covers it
                await outbox.publish_flow_runs(self.store, self.broker, limit=self.limit)
        return failed
