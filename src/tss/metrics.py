"""Prometheus metrics: what this process did (counters, histograms) and what the store
holds now (gauges read at scrape time).

Counters count what the scheduler and worker *in this process* did, the way Prometheus
expects: each node exports its own and the server sums them. The gauges are read from the
store on each scrape, so every node reports the same cluster-wide figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tss.core.models import RunFilter
from tss.core.states import ACTIVE_STATES, RunState
from tss.core.workers import WORKER_STATES

if TYPE_CHECKING:
    from datetime import datetime

    from tss.core.models import Run
    from tss.store.base import Store

#: seconds: from a few milliseconds (the embedded fast path) to an hour-long batch job
_DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)
#: seconds from a run's due time to its start
_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    """The metrics of one TSS node, in its own registry (never the process-global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_ended = Counter(
            "tss_runs_ended", "Outcomes recorded by this node, by job and the state the run took",
            ["job", "state"], registry=r,
        )  # fmt: skip
        # No job label: a histogram is 15 series, and per job that grows without bound
        # (100,000 jobs would be 1.5 million series, and the collector walks them all).
        self.run_duration = Histogram(
            "tss_run_duration_seconds", "How long attempts ran on this node's worker",
            ["pool"], buckets=_DURATION_BUCKETS, registry=r,
        )  # fmt: skip
        self.fire_lateness = Histogram(
            "tss_fire_lateness_seconds",
            "From a scheduled run's due time to the start of its first attempt",
            buckets=_LATENESS_BUCKETS, registry=r,
        )  # fmt: skip
        self.fires = Counter(
            "tss_fires", "Runs created by this node's scheduler from schedules", registry=r
        )
        self.runs = Gauge(
            "tss_runs", "Runs in each live state now (store-wide)", ["state"], registry=r
        )
        self.queue_depth = Gauge(
            "tss_queue_depth", "Runs queued and waiting for a worker (store-wide)", registry=r
        )
        self.workers = Gauge("tss_workers", "Workers by state", ["state"], registry=r)
        self.worker_slots = Gauge(
            "tss_worker_slots", "Run slots of workers that are up", registry=r
        )
        self.worker_busy = Gauge(
            "tss_worker_busy", "Runs executing on workers that are up", registry=r
        )
        # What the alert keeper sees (exported by the scheduler holding the alert lease;
        # take the max over instances): for the user's own alerting rules.
        self.job_last_success = Gauge(
            "tss_job_last_success_timestamp_seconds",
            "When a run of the job last succeeded (Unix time)", ["job"], registry=r,
        )  # fmt: skip
        self.job_last_failure = Gauge(
            "tss_job_last_failure_timestamp_seconds",
            "When a run of the job last failed for good (Unix time)", ["job"], registry=r,
        )  # fmt: skip
        self.job_consecutive_failures = Gauge(
            "tss_job_consecutive_failures",
            "Runs of the job that failed in a row (0 after a success)", ["job"], registry=r,
        )  # fmt: skip
        self.missed_fires = Counter(
            "tss_missed_fires",
            "Fires a schedule intended that did not happen in time (alert rule missed)",
            ["job"], registry=r,
        )  # fmt: skip
        self.alerts_sent = Counter(
            "tss_alerts_sent", "Alerts delivered, by channel", ["channel"], registry=r
        )
        self.alerts_failed = Counter(
            "tss_alerts_failed", "Alerts given up on after their retries, by channel",
            ["channel"], registry=r,
        )  # fmt: skip
        self.pruned = Counter(
            "tss_pruned", "Rows deleted by retention, by kind (runs, alerts, silences, "
            "ledger, audit)", ["kind"], registry=r,
        )  # fmt: skip
        # The labelled series the hot path touches, found once (``labels()`` costs a lock,
        # a validation and a lookup per call). No larger than the metrics' own series.
        self._durations: dict[str, Histogram] = {}
        self._ended: dict[tuple[str, RunState], Counter] = {}

    # -- hooks for the scheduler and worker (cheap: called on the hot path) ---------------

    def claimed(self, runs: Sequence[Run]) -> None:
        """Runs a worker just claimed: first attempts of scheduled runs give the lateness."""
        for run in runs:
            if run.attempt == 1 and run.scheduled_for is not None and run.started_at is not None:
                late = (run.started_at - run.scheduled_for).total_seconds()
                self.fire_lateness.observe(max(late, 0.0))

    def attempt_ran(self, pool: str, seconds: float) -> None:
        """A worker finished executing an attempt from ``pool`` after ``seconds``."""
        series = self._durations.get(pool)
        if series is None:
            series = self._durations[pool] = self.run_duration.labels(pool)
        series.observe(seconds)

    def recorded(self, job: str, state: RunState) -> None:
        """An attempt's outcome was accepted by the store; ``state`` is where its run went."""
        series = self._ended.get((job, state))
        if series is None:
            series = self._ended[job, state] = self.runs_ended.labels(job, state.value)
        series.inc()

    # -- hooks for the alert keeper -------------------------------------------------------

    def job_succeeded(self, job: str, at: datetime) -> None:
        """A run of ``job`` succeeded at ``at``."""
        self.job_last_success.labels(job).set(at.timestamp())
        self.job_consecutive_failures.labels(job).set(0)

    def job_failed(self, job: str, at: datetime, streak: int) -> None:
        """A run of ``job`` failed for good at ``at``, the ``streak``-th in a row."""
        self.job_last_failure.labels(job).set(at.timestamp())
        self.job_consecutive_failures.labels(job).set(streak)

    def missed(self, job: str) -> None:
        """A fire of ``job`` was found missed."""
        self.missed_fires.labels(job).inc()

    def alert_sent(self, channel: str, delivered: bool) -> None:
        """An alert to ``channel`` was delivered, or given up on."""
        (self.alerts_sent if delivered else self.alerts_failed).labels(channel).inc()

    # -- scrape ---------------------------------------------------------------------------

    async def render(self, store: Store) -> bytes:
        """Refresh the store-wide gauges, then the text exposition of every metric."""
        counts = await store.count_runs(RunFilter(states=tuple(ACTIVE_STATES)))
        for state in ACTIVE_STATES:
            self.runs.labels(state.value).set(counts.get(state, 0))
        self.queue_depth.set(counts.get(RunState.QUEUED, 0))
        workers = await store.list_workers()
        for worker_state in WORKER_STATES:
            count = sum(1 for w in workers if w.state == worker_state)
            self.workers.labels(worker_state).set(count)
        up = [w for w in workers if w.state == "up"]
        self.worker_slots.set(sum(w.concurrency for w in up))
        self.worker_busy.set(sum(w.running for w in up))
        return generate_latest(self.registry)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
