"""The scheduler loop. Stateless: any number may run at once against one store."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
from collections.abc import Sequence

from tss import outbox
from tss._aio import wait_first
from tss.broker.base import Broker
from tss.config import SchedulerConfig
from tss.core.firing import fire_job
from tss.core.models import ErrorInfo, Outcome, Run
from tss.core.retry import (
    LEASE_EXPIRED,
    TIMEOUT_ERROR,
    failure_outcome,
    lost_outcome,
)
from tss.core.states import RunState
from tss.errors import BrokerError, TSSError, log_failure
from tss.metrics import Metrics
from tss.scheduler.pauses import PauseSweep
from tss.scheduler.unrunnable import UnrunnableRuns
from tss.store.base import WAKE_CHANNEL, Notifying, Store

log = logging.getLogger(__name__)


class Scheduler:
    """Fires due jobs, promotes due retries, publishes through the outbox, reaps and
    reconciles, as its ``scheduler:`` config section says (:class:`SchedulerConfig`)."""

    def __init__(self, store: Store, broker: Broker, settings: SchedulerConfig) -> None:
        self.store = store
        self.broker = broker
        self.settings = settings
        self.id = settings.id or f"{socket.gethostname()}-{os.getpid()}"
        self.actor = f"scheduler:{self.id}"
        self._wake = asyncio.Event()
        self._rng = random.Random()
        self._last_reap = float("-inf")
        self._last_reconcile = float("-inf")
        self.fired = 0
        #: passes made (each one reads the store: due jobs, due runs, the next wake-up)
        self.ticks = 0
        self._planner = functools.partial(fire_job, lookahead=settings.lookahead)
        self.metrics: Metrics | None = None
        #: set by a notifying store when something became due sooner (another process)
        self._notice: asyncio.Event | None = None
        self.unrunnable = UnrunnableRuns(
            store, broker, after=settings.unrunnable_after, actor=self.actor,
            limit=settings.batch_size,
        )  # fmt: skip
        #: resumes the jobs whose pause has ended (``pause --until``), about every second
        self.pauses = PauseSweep(store, actor=self.actor, limit=settings.batch_size)

    @property
    def _ahead(self) -> float:
        # Workers of the store broker claim whatever is queued: no early announcements.
        return 0.0 if self.broker.reads_store else self.settings.announce_ahead

    def wake(self) -> None:
        """Tick now (something changed in this process)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Tick until ``stop`` is set. Store failures are logged and retried with backoff."""
        log.info("scheduler %s started", self.id)
        if not self.broker.durable:
            # A non-durable broker lost everything when its process died: announce every
            # queued run again. Duplicates are dropped at claim time.
            with contextlib.suppress(TSSError):
                await self.reconcile(everything=True)
        if isinstance(self.store, Notifying):
            try:
                self._notice = await self.store.listen(WAKE_CHANNEL)
            except TSSError as exc:  # polling still works; notices only make it sooner
                log.warning("scheduler %s: cannot listen for wake-ups: %s", self.id, exc)
        backoff = 0.5
        while not stop.is_set():
            try:
                delay = await self.tick()
                backoff = 0.5
            except Exception as exc:  # an outage or a bug: the process stays up
                log_failure(log, exc, f"scheduler {self.id}", f"; retrying in {backoff:.1f}s")
                delay, backoff = backoff, min(backoff * 2, 30.0)
            await self._sleep(stop, delay)
        log.info("scheduler %s stopped", self.id)

    async def _sleep(self, stop: asyncio.Event, delay: float) -> None:
        notice = self._notice
        if delay <= 0 or self._wake.is_set() or (notice is not None and notice.is_set()):
            self._wake.clear()
            if notice is not None:
                notice.clear()
            return
        self._wake.clear()
        events = (self._wake, stop) if notice is None else (self._wake, stop, notice)
        await wait_first(*events, timeout=delay)
        if notice is not None:
            notice.clear()

    async def tick(self) -> float:
        """One pass. Returns how many seconds to sleep before the next."""
        self.ticks += 1
        loop = asyncio.get_running_loop()
        size = self.settings.batch_size
        while True:
            runs, fired = await self.store.fire_due_jobs(
                self._planner, limit=size, actor=self.actor, horizon=self.settings.lookahead
            )
            self.fired += fired
            if fired and self.metrics is not None:
                self.metrics.fires.inc(fired)
            await self.publish(runs)
            if fired < size:
                break
        while True:
            promoted = await self.store.promote_due_runs(
                limit=size, actor=self.actor, ahead=self._ahead
            )
            await self.publish(promoted)
            if len(promoted) < size:
                break
        now_mono = loop.time()
        if now_mono - self._last_reap >= self.settings.reap_interval:
            self._last_reap = now_mono
            await self.reap()
        if now_mono - self._last_reconcile >= self.settings.reconcile_interval:
            self._last_reconcile = now_mono
            await self.reconcile()
        await self.fail_unrunnable(now_mono)
        if await self.pauses.tick(now_mono):
            self.wake()  # fire the jobs it resumed on the next pass, now
        return await self._until_next()

    async def _until_next(self) -> float:
        wakeup = await self.store.next_wakeup(horizon=self.settings.lookahead, ahead=self._ahead)
        delay = self.settings.max_sleep
        if wakeup is not None:
            delay = min(delay, (wakeup - await self.store.now()).total_seconds())
        return max(delay, 0.0) + self._rng.uniform(0, self.settings.wake_jitter)

    async def publish(self, runs: Sequence[Run]) -> None:
        """Announce queued runs, then record them published (the outbox's second half).
        If the broker fails they stay unpublished and the reconciler tries again."""
        try:
            await outbox.publish(self.store, self.broker, runs)
        except BrokerError as exc:
            log.warning("could not publish %d runs (will retry): %s", len(runs), exc)

    async def _lost(self, run: Run) -> Outcome:
        """The outcome for ``run``, whose lease ran out: re-queued or failed by how many
        workers it has lost (read from its attempts: losses are rare, the read is cheap)."""
        earlier = [
            a.worker_id or "?"
            for a in await self.store.list_attempts(run.id)
            if a.number != run.attempt and a.error is not None and a.error.type == LEASE_EXPIRED
        ]
        limit = run.policy.max_lost
        return lost_outcome(
            run,
            [*earlier, run.worker_id or "?"],
            max_lost=self.settings.max_lost if limit is None else limit,
            rng=self._rng,
        )

    async def _republish(self, run_ids: Sequence[str]) -> None:
        """Announce runs the reaper re-queued now, not at the reconciler's next pass (a
        broker may still hold their old message, which the claim drops). Re-queuing made
        them unpublished: one read of those finds them (any it misses, the reconciler
        publishes)."""
        if self.broker.reads_store:
            return  # workers see queued runs in the store already
        wanted = set(run_ids)
        found = await self.store.find_unpublished(
            older_than=0.0,
            republish_after=self.settings.republish_after,
            limit=self.settings.batch_size,
        )
        await self.publish([run for run in found if run.id in wanted])

    async def reconcile(self, *, everything: bool = False) -> int:
        """Publish queued runs that were never published, or that nobody took in time."""
        if self.broker.reads_store:
            return 0  # every queued run is in front of the workers already
        total = 0
        older, again = (
            (0.0, 0.0)
            if everything
            else (self.settings.unpublished_after, self.settings.republish_after)
        )
        while True:
            runs = await self.store.find_unpublished(
                older_than=older, republish_after=again, limit=self.settings.batch_size
            )
            await self.publish(runs)
            total += len(runs)
            if len(runs) < self.settings.batch_size or not everything:
                break
        if total and not everything:
            log.info("reconciler re-published %d queued runs", total)
        return total

    async def fail_unrunnable(self, now_mono: float) -> None:
        """Fail the queued runs no live worker has been able to take for
        ``unrunnable_after`` seconds (checked every few seconds, not every tick)."""
        for run in await self.unrunnable.tick(now_mono):
            if self.metrics is not None:
                self.metrics.recorded(run.job, RunState.FAILED)

    async def reap(self) -> int:
        """Repair crashes: expired leases and overdue runs become retries or failures by
        their policy; silent workers are marked dead."""
        outcomes: list[Outcome] = []
        reaped: list[Run] = []
        for run in await self.store.expired_runs(limit=self.settings.batch_size):
            reaped.append(run)
            outcomes.append(await self._lost(run))
        for run in await self.store.overdue_runs(
            grace=self.settings.timeout_grace, limit=self.settings.batch_size
        ):
            reaped.append(run)
            error = ErrorInfo(
                TIMEOUT_ERROR,
                f"exceeded its timeout of {run.policy.timeout:g}s and its worker "
                f"{run.worker_id} did not stop it",
            )
            outcomes.append(failure_outcome(run, error, timed_out=True, rng=self._rng))
        accepted = 0
        if outcomes:
            results = await self.store.finish_runs(outcomes, actor=self.actor)
            accepted = sum(results)
            if self.metrics is not None:
                jobs = {run.id: run.job for run in reaped}
                for outcome, ok in zip(outcomes, results, strict=True):
                    if ok:
                        self.metrics.recorded(jobs[outcome.run_id], outcome.target)
            if accepted:
                log.warning("reaper repaired %d runs", accepted)
            requeued = [
                o.run_id
                for o, ok in zip(outcomes, results, strict=True)
                if ok and o.target is RunState.QUEUED
            ]
            if requeued:
                await self._republish(requeued)
            if any(run.flow_id is not None for run in reaped):
                with contextlib.suppress(BrokerError):  # the reconciler covers it
                    await outbox.publish_flow_runs(
                        self.store, self.broker, limit=self.settings.batch_size
                    )
        dead = await self.store.mark_dead_workers(dead_after=self.settings.dead_worker_after)
        for worker_id in dead:
            log.warning("worker %s is dead (no heartbeat)", worker_id)
        return accepted
