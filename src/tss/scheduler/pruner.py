"""The pruner: deletes old history by the ``retention:`` policy, a small batch at a time.

It runs in every scheduler process, and one works at a time: the one holding the store lease
``retention`` (:meth:`~tss.store.roles.AlertStore.take_lease`), whose saved state says when
the last pass ended, so a pass runs every ``retention.interval`` across the cluster, not per
scheduler. A pass walks the jobs that have runs (deleted ones too), then the other kinds
(settled alerts, ended silences, the fire ledger, the audit log).

*Firing and claiming never wait long.* Each batch is one short transaction, sized to take
about :data:`BATCH_TIME` (:data:`ONE_WRITER_BATCH_TIME` on SQLite and Redis, where every
write waits for it; ``retention.batch_size`` rows at most), and the pruner rests
:data:`REST_FACTOR` times as long after it (``retention.pause`` at least), so the
scheduler's and workers' transactions get in between and the pruner's share of the store
stays small (:class:`Pacer`).

*Bad rows never stop it.* A job whose prune fails is logged and skipped; the pass goes on
with the next, and the next pass tries it again.

:func:`prune` is also what ``tss db prune`` and ``POST /api/v1/admin/prune`` run (once,
dry or not, for every job or one).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from tss.config.retention import RetentionConfig
from tss.core.models import Job
from tss.core.retention import ROW_KINDS, PruneReport, RowKind, keep_for
from tss.errors import log_failure
from tss.metrics import Metrics
from tss.store.base import Store
from tss.store.leases import let_go

log = logging.getLogger(__name__)

#: the lease the pruner holds
LEASE = "retention"
#: jobs whose definitions are read at once
_JOB_CHUNK = 50
#: seconds between two renewals of the lease during a long pass
_RENEW_EVERY = 10.0
#: seconds a batch should take (its size follows, see :class:`Pacer`)
BATCH_TIME = 0.01
#: the same on a store whose writes all wait for one writer (SQLite, Redis): a fire or a
#: claim that comes in during a batch waits for it, so a batch is kept shorter there
ONE_WRITER_BATCH_TIME = 0.003
#: the rest after a batch, in multiples of what it took
REST_FACTOR = 10.0
#: rows a batch has at least
FEWEST = 10

#: called after each batch (to renew the lease); False stops the pass
Going = Callable[[], Awaitable[bool]]


async def _always() -> bool:
    return True


def _row_ages(config: RetentionConfig) -> dict[RowKind, float | None]:
    """Seconds after which a row of each kind goes (silences: once they end)."""
    return {
        "alerts": config.alerts_max_age,
        "silences": 0.0,
        "ledger": config.ledger_max_age,
        "audit": config.audit_max_age,
    }


async def _jobs(store: Store, names: list[str]) -> dict[str, Job]:
    """The stored definitions among ``names``; one that cannot be read counts as gone (its
    runs follow the global policy) rather than stopping the pass."""
    found: dict[str, Job] = {}
    for start in range(0, len(names), _JOB_CHUNK):
        part = names[start : start + _JOB_CHUNK]
        try:
            found.update(await store.get_jobs(part))
        except Exception as exc:  # a definition that no longer reads: one at a time
            log_failure(log, exc, "retention: reading job definitions", "; one at a time")
            for name in part:
                with contextlib.suppress(Exception):
                    found.update(await store.get_jobs([name]))
    return found


async def prune(
    store: Store,
    config: RetentionConfig,
    *,
    dry_run: bool = False,
    job: str | None = None,
    pause: float | None = None,
    metrics: Metrics | None = None,
    going: Going = _always,
) -> PruneReport:
    """One pass: prune (or, ``dry_run``, count) every kind by ``config``; with ``job``, only
    that job's runs. Each batch is one transaction of at most ``config.batch_size`` rows,
    sized and spaced by a :class:`Pacer` (``pause``, default ``config.pause``, is the least
    rest between two); ``going`` is awaited after each batch and stops the pass when it says
    False."""
    rest = config.pause if pause is None else pause
    report = PruneReport(dry_run)
    now = await store.now()
    names = [job] if job is not None else await store.run_jobs()
    defined = await _jobs(store, names)
    pacers: dict[str, Pacer] = {}

    async def rows(step: Callable[[int], Awaitable[int]], kind: str) -> int:
        """Batches of ``step(limit)`` until one comes back short; how many went in all."""
        pacer = pacers.setdefault(kind, Pacer(config.batch_size, rest, batch_time(store)))
        total = 0
        while True:
            size = pacer.size
            began = time.perf_counter()
            count = await step(size)
            took = time.perf_counter() - began
            pacer.learn(count, took)
            total += count
            if metrics is not None and count:
                metrics.pruned.labels(kind).inc(count)
            if count:
                await asyncio.sleep(pacer.rest(took))
            if count < size or not await going():
                return total

    for name in names:
        own = defined[name].spec.retention if name in defined else None
        keep = keep_for(own, config.keep)
        cutoff = keep.cutoff(now)
        if cutoff is None:
            continue
        try:
            if dry_run:
                count = await store.count_ended_runs(
                    name, ended_before=cutoff, keep_last=keep.keep_last
                )
            else:
                step = partial(_runs_step, store, name, cutoff, keep.keep_last)
                count = await rows(step, "runs")
        except Exception as exc:  # one job's history must not stop the others'
            log_failure(log, exc, f"retention: pruning the runs of job {name!r}", "; skipped")
            continue
        report.add_runs(name, count)
        if not dry_run and not await going():
            return report
    if job is not None:
        return report
    for kind, age in _row_ages(config).items():
        if age is None or kind not in ROW_KINDS:
            continue
        before = now - timedelta(seconds=age)
        try:
            if dry_run:
                count = await store.count_rows(kind, before=before)
            else:
                count = await rows(partial(_rows_step, store, kind, before), kind)
        except Exception as exc:
            log_failure(log, exc, f"retention: pruning {kind}", "; skipped")
            continue
        report.counts[kind] += count
    return report


async def _runs_step(store: Store, job: str, cutoff: datetime, keep_last: int, limit: int) -> int:
    return await store.delete_ended_runs(job, limit=limit, ended_before=cutoff, keep_last=keep_last)


async def _rows_step(store: Store, kind: RowKind, before: datetime, limit: int) -> int:
    return await store.prune_rows(kind, before=before, limit=limit)


def batch_time(store: Store) -> float:
    """Seconds a batch should take on ``store``."""
    return ONE_WRITER_BATCH_TIME if store.one_writer else BATCH_TIME


class Pacer:
    """How big a batch is and how long the pruner rests after it, learnt from the batches so
    far: a batch is sized to take about ``aim`` seconds (:data:`BATCH_TIME` by default;
    ``most`` rows at most, :data:`FEWEST` at least), and the rest after it is
    :data:`REST_FACTOR` times what it took (``rest`` seconds at least). So the pruner holds
    the store's writer (SQLite has one) a few milliseconds at a time and about a tenth of
    the time at most, however slow the machine or the rows are: a fire or a claim that
    comes in waits one short batch at most.
    """

    def __init__(self, most: int, rest: float, aim: float = BATCH_TIME) -> None:
        self.most = most
        self._rest = rest
        self._aim = aim
        self.size = min(most, FEWEST * 5)

    def learn(self, count: int, took: float) -> None:
        """A batch of ``count`` rows took ``took`` seconds."""
        if count <= 0 or took <= 0:
            return
        fitting = int(self._aim * count / took)
        # Grow by half at most per batch (one cheap batch may be a fluke); shrink at once.
        self.size = min(self.most, max(FEWEST, min(fitting, self.size + self.size // 2 + 1)))

    def rest(self, took: float) -> float:
        """Seconds to rest after a batch that took ``took``."""
        return max(self._rest, REST_FACTOR * took)


class Pruner:
    """Prunes by ``config`` every ``config.interval`` seconds while it holds the
    ``retention`` lease. ``holder`` names this process (a scheduler's id)."""

    def __init__(
        self,
        store: Store,
        config: RetentionConfig,
        *,
        holder: str,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.config = config
        self.holder = holder
        self.metrics = metrics
        self._clock = clock
        #: seconds the lease is held from each renewal
        self.ttl = max(30.0, 3 * _RENEW_EVERY)
        #: the report of this pruner's last pass (None before its first)
        self.last: PruneReport | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Try a pass every so often until ``stop`` is set; a failure is logged and the
        next try goes on."""
        wait = min(self.config.interval, 60.0)
        try:
            while not stop.is_set():
                try:
                    await self.tick(stop)
                except Exception as exc:  # an outage or a bug: the process stays up
                    log_failure(log, exc, "retention pruner", f"; retrying in {wait:.0f}s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=wait)
        finally:
            await let_go(self.store, LEASE, self.holder)

    async def tick(self, stop: asyncio.Event | None = None) -> PruneReport | None:
        """A pass if this pruner holds the lease and the last pass (by anyone) ended
        ``interval`` seconds ago or more; the report, or None when it did not prune. A pass
        that ``stop`` cuts short is not saved as done: whoever holds the lease next (this
        process's successor, or another scheduler at once, see :func:`let_go`) starts one."""
        state = await self.store.take_lease(LEASE, self.holder, self.ttl)
        if state is None:
            return None
        now = await self.store.now()
        last = _when(state.get("last"))
        if last is not None and (now - last).total_seconds() < self.config.interval:
            return None
        renewed = self._clock()
        cut = False

        async def going() -> bool:
            nonlocal renewed, cut
            if stop is not None and stop.is_set():
                cut = True
                return False
            if self._clock() - renewed >= _RENEW_EVERY:
                renewed = self._clock()
                return await self.store.take_lease(LEASE, self.holder, self.ttl) is not None
            return True

        started = self._clock()
        report = await prune(self.store, self.config, metrics=self.metrics, going=going)
        if not cut:  # a pass cut short by a stop is taken up again by the next holder
            ended = await self.store.now()
            saved: dict[str, Any] = {"last": ended.isoformat(), "pruned": dict(report.counts)}
            await self.store.save_lease(LEASE, self.holder, saved)
        self.last = report
        if report.total:
            log.info(
                "retention: pruned %s in %.1fs",
                ", ".join(f"{n} {kind}" for kind, n in report.counts.items() if n),
                self._clock() - started,
            )
        return report


def _when(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
