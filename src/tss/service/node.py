"""One TSS node: settings in; store, broker, task types and metrics out; when serving, a
scheduler and a worker.

The faces (API, dashboard, CLI) call the services a node exposes, and nothing else:
:attr:`TSSApp.jobs` (definitions), :attr:`TSSApp.runs` (triggering and steering runs),
:attr:`TSSApp.reports` (listings and statistics) and :attr:`TSSApp.admin` (workers,
tokens, sessions, health). The methods of the node that keep their old names delegate.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from tss import outbox
from tss.config import Settings
from tss.core.flows import FlowGraph
from tss.core.models import Job, JobSpec, Page, Role, Run, Token, WorkerInfo
from tss.core.states import RunState
from tss.errors import BrokerError, ConfigError, StoreError, TSSError
from tss.metrics import Metrics
from tss.scheduler.scheduler import Scheduler
from tss.service.admin import Admin
from tss.service.backends import open_broker, open_store
from tss.service.jobs import Action, Jobs
from tss.service.reports import Reports
from tss.service.runs import Runs
from tss.tasks.registry import TaskRegistry
from tss.tokens import Principal
from tss.worker.worker import Worker

log = logging.getLogger(__name__)
#: the longest a request waits for the broker to take the runs it queued (then the
#: reconciler publishes them)
PUBLISH_WITHIN = 2.0


class TSSApp:
    """One TSS node: its store, broker, task types and, when serving, scheduler and worker."""

    def __init__(self, settings: Settings, *, registry: TaskRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or TaskRegistry.default()
        self.store = open_store(settings.store.url)
        self.broker = open_broker(settings.broker.url, self.store)
        self.scheduler: Scheduler | None = None
        self.worker: Worker | None = None
        self.metrics = Metrics()
        self._started = False
        #: why this node is not ready yet, as /readyz reports it: set by a serving process
        #: while it connects (the last failure) and applies the config's jobs
        self.not_ready: TSSError | None = None
        self.jobs = Jobs(self)
        self.runs = Runs(self)
        self.reports = Reports(self)
        self.admin = Admin(self)

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
        for entry in [os.getcwd(), *self.settings.python_path]:
            path = str((self.settings.base_dir() / entry).resolve())
            if path not in sys.path:
                sys.path.insert(0, path)

    async def close(self) -> None:
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
        tasks = []
        if scheduler:
            self.scheduler = Scheduler(self.store, self.broker, s)
            self.scheduler.metrics = self.metrics
            tasks.append(asyncio.create_task(self.scheduler.run(stop), name="tss-scheduler"))
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
        publishes it, so a worker in any process starts it at once. A broker that fails or
        hangs is logged, never raised (the request that queued them succeeded): the runs
        stay unpublished, and a scheduler's reconciler publishes them."""
        queued = [r for r in runs if r.state is RunState.QUEUED]
        if self.scheduler is not None:
            await self.scheduler.publish(queued)
            self.scheduler.wake()
            return
        if not queued or not self._publishes:
            return
        try:
            async with asyncio.timeout(PUBLISH_WITHIN):
                await outbox.publish(self.store, self.broker, queued)
        except (BrokerError, StoreError, TimeoutError) as exc:
            log.warning(
                "could not publish %d queued runs (a scheduler's reconciler will): %s",
                len(queued),
                str(exc) or f"no answer within {PUBLISH_WITHIN:g}s",
            )

    # -- the methods of the node before the services (they delegate) ----------------------

    def config_jobs(self) -> list[JobSpec]:
        """:meth:`Jobs.config_jobs`."""
        return self.jobs.config_jobs()

    async def apply(
        self,
        specs: Sequence[JobSpec | dict[str, Any]],
        *,
        where: str = "",
        create_only: bool = False,
    ) -> list[tuple[str, Action]]:
        """:meth:`Jobs.apply`."""
        return await self.jobs.apply(specs, where=where, create_only=create_only)

    async def replace_job(
        self, data: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """:meth:`Jobs.replace`."""
        return await self.jobs.replace(data, expected_version=expected_version)

    async def patch_job(
        self, name: str, patch: dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """:meth:`Jobs.patch`."""
        return await self.jobs.patch(name, patch, expected_version=expected_version)

    async def delete_job(self, name: str, *, force: bool = False) -> None:
        """:meth:`Jobs.delete`."""
        await self.jobs.delete(name, force=force)

    async def set_paused(self, name: str, paused: bool) -> Job:
        """:meth:`Jobs.set_paused`."""
        return await self.jobs.set_paused(name, paused)

    async def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        """:meth:`Jobs.next_fires`."""
        return await self.jobs.next_fires(name, n)

    async def flow_graph(self, name: str) -> FlowGraph:
        """:meth:`Jobs.flow_graph`."""
        return await self.jobs.flow_graph(name)

    async def list_jobs(
        self,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> tuple[Page, dict[str, Run]]:
        """:meth:`Reports.list_jobs`."""
        return await self.reports.list_jobs(
            sort=sort, limit=limit, cursor=cursor, offset=offset, **filters
        )

    async def trigger(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        count: int = 1,
        run_at: datetime | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        actor: str = "user",
        with_descendants: bool | None = None,
        publish: bool = True,
    ) -> list[tuple[Run, bool]]:
        """:meth:`Runs.trigger`."""
        return await self.runs.trigger(
            name, params=params, count=count, run_at=run_at, priority=priority,
            idempotency_key=idempotency_key, actor=actor, with_descendants=with_descendants,
            publish=publish,
        )  # fmt: skip

    async def cancel_run(self, run_id: str, *, actor: str = "user") -> Run:
        """:meth:`Runs.cancel`."""
        return await self.runs.cancel(run_id, actor=actor)

    async def retry_run(self, run_id: str, *, actor: str = "user") -> Run:
        """:meth:`Runs.retry`."""
        return await self.runs.retry(run_id, actor=actor)

    async def flow_runs(self, flow_id: str) -> list[Run]:
        """:meth:`Runs.flow_runs`."""
        return await self.runs.flow_runs(flow_id)

    async def cancel_flow(self, flow_id: str, *, actor: str = "user") -> list[Run]:
        """:meth:`Runs.cancel_flow`."""
        return await self.runs.cancel_flow(flow_id, actor=actor)

    async def wait(
        self, run_ids: Sequence[str], *, timeout: float | None = None, poll: float = 0.2
    ) -> list[Run]:
        """:meth:`Runs.wait`."""
        return await self.runs.wait(run_ids, timeout=timeout, poll=poll)

    async def execute_now(self, name: str, *, params: dict[str, Any] | None = None) -> Run:
        """:meth:`Runs.execute_now`."""
        return await self.runs.execute_now(name, params=params)

    async def get_run(self, run_id: str) -> Run:
        """:meth:`Reports.get_run`."""
        return await self.reports.get_run(run_id)

    async def stats(
        self, *, window: int = 3600, bucket: int = 60
    ) -> tuple[dict[RunState, int], list[tuple[datetime, RunState, int]]]:
        """:meth:`Reports.stats`."""
        return await self.reports.stats(window=window, bucket=bucket)

    async def report_worker(self, info: WorkerInfo) -> WorkerInfo:
        """:meth:`Admin.report_worker`."""
        return await self.admin.report_worker(info)

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None = None
    ) -> tuple[Token, str]:
        """:meth:`Admin.create_token`."""
        return await self.admin.create_token(name, role, expires_at=expires_at)

    async def authenticate(self, raw: str) -> Principal | None:
        """:meth:`Admin.authenticate`."""
        return await self.admin.authenticate(raw)
