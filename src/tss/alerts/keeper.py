"""The alert keeper: raises alerts from the event log and the schedules, and delivers them.

One keeper works at a time, whatever the number of schedulers: the one holding the store
lease ``alerts`` (:meth:`~tss.store.roles.AlertStore.take_lease`). Its state (how far it
read the event log, which conditions are open) is saved with the lease, so another
scheduler takes over where it stopped when it dies.

*Nothing is lost.* Every run transition writes an event in the transaction of the change;
the event log is the outbox of alerts. The keeper reads it in id order, stores the alerts
an event causes, and only then saves how far it read. A keeper killed in between reads
those events again and raises the same alerts with the same ids, which the store keeps
once. Ids a transaction took but has not committed yet (PostgreSQL hands out ids before
commit) are waited for up to :data:`GAP_WAIT` seconds before the read moves past them.

*Nothing is repeated beyond its id.* An alert is marked delivered after its channel took
it; a keeper killed in between sends it again with the same id, which receivers drop
(webhook ``id``, ``X-TSS-Alert-Id``, the mail's ``Message-ID``).

*Grouping.* One alert per job (or pool) per condition until the condition ends, again
every ``repeat_after`` while it lasts. *Rate limits.* A channel is sent ``rate_limit``
alerts a minute; the rest are kept with state ``held`` and summed up in one message.
*Silences.* A silenced job's alerts are kept with state ``silenced``, not sent.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tss.alerts import messages
from tss.alerts.base import Channel, DeliveryError
from tss.config.alerts import AlertsConfig
from tss.core.alerts import (
    FAILURE_KINDS,
    POOL_KINDS,
    Alert,
    AlertRule,
    AlertUpdate,
    rules_for,
)
from tss.core.models import Event, Job, JobFilter, Run, RunFilter
from tss.core.retry import TIMEOUT_ERROR
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_micros
from tss.errors import NotFound, TSSError, log_failure
from tss.metrics import Metrics
from tss.store.base import Store
from tss.store.leases import let_go

log = logging.getLogger(__name__)

#: the lease the keeper holds
LEASE = "alerts"
#: seconds an id gap in the event log is waited for (a transaction still committing)
GAP_WAIT = 10.0
#: seconds of events before its start that the first keeper of a store reads
FIRST_LOOKBACK = 600.0
#: events read per store call
EVENT_BATCH = 1000
#: runs read at once while handling a batch of events
READ_CONCURRENCY = 16
#: runs remembered from their events (start times, who made them), to spare reads
MAX_MEMO = 100_000
#: batches read per pass at most (the rest waits for the next pass)
MAX_BATCHES = 20
#: seconds between the checks of schedules (missed) and pools (backlog, no_workers)
CHECK_EVERY = 5.0
#: alerts delivered per pass at most
DELIVER_BATCH = 200
#: successful runs a ``slow: {factor}`` rule needs before it judges
SLOW_SAMPLE_MIN = 5
#: seconds a run must take before ``slow: {factor}`` judges it (3 ms is not slow next to 1)
SLOW_FLOOR = 1.0
SLOW_SAMPLE = 20
#: the failure states an event can end a run in
_FINAL_FAILURES = frozenset({RunState.FAILED, RunState.TIMED_OUT})
_FAILURES = _FINAL_FAILURES | {RunState.RETRYING}


def p95(values: Sequence[float]) -> float:
    """The 95th percentile (nearest rank) of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


class Keeper:
    """Raises and delivers alerts while it holds the ``alerts`` lease. ``holder`` names this
    process (a scheduler's id); ``channels`` are built from the same config."""

    def __init__(
        self,
        store: Store,
        config: AlertsConfig,
        channels: dict[str, Channel],
        *,
        holder: str,
        metrics: Metrics | None = None,
        check_every: float = CHECK_EVERY,
        clock: Callable[[], float] = time.monotonic,
        ttl: float | None = None,
    ) -> None:
        self.store = store
        self.check_every = check_every
        self._clock = clock
        self.config = config
        self.channels = channels
        self.holder = holder
        self.metrics = metrics
        #: seconds the lease is held from each pass (another scheduler takes over after)
        self.ttl = ttl if ttl is not None else max(10.0, 5 * config.interval)
        #: the state saved with the lease; None while another process holds it
        self._state: dict[str, Any] | None = None
        #: event id -> its time (us), for the ids read above the saved cursor
        self._seen: dict[int, int] = {}
        #: pool conditions -> since when (us) they hold, this keeper's own view
        self._since: dict[str, int] = {}
        self._last_check = float("-inf")
        self._sent: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)
        self._held: dict[str, collections.Counter[str]] = collections.defaultdict(
            collections.Counter
        )
        self._held_since: dict[str, int] = {}
        self._sending: dict[str, asyncio.Task[None]] = {}
        #: the runs read for the batch of events being handled
        self._runs: dict[str, Run] = {}
        #: run id -> when its attempt started (from the running events read)
        self._starts: dict[str, datetime] = {}
        #: run id -> whether a scheduler made it (from the creation events read)
        self._fired: dict[str, bool] = {}

    @property
    def cursor(self) -> int | None:
        """The id of the last event read (every one up to it handled); None while another
        process holds the lease."""
        return None if self._state is None else int(self._state["cursor"])

    @property
    def holding(self) -> bool:
        """Whether this keeper held the lease at its last pass."""
        return self._state is not None

    # -- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Pass every ``interval`` seconds until ``stop`` is set; a failure is logged and
        the next pass tries again."""
        backoff = self.config.interval
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                    backoff = self.config.interval
                except Exception as exc:  # an outage or a bug: the process stays up
                    self._state = None  # read the saved state again
                    log_failure(log, exc, "alert keeper", f"; retrying in {backoff:.1f}s")
                    backoff = min(backoff * 2, 30.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
        finally:
            await self.drain()
            await let_go(self.store, LEASE, self.holder)

    async def drain(self, timeout: float = 5.0) -> None:
        """Let deliveries under way end (for up to ``timeout`` seconds), then stop them:
        one stopped is delivered again by the next keeper, with the same id."""
        tasks = [t for t in self._sending.values() if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def tick(self) -> bool:
        """One pass: hold the lease, raise what the new events and the checks say, save,
        deliver. Returns whether this keeper holds the lease."""
        saved = await self.store.take_lease(LEASE, self.holder, self.ttl)
        if saved is None:
            self._state = None
            return False
        if self._state is None:  # just took it (or took it back): start from what was saved
            self._state = _normal(saved)
            if "cursor" not in saved:  # the first keeper ever: recent events, not the history
                self._state["cursor"] = await self._recent_cursor()
            self._seen = {}
            self._since = {}
        before = copy.deepcopy(self._state)
        try:
            now = await self.store.now()
            alerts = await self._read_events(now)
            mono = self._clock()
            if mono - self._last_check >= self.check_every:
                self._last_check = mono
                alerts += await self._check_schedules(now)
                alerts += await self._check_pools(now)
            if alerts:
                await self.store.add_alerts(await self._mark_silenced(alerts))
        except BaseException:
            self._state, self._seen = before, {}
            raise
        if not await self.store.save_lease(LEASE, self.holder, self._state):
            self._state = None
            return False
        await self._deliver()
        return True

    async def _recent_cursor(self) -> int:
        """Where the first keeper of a store starts reading: after the last event older
        than :data:`FIRST_LOOKBACK` (found by halving, a read per step), so what happened
        while the first server started up (a fire made late, a failure) is not missed, and
        an old store's history raises nothing."""
        since = await self.store.now() - timedelta(seconds=FIRST_LOOKBACK)
        low, high = 0, await self.store.last_event_id()
        while low < high:
            middle = (low + high) // 2
            found = await self.store.list_events(after=middle, limit=1)
            if not found or found[0].at >= since:
                high = middle
            else:
                low = found[0].id
        return low

    # -- the event log --------------------------------------------------------------------

    async def _read_events(self, now: datetime) -> list[Alert]:
        assert self._state is not None
        alerts: list[Alert] = []
        for _ in range(MAX_BATCHES):
            cursor = self._state["cursor"]
            events = await self.store.list_events(after=cursor, limit=EVENT_BATCH)
            fresh = [e for e in events if e.id not in self._seen]
            if fresh:
                alerts += await self._handle(fresh, now)
                for event in fresh:
                    self._seen[event.id] = to_micros(event.at)
            self._advance(now)
            if len(events) < EVENT_BATCH or self._state["cursor"] == cursor:
                break
        return alerts

    def _advance(self, now: datetime) -> None:
        """Move the cursor over every id read, and over gaps older than GAP_WAIT."""
        assert self._state is not None
        cursor = self._state["cursor"]
        settled = to_micros(now) - int(GAP_WAIT * 1e6)
        for event_id in sorted(self._seen):
            if event_id != cursor + 1 and self._seen[event_id] > settled:
                break  # an id below this one may still commit
            cursor = event_id
        self._state["cursor"] = cursor
        self._seen = {i: at for i, at in self._seen.items() if i > cursor}

    async def _handle(self, events: Sequence[Event], now: datetime) -> list[Alert]:
        names = sorted({e.job for e in events})
        jobs = await self.store.get_jobs(names)
        by_job: dict[str, tuple[list[AlertRule], frozenset[str]]] = {}
        for name in names:
            job = jobs.get(name)
            rules = rules_for(name, job.spec.alerts if job else None, self.config.rules)
            by_job[name] = (rules, frozenset(rule.on for rule in rules))
        for event in events:
            self._remember(event)  # a run's earlier events in this batch spare its read
        # The runs the rules need, read at once (not one round trip per event in turn).
        wanted = {e.run_id for e in events if self._needs_run(e, *by_job[e.job])}
        self._runs = await self._read_runs(wanted)
        alerts: list[Alert] = []
        try:
            for event in events:
                rules, kinds = by_job[event.job]
                try:
                    self._count(event)
                    if kinds:
                        alerts += await self._on_event(event, rules, kinds, now)
                except (TSSError, ValueError, KeyError, TypeError) as exc:
                    # one odd event (a run deleted since, a malformed row) never stops it
                    log.warning(
                        "alert keeper: skipped event %d of run %s: %s", event.id, event.run_id, exc
                    )
                self._forget(event)
        finally:
            self._runs = {}
        return alerts

    def _remember(self, event: Event) -> None:
        """Keep what later events of the same run need: whether a scheduler fired it
        (only those can start late), and when its attempt started (to judge ``slow``)."""
        if event.source is None:
            fired = event.target is RunState.SCHEDULED or event.actor.startswith("scheduler:")
            _bounded_put(self._fired, event.run_id, fired)
        elif event.target is RunState.RUNNING:
            _bounded_put(self._starts, event.run_id, event.at)

    def _forget(self, event: Event) -> None:
        """Drop what was kept of a run that ``event`` ended."""
        if event.target.terminal:
            self._starts.pop(event.run_id, None)
            self._fired.pop(event.run_id, None)

    def _needs_run(self, event: Event, rules: list[AlertRule], kinds: frozenset[str]) -> bool:
        """Whether handling ``event`` under ``rules`` (of ``kinds``) reads its run."""
        assert self._state is not None
        if event.target in _FAILURES and event.source in (RunState.RUNNING, RunState.QUEUED):
            return bool(kinds & FAILURE_KINDS)
        if event.target is RunState.SUCCEEDED:
            open_ = self._state["open"]
            if "recovered" in kinds and any(f"{k}|{event.job}" in open_ for k in FAILURE_KINDS):
                return True
            return "slow" in kinds and self._maybe_slow(event, rules)
        if event.source is None:  # only a scheduler's fire can be a missed one
            return "missed" in kinds and self._fired.get(event.run_id, True)
        if event.target is RunState.RUNNING and event.attempt == 1 and "late" in kinds:
            return self._fired.get(event.run_id, True)  # a manual run is never late
        return False

    def _maybe_slow(self, event: Event, rules: list[AlertRule]) -> bool:
        """Whether the run that ``event`` ended may be slow by ``rules``: false when its
        start was seen and it ran shorter than every bound (no read needed)."""
        began = self._starts.get(event.run_id)
        if began is None:
            return True
        took = (event.at - began).total_seconds()
        least = min(
            rule.seconds if rule.seconds is not None else SLOW_FLOOR
            for rule in rules
            if rule.on == "slow"
        )
        return took >= least

    async def _read_runs(self, run_ids: Iterable[str]) -> dict[str, Run]:
        """The runs of ``run_ids`` that exist, read a few at a time concurrently."""
        gate = asyncio.Semaphore(READ_CONCURRENCY)

        async def one(run_id: str) -> Run | None:
            async with gate:
                try:
                    return await self.store.get_run(run_id)
                except NotFound:
                    return None

        found = await asyncio.gather(*(one(i) for i in run_ids))
        return {run.id: run for run in found if run is not None}

    async def _run(self, run_id: str) -> Run:
        """A run, from the batch's reads when it was read.

        :raises NotFound: no such run.
        """
        found = self._runs.get(run_id)
        return found if found is not None else await self.store.get_run(run_id)

    def _count(self, event: Event) -> None:
        """What every run's end counts, rules or none: the job's failure streak (which
        ``consecutive_failures`` reads) and its metrics."""
        assert self._state is not None
        if event.target is RunState.SUCCEEDED:
            self._state["streak"].pop(event.job, None)
            if self.metrics is not None:
                self.metrics.job_succeeded(event.job, event.at)
        elif event.target in _FINAL_FAILURES and event.source is not None:
            streak = self._state["streak"]
            streak[event.job] = streak.get(event.job, 0) + 1
            if self.metrics is not None:
                self.metrics.job_failed(event.job, event.at, streak[event.job])

    async def _on_event(
        self, event: Event, rules: list[AlertRule], kinds: frozenset[str], now: datetime
    ) -> list[Alert]:
        state = self._state
        assert state is not None
        job = event.job
        if event.target in _FAILURES and event.source in (RunState.RUNNING, RunState.QUEUED):
            return await self._on_failure(event, rules, kinds, now)
        if event.target is RunState.SUCCEEDED:
            alerts: list[Alert] = []
            opened: list[dict[str, Any]] = []
            if state["open"]:  # mostly empty: nothing to close
                failures = [self._close(kind, job) for kind in FAILURE_KINDS]
                opened = [c for c in failures if c is not None and c.get("sent") is not None]
            run: Run | None = None
            if opened and "recovered" in kinds:
                run = await self._attempt_view(event)
                count = sum(c["count"] for c in opened)
                since = messages.when(from_micros(min(c["since"] for c in opened)))
                message = messages.recovered(run, since, count, self.config.link)
                alerts += self._raise("recovered", job, str(event.id), rules, message, now, run)
                self._close("recovered", job)  # announced: not a lasting condition
            if "slow" in kinds:
                if not self._maybe_slow(event, rules):
                    if state["open"]:
                        self._close("slow", job)
                else:
                    run = run or await self._attempt_view(event)
                    alerts += await self._check_slow(run, rules, event, now)
            return alerts
        if event.source is None and "missed" in kinds:
            if not self._fired.get(event.run_id, True):
                return []
            return await self._on_fire(event, rules, now)
        if event.target is RunState.RUNNING and event.attempt == 1 and "late" in kinds:
            if not self._fired.get(event.run_id, True):
                return []
            run = await self._run(event.run_id)
            if run.scheduled_for is None:
                return []
            lateness = (event.at - run.scheduled_for).total_seconds()
            late = [r for r in rules if r.on == "late" and lateness > r.setting("after")]
            if not late:
                self._close("late", job)
                return []
            bound = min(r.setting("after") for r in late)
            run = replace(run, started_at=event.at)
            message = messages.late(run, lateness, bound, self.config.link)
            return self._raise("late", job, str(event.id), late, message, now, run)
        return []

    async def _on_fire(self, event: Event, rules: list[AlertRule], now: datetime) -> list[Alert]:
        """A fire made later than a ``missed`` rule allows (a scheduler caught up after
        none ran): the fire was missed, even though it ran in the end. The alert's id is
        the one the schedule check gives the same fire, so it is raised once."""
        run = await self._run(event.run_id)
        if run.trigger != "schedule" or run.scheduled_for is None:
            return []
        overdue = (run.created_at - run.scheduled_for).total_seconds()
        missed = [r for r in _of(rules, "missed") if overdue > r.setting("after")]
        if not missed:
            return []
        job = await self.store.get_job(run.job)
        return self._missed(job, run.scheduled_for, overdue, missed, now, fired=True)

    async def _on_failure(
        self, event: Event, rules: list[AlertRule], kinds: frozenset[str], now: datetime
    ) -> list[Alert]:
        assert self._state is not None
        job = event.job
        final = event.target in _FINAL_FAILURES
        streak = self._state["streak"]  # counted by _count
        if not kinds & FAILURE_KINDS:
            return []
        run = await self._attempt_view(event)
        timed = run.error is not None and run.error.type == TIMEOUT_ERROR
        link = self.config.link
        cause = str(event.id)
        alerts: list[Alert] = []
        if "failed" in kinds:
            message = messages.failed(run, link, final=final)
            alerts += self._raise("failed", job, cause, _of(rules, "failed"), message, now, run)
        if "timed_out" in kinds and timed:
            message = messages.failed(run, link, final=final)
            alerts += self._raise(
                "timed_out", job, cause, _of(rules, "timed_out"), message, now, run
            )
        if "dead" in kinds and final:
            message = messages.failed(run, link, final=True)
            alerts += self._raise("dead", job, cause, _of(rules, "dead"), message, now, run)
        if final:
            hit = [
                r for r in _of(rules, "consecutive_failures") if streak[job] >= r.setting("count")
            ]
            if hit:
                message = messages.consecutive(run, streak[job], link)
                alerts += self._raise("consecutive_failures", job, cause, hit, message, now, run)
        return alerts

    async def _attempt_view(self, event: Event) -> Run:
        """The run as it was when ``event`` happened: the attempt's error and times (a
        retried run has moved on to its next attempt since)."""
        run = await self._run(event.run_id)
        if event.attempt <= 0:
            return replace(run, state=event.target)
        if run.attempt == event.attempt and run.state is event.target:
            return run
        try:
            attempts = await self.store.list_attempts(event.run_id)
        except NotFound:
            attempts = []
        mine = next((a for a in attempts if a.number == event.attempt), None)
        if mine is None:
            return replace(run, state=event.target, attempt=event.attempt)
        return replace(
            run,
            state=event.target,
            attempt=event.attempt,
            error=mine.error,
            started_at=mine.started_at,
            finished_at=mine.finished_at or event.at,
        )

    async def _check_slow(
        self, run: Run, rules: list[AlertRule], event: Event, now: datetime
    ) -> list[Alert]:
        if run.started_at is None or run.finished_at is None:
            return []
        took = (run.finished_at - run.started_at).total_seconds()
        slow: list[tuple[AlertRule, float, str]] = []
        recent: list[float] | None = None
        for rule in _of(rules, "slow"):
            if rule.seconds is not None and took > rule.seconds:
                slow.append((rule, rule.seconds, "its bound"))
            if rule.factor is not None and took >= SLOW_FLOOR:
                if recent is None:
                    recent = await self._durations(run)
                if len(recent) >= SLOW_SAMPLE_MIN:
                    bound = rule.factor * p95(recent)
                    if took > bound:
                        slow.append((rule, bound, f"{rule.factor:g} times its recent p95"))
        if not slow:
            self._close("slow", run.job)
            return []
        _, bound, why = min(slow, key=lambda s: s[1])
        message = messages.slow(run, took, bound, why, self.config.link)
        return self._raise("slow", run.job, str(event.id), [s[0] for s in slow], message, now, run)

    async def _durations(self, run: Run) -> list[float]:
        page = await self.store.list_runs(
            RunFilter(job=run.job, states=(RunState.SUCCEEDED,)), limit=SLOW_SAMPLE + 1
        )
        return [
            (r.finished_at - r.started_at).total_seconds()
            for r in page.items
            if r.id != run.id and r.started_at is not None and r.finished_at is not None
        ][:SLOW_SAMPLE]

    # -- schedules and pools --------------------------------------------------------------

    async def _check_schedules(self, now: datetime) -> list[Alert]:
        """``missed``: a job whose next fire time passed longer ago than its bound has not
        fired: no scheduler fired it (down, or cut from the store), or it is paused."""
        assert self._state is not None
        alerts: list[Alert] = []
        overdue_jobs: set[str] = set()
        cursor: str | None = None
        for _ in range(10):
            page = await self.store.list_jobs(
                JobFilter(), sort="next_fire_at", limit=200, cursor=cursor
            )
            late_enough = False
            for job in page.items:
                if job.next_fire_at is None or job.next_fire_at >= now:
                    late_enough = True
                    break
                overdue = (now - job.next_fire_at).total_seconds()
                rules = [
                    r
                    for r in rules_for(job.name, job.spec.alerts, self.config.rules)
                    if r.on == "missed" and overdue > r.setting("after")
                ]
                if not rules:
                    continue
                overdue_jobs.add(job.name)
                alerts += self._missed(job, job.next_fire_at, overdue, rules, now)
            cursor = page.next_cursor
            if late_enough or cursor is None:
                break
        for key in [k for k in self._state["open"] if k.startswith("missed|")]:
            if key.split("|", 1)[1] not in overdue_jobs:
                del self._state["open"][key]
        return alerts

    def _missed(
        self,
        job: Job,
        expected: datetime,
        overdue: float,
        rules: list[AlertRule],
        now: datetime,
        *,
        fired: bool = False,
    ) -> list[Alert]:
        assert self._state is not None
        key = f"missed|{job.name}"
        opened = self._state["open"].get(key)
        fire = expected.isoformat()
        if opened is not None and opened.get("fire") != fire:
            del self._state["open"][key]  # another fire: a new condition
            opened = None
        if opened is None and self.metrics is not None:
            self.metrics.missed(job.name)
        repeat = self.config.repeat_after
        nth = int(overdue // repeat) if repeat > 0 else 0
        message = messages.missed(job, expected, overdue, self.config.link, fired=fired)
        made = self._raise("missed", job.name, f"{fire}#{nth}", rules, message, now, None)
        if fired:  # it ran in the end: not a lasting condition
            self._close("missed", job.name)
        else:
            self._state["open"][key]["fire"] = fire
        return made

    async def _check_pools(self, now: datetime) -> list[Alert]:
        backlog = [r for r in self.config.rules if r.on == "backlog"]
        no_workers = [r for r in self.config.rules if r.on == "no_workers"]
        if not backlog and not no_workers:
            return []
        workers = [w for w in await self.store.list_workers() if w.state == "up"]
        queued = await self.store.list_runs(RunFilter(states=(RunState.QUEUED,)), limit=500)
        pools = {p for w in workers for p in w.pools} | {r.pool for r in queued.items}
        pools |= {r.pool for r in [*backlog, *no_workers] if r.pool is not None}
        alerts: list[Alert] = []
        holding: set[str] = set()
        now_us = to_micros(now)

        def lasting(rule: AlertRule, pool: str) -> tuple[int, float] | None:
            """The condition of ``rule`` holds for ``pool`` now: since when (us), and
            how long (s) when that is ``for`` or more."""
            key = f"{rule.on}|{pool}"
            holding.add(key)
            since = self._since.setdefault(key, now_us)
            lasted = (now_us - since) / 1e6
            return (since, lasted) if lasted >= rule.setting("for_") else None

        for rule in backlog:
            bound = rule.setting("depth")
            for pool in [rule.pool] if rule.pool else sorted(pools):
                depth = len(await self.store.fetch_queued([pool], limit=bound + 1))
                if depth > bound and (held := lasting(rule, pool)) is not None:
                    since, lasted = held
                    message = messages.backlog(pool, depth, bound, lasted, self.config.link)
                    alerts += self._raise("backlog", pool, str(since), [rule], message, now, None)
        for rule in no_workers:
            for pool in [rule.pool] if rule.pool else sorted(pools):
                if any(pool in w.pools for w in workers):
                    continue
                if not await self.store.fetch_queued([pool], limit=1):
                    continue
                if (held := lasting(rule, pool)) is not None:
                    since, lasted = held
                    message = messages.no_workers(pool, lasted, self.config.link)
                    alerts += self._raise(
                        "no_workers", pool, str(since), [rule], message, now, None
                    )
        assert self._state is not None
        for key in list(self._since):
            if key not in holding:
                del self._since[key]
        for key in [k for k in self._state["open"] if k.split("|")[0] in POOL_KINDS]:
            if key not in holding:
                del self._state["open"][key]
        return alerts

    # -- conditions -----------------------------------------------------------------------

    def _raise(
        self,
        kind: str,
        subject: str,
        cause: str,
        rules: Iterable[AlertRule],
        message: messages.Message,
        now: datetime,
        run: Run | None,
    ) -> list[Alert]:
        """The alerts of condition ``kind`` about ``subject`` (a job or pool) caused by
        ``cause``, one per channel; none while the same condition was alerted on less
        than ``repeat_after`` ago."""
        assert self._state is not None
        now_us = to_micros(now)
        key = f"{kind}|{subject}"
        condition = self._state["open"].get(key)
        if condition is None:
            condition = self._state["open"][key] = {"since": now_us, "count": 0}
        condition["count"] += 1
        sent = condition.get("sent")
        repeat = self.config.repeat_after
        if sent is not None and (repeat == 0 or now_us - sent < repeat * 1e6):
            return []  # grouped with the alert already sent
        condition["sent"] = now_us
        channels: list[str] = []
        for rule in rules:
            channels += [c for c in self.config.channels_of(rule) if c not in channels]
        details = message.details | {"kind": kind, "occurrences": condition["count"]}
        job = None if kind in POOL_KINDS else subject
        run_id = run.id if run is not None else None
        return [
            message.alert(
                kind, subject, cause, channel, now, job=job, run_id=run_id, details=details
            )
            for channel in channels
        ]

    def _close(self, kind: str, subject: str) -> dict[str, Any] | None:
        assert self._state is not None
        closed: dict[str, Any] | None = self._state["open"].pop(f"{kind}|{subject}", None)
        return closed

    async def _mark_silenced(self, alerts: list[Alert]) -> list[Alert]:
        silences = {s.job: s for s in await self.store.list_silences()}
        if not silences:
            return alerts
        return [
            replace(alert, state="silenced", error=f"silenced by {s.by}: {s.note}")
            if alert.job is not None and (s := silences.get(alert.job)) is not None
            else alert
            for alert in alerts
        ]

    # -- delivery -------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """Start delivering due alerts: one task per channel, so a slow or down channel
        delays only its own alerts."""
        busy = {name for name, task in self._sending.items() if not task.done()}
        due = await self.store.due_alerts(limit=DELIVER_BATCH)
        by_channel: dict[str, list[Alert]] = collections.defaultdict(list)
        for alert in due:
            if alert.channel not in busy:
                by_channel[alert.channel].append(alert)
        for name, alerts in by_channel.items():
            self._sending[name] = asyncio.get_running_loop().create_task(
                self._send(name, alerts), name=f"tss-alerts-{name}"
            )
        for name, held in list(self._held.items()):
            if held and name not in busy and name not in by_channel:
                await self._summarise(name)

    def _window(self, name: str) -> collections.deque[float]:
        """When ``name`` was sent to in the last minute (older times dropped)."""
        window = self._sent[name]
        mono = self._clock()
        while window and window[0] <= mono - 60.0:
            window.popleft()
        return window

    async def _send(self, name: str, alerts: list[Alert]) -> None:
        channel = self.channels.get(name)
        limit = self.config.rate_limit
        # The store's clock once, then this process's: not a round trip per alert.
        base, began = await self.store.now(), time.monotonic()
        for alert in alerts:
            start = base + timedelta(seconds=time.monotonic() - began)
            window = self._window(name)
            attempts = alert.attempts + 1
            if channel is None:
                update = AlertUpdate(
                    alert.id, "failed", attempts, error=f"no channel named {name!r} in the config"
                )
            elif alert.kind != "summary" and len(window) >= limit:
                self._held[name][alert.kind] += 1
                self._held_since.setdefault(name, to_micros(start))
                update = AlertUpdate(
                    alert.id, "held", alert.attempts, error=f"over the limit of {limit} a minute"
                )
            else:
                window.append(self._clock())
                update = await self._attempt(channel, alert, start)
            try:
                await self.store.settle_alerts([update])
            except TSSError as exc:  # sent again later with the same id: receivers drop it
                log.warning("alert %s: could not record its delivery: %s", alert.id, exc)
                return
            if self.metrics is not None and update.state in ("delivered", "failed"):
                self.metrics.alert_sent(name, update.state == "delivered")

    async def _attempt(self, channel: Channel, alert: Alert, start: datetime) -> AlertUpdate:
        attempts = alert.attempts + 1
        began = time.monotonic()
        try:
            await channel.send(alert)
        except DeliveryError as exc:
            error, final, wait = str(exc), exc.final, exc.retry_after
        except Exception as exc:  # a plugin's bug: retried, and said
            error, final, wait = f"{type(exc).__name__}: {exc}", False, None
        else:
            sent = start + timedelta(seconds=time.monotonic() - began)
            return AlertUpdate(alert.id, "delivered", attempts, sent_at=sent)
        if final or attempts >= self.config.max_attempts:
            log.warning("alert %s to %s failed for good: %s", alert.id, channel.name, error)
            return AlertUpdate(alert.id, "failed", attempts, error=error)
        delay = min(self.config.retry_delay * 2 ** (attempts - 1), self.config.max_retry_delay)
        if wait is not None:
            delay = max(delay, min(wait, self.config.max_retry_delay))
        log.info(
            "alert %s to %s failed (%s); next try in %.0fs", alert.id, channel.name, error, delay
        )
        return AlertUpdate(
            alert.id, "pending", attempts, next_at=start + timedelta(seconds=delay), error=error
        )

    async def _summarise(self, name: str) -> None:
        """Once a channel's minute has room again, tell it what its limit held back."""
        if len(self._window(name)) >= self.config.rate_limit:
            return
        held = dict(self._held.pop(name))
        since = self._held_since.pop(name)
        now = await self.store.now()
        message = messages.summary(name, held, self.config.rate_limit, self.config.link)
        await self.store.add_alerts([message.alert("summary", name, str(since), name, now)])


def _bounded_put(memo: dict[str, Any], key: str, value: Any) -> None:
    """``memo[key] = value``, forgetting the oldest entries past :data:`MAX_MEMO`."""
    memo[key] = value
    while len(memo) > MAX_MEMO:
        del memo[next(iter(memo))]


def _of(rules: Iterable[AlertRule], kind: str) -> list[AlertRule]:
    return [rule for rule in rules if rule.on == kind]


def _normal(saved: dict[str, Any]) -> dict[str, Any]:
    """The saved state, with what a first lease (or an older keeper) left out."""
    state = dict(saved)
    cursor = state.get("cursor")
    state["cursor"] = cursor if isinstance(cursor, int) and cursor >= 0 else 0
    for name in ("open", "streak"):
        value = state.get(name)
        state[name] = value if isinstance(value, dict) else {}
    return state
