"""One TSS node: settings in; store, broker, task types and metrics out; when serving, a
scheduler and a worker.

The faces (API, dashboard, CLI) call the services a node exposes, and nothing else:
:attr:`TSSApp.jobs` (definitions), :attr:`TSSApp.runs` (triggering and steering runs),
:attr:`TSSApp.reports` (listings and statistics), :attr:`TSSApp.admin` (workers,
tokens, sessions, health), :attr:`TSSApp.workers` (the worker protocol, for workers
outside the server), :attr:`TSSApp.audit` (who wrote what) and :attr:`TSSApp.history`
(job versions, diffs, rollback). The node itself only composes them and runs the loops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from tss import outbox
from tss.alerts.base import Channel
from tss.alerts.channels import build_channels, check_channels
from tss.alerts.keeper import Keeper
from tss.config import Settings
from tss.core.models import Run
from tss.core.states import RunState
from tss.errors import ConfigError, TSSError
from tss.metrics import Metrics
from tss.scheduler.backfills import BackfillStep
from tss.scheduler.pruner import Pruner
from tss.scheduler.scheduler import Scheduler
from tss.service.admin import Admin
from tss.service.alerts import Alerts
from tss.service.audit import Audit
from tss.service.backends import open_broker, open_store
from tss.service.history import History
from tss.service.jobs import Jobs
from tss.service.ledger import Ledger
from tss.service.reports import Reports
from tss.service.retention import Retention
from tss.service.runs import Runs
from tss.service.workers import RemoteWorkers
from tss.tasks.plugins import add_python_path, load_task_types
from tss.tasks.registry import TaskRegistry
from tss.worker.worker import Worker

log = logging.getLogger(__name__)
#: the longest a request waits for the broker to take the runs it queued (then the
#: reconciler publishes them)
PUBLISH_WITHIN = 2.0


class TSSApp:
    """One TSS node: its store, broker, task types and, when serving, scheduler and worker."""

    def __init__(self, settings: Settings, *, registry: TaskRegistry | None = None) -> None:
        self.settings = settings
        # The config's task_plugins too: one that cannot be loaded stops the node here.
        self.registry = registry or load_task_types(settings)
        self.store = open_store(settings.store.url)
        self.broker = open_broker(settings.broker.url, self.store)
        self.scheduler: Scheduler | None = None
        self.worker: Worker | None = None
        self.metrics = Metrics()
        self._sender = outbox.Sender(self.store, self.broker, PUBLISH_WITHIN)
        self._started = False
        #: why this node is not ready yet, as /readyz reports it: set by a serving process
        #: while it connects (the last failure) and applies the config's jobs
        self.not_ready: TSSError | None = None
        self.jobs = Jobs(self)
        self.runs = Runs(self)
        self.reports = Reports(self)
        self.admin = Admin(self)
        self.workers = RemoteWorkers(self)
        self.alerts = Alerts(self)
        self.audit = Audit(self)
        self.ledger = Ledger(self)
        self.history = History(self)
        self.retention = Retention(self)
        self.pruner: Pruner | None = None
        self.keeper: Keeper | None = None
        self._channels: dict[str, Channel] | None = None

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has connected the store and the broker."""
        return self._started

    @property
    def store_is_remote(self) -> bool:
        """Whether the store is a server (PostgreSQL, Redis) that may come back: a local one
        (SQLite, memory) that cannot be opened will not open by waiting."""
        return self.store.remote

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the store (applying migrations) and the broker."""
        if self._started:
            return
        self.add_python_path()
        await self.store.start()
        await self.broker.start()
        self._started = True

    def add_python_path(self) -> None:
        """Make ``python`` jobs importable: the working directory and ``python_path``
        (relative to the config file) go on ``sys.path``. Idempotent."""
        add_python_path(self.settings)

    async def alert_channels(self) -> dict[str, Channel]:
        """The config's alert channels, built on first use (secrets read then).

        :raises ConfigError: a channel cannot be built (a missing secret...), naming its key.
        """
        if self._channels is None:
            self._channels = build_channels(self.settings.alerts)
        return self._channels

    @property
    def keeps_alerts(self) -> bool:
        """Whether a scheduler of this node raises and delivers alerts: ``alerts.enabled``
        and something to do (channels or rules)."""
        alerts = self.settings.alerts
        return alerts.enabled and bool(alerts.channels or alerts.rules)

    async def close(self) -> None:
        await self._sender.close(PUBLISH_WITHIN)
        if self._channels is not None:
            channels, self._channels = self._channels, None
            for channel in channels.values():
                await channel.aclose()
        await self.registry.aclose()  # the http task type's kept-alive connections
        await self.broker.close()
        await self.store.close()
        self._started = False

    async def __aenter__(self) -> TSSApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def serve(
        self, stop: asyncio.Event, *, scheduler: bool = True, worker: bool = True
    ) -> None:
        """Run a scheduler and/or a worker until ``stop`` is set, then shut down gracefully."""
        if (scheduler != worker) and not self.broker.durable and self.broker.name == "local":
            raise ConfigError(
                "broker.url: the local:// broker only works when the scheduler and the worker "
                "share one process (tss server); use broker.url: store:// to run them apart",
                field="broker.url",
            )
        s, w = self.settings.scheduler, self.settings.worker
        channels = None
        if scheduler and self.keeps_alerts:  # a channel that cannot work stops the start
            channels = await self.alert_channels()
            if self.settings.alerts.check_on_start:
                await check_channels(channels)
        tasks = []
        if scheduler:
            self.scheduler = Scheduler(self.store, self.broker, s)
            self.scheduler.metrics = self.metrics
            tasks.append(asyncio.create_task(self.scheduler.run(stop), name="tss-scheduler"))
            sched = self.scheduler
            backfills = BackfillStep(
                self.store, lambda: self.ledger.advance(actor=sched.actor), sched.publish,
                holder=sched.id,
            )  # fmt: skip
            tasks.append(asyncio.create_task(backfills.run(stop), name="tss-backfills"))
            if self.settings.retention.enabled:
                self.pruner = Pruner(
                    self.store, self.settings.retention, holder=self.scheduler.id,
                    metrics=self.metrics,
                )  # fmt: skip
                tasks.append(asyncio.create_task(self.pruner.run(stop), name="tss-retention"))
            if channels is not None:
                self.keeper = Keeper(
                    self.store, self.settings.alerts, channels,
                    holder=self.scheduler.id, metrics=self.metrics,
                )  # fmt: skip
                tasks.append(asyncio.create_task(self.keeper.run(stop), name="tss-alerts"))
        if worker:
            self.worker = Worker(self.store, self.broker, self.registry, w)
            self.worker.metrics = self.metrics
            if self.scheduler is not None:
                self.worker.on_requeue = self.scheduler.wake
            tasks.append(asyncio.create_task(self.worker.run(stop), name="tss-worker"))
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.scheduler = self.worker = None
            self.keeper = None
            self.pruner = None

    # -- what the services share ----------------------------------------------------------

    def wake_scheduler(self) -> None:
        """A job changed: the scheduler of this process (if any) looks again at once."""
        if self.scheduler is not None:
            self.scheduler.wake()

    @property
    def _publishes(self) -> bool:
        """Whether runs published here reach a worker: a shared broker does; a local://
        broker only reaches a worker in this process (``tss server``)."""
        return self._started and (self.scheduler is not None or self.broker.name != "local")

    async def publish(self, runs: Sequence[Run]) -> None:
        """Publish the queued runs this process just committed: whoever commits a queued run
        publishes it, so a worker in any process starts it at once. Without a scheduler here
        that happens in the background (:class:`tss.outbox.Sender`): the caller does not wait
        for the broker. A broker that fails or hangs is logged, never raised (the request that
        queued them succeeded): the runs stay unpublished, and a scheduler's reconciler
        publishes them."""
        queued = [r for r in runs if r.state is RunState.QUEUED]
        if self.scheduler is not None:
            await self.scheduler.publish(queued)
            if len(queued) < len(runs):  # one due later: the scheduler's next wake-up moved
                self.scheduler.wake()
            return
        if queued and self._publishes:
            self._sender.send(queued)
