"""The composition root: config in, store + broker + scheduler + worker + task types out.

The only module that names concrete backends. The CLI (and later the API) call the
operations here; they hold no business rules of their own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from tss._urls import mask_url
from tss.broker.base import Broker
from tss.broker.outbox import announce
from tss.config import Settings
from tss.core import flows
from tss.core.flows import FlowGraph
from tss.core.ids import new_id
from tss.core.merge import deep_merge, merge_patch
from tss.core.models import (
    Job,
    JobFilter,
    JobSpec,
    NewRun,
    Page,
    Role,
    Run,
    RunFilter,
    RunPolicy,
    Token,
    WorkerInfo,
)
from tss.core.overrides import check_overrides
from tss.core.schedules import first_fire, next_fire_times
from tss.core.states import RunState
from tss.definitions import check_jobs, load_job_file, parse_job
from tss.errors import (
    BrokerError,
    ConfigError,
    Conflict,
    NotFound,
    StoreError,
    TSSError,
    ValidationError,
)
from tss.metrics import Metrics
from tss.scheduler.scheduler import Scheduler, SchedulerSettings
from tss.store.base import Store
from tss.store.paging import collect
from tss.tasks.registry import TaskRegistry
from tss.tokens import Principal, authenticate, new_token
from tss.worker.attempt import run_attempt
from tss.worker.capture import install_routing
from tss.worker.worker import Worker, WorkerSettings

log = logging.getLogger(__name__)
Action = Literal["created", "updated", "unchanged"]
#: how often :meth:`TSSApp.apply` re-reads a job that another process changed under it
_UPSERT_TRIES = 5
#: the longest a request waits for the broker to take the runs it queued (then the
#: reconciler publishes them)
_PUBLISH_WITHIN = 2.0


def open_store(url: str) -> Store:
    """The store for a URL (``sqlite:///tss.db``, ``postgresql://...``, ``redis://...``,
    ``memory://``). Drivers are imported only for the backend asked for.

    :raises ConfigError: an unknown scheme.
    """
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme == "sqlite":
        from tss.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if scheme == "memory":
        from tss.store.memory import MemoryStore

        return MemoryStore()
    if scheme in {"postgresql", "postgres"}:
        from tss.store.postgres import PostgresStore

        return PostgresStore(url)
    if scheme in {"redis", "rediss"}:
        from tss.store.redis import RedisStore

        return RedisStore(url)
    raise ConfigError(
        f"store.url: unsupported scheme {scheme!r} in {mask_url(url)!r} "
        "(supported: sqlite, postgresql, redis, memory)",
        field="store.url",
    )


def open_broker(url: str, store: Store) -> Broker:
    """The broker for a URL (``local://``, ``store://``, ``amqp://...``, ``redis://...``).

    :raises ConfigError: an unknown scheme.
    """
    scheme = urlsplit(url).scheme
    if scheme == "local":
        from tss.broker.local import LocalBroker

        return LocalBroker()
    if scheme == "store":
        from tss.broker.store import StoreBroker

        return StoreBroker(store)
    if scheme in {"amqp", "amqps"}:
        from tss.broker.rabbitmq import RabbitMQBroker

        return RabbitMQBroker(url)
    if scheme in {"redis", "rediss"}:
        from tss.broker.redis import RedisBroker

        return RedisBroker(url)
    raise ConfigError(
        f"broker.url: unsupported scheme {scheme!r} in {mask_url(url)!r} "
        "(supported: local, store, amqp, redis)",
        field="broker.url",
    )


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

    @property
    def started(self) -> bool:
        """Whether :meth:`start` has connected the store and the broker."""
        return self._started

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
            self.scheduler = Scheduler(
                self.store,
                self.broker,
                SchedulerSettings(
                    scheduler_id=s.id or "", **s.model_dump(exclude={"id", "enabled"})
                ),
            )
            self.scheduler.metrics = self.metrics
            tasks.append(asyncio.create_task(self.scheduler.run(stop), name="tss-scheduler"))
        if worker:
            self.worker = Worker(
                self.store,
                self.broker,
                self.registry,
                WorkerSettings(worker_id=w.id or "", **w.model_dump(exclude={"id", "enabled"})),
            )
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

    # -- job definitions ------------------------------------------------------------------

    def config_jobs(self) -> list[JobSpec]:
        """Jobs declared in the config (``jobs:`` and ``job_files:``), validated.

        :raises ValidationError: naming the file, job and field.
        """
        where = f"{self.settings.source}: " if self.settings.source else ""
        specs = [
            parse_job(item, where=f"{where}jobs[{i}]: ")
            for i, item in enumerate(self.settings.jobs)
        ]
        for name in self.settings.job_files:
            specs.extend(load_job_file(self.settings.base_dir() / name))
        return specs

    async def _ancestors(self, specs: Sequence[JobSpec]) -> dict[str, list[str]]:
        """The stored jobs ``specs`` depend on, directly or not, with their parents: all a
        dependency check needs (a new cycle runs through ancestors only), read in one query
        per generation instead of reading every job."""
        own = {s.name for s in specs}
        graph: dict[str, list[str]] = {}
        wanted = {d.job for s in specs for d in s.depends_on} - own
        while wanted:
            found = await self.store.get_jobs(sorted(wanted))
            for name, job in found.items():
                graph[name] = [d.job for d in job.spec.depends_on]
            wanted = {p for name in found for p in graph[name]} - own - graph.keys()
        return graph

    async def apply(
        self,
        specs: Sequence[JobSpec | dict[str, Any]],
        *,
        where: str = "",
        create_only: bool = False,
    ) -> list[tuple[str, Action]]:
        """Create or update jobs so they match ``specs``. All are checked before any is stored.

        A job's stored pause state is kept unless the definition sets ``paused`` itself, so
        re-applying a config does not resume a job an operator paused. ``where`` (a file
        name) prefixes error messages. With ``create_only`` an existing name is refused.

        :raises ValidationError: a definition is invalid (nothing is stored).
        :raises Conflict: ``create_only`` and a name is taken (nothing is stored).
        """
        prefix = f"{where}: " if where else ""
        parsed = [parse_job(s, where=prefix) for s in specs]
        if not parsed:
            return []
        checked = check_jobs(
            parsed, self.registry, existing=await self._ancestors(parsed), where=prefix
        )
        stored = await self.store.get_jobs([s.name for s in checked])
        if create_only and stored:
            name = next(s.name for s in checked if s.name in stored)
            raise Conflict(
                f"{prefix}job {name!r}: name: a job named {name!r} exists already",
                field="name",
            )
        now = await self.store.now()
        results: list[tuple[str, Action]] = []
        for spec in checked:
            action = await self._upsert(spec, stored.get(spec.name), now, create_only)
            results.append((spec.name, action))
        if self.scheduler is not None:
            self.scheduler.wake()
        return results

    async def _upsert(
        self, spec: JobSpec, old: Job | None, now: datetime, create_only: bool
    ) -> Action:
        """Create or update one job. Another process may apply the same definitions at the
        same moment (two schedulers starting on one config): a create or update it won is
        read back and compared, so each ends with the job stored once and neither fails.

        :raises Conflict: ``create_only`` and the name was taken since it was read.
        """
        for _ in range(_UPSERT_TRIES):
            try:
                if old is None:
                    await self.store.create_job(spec, self._first_fire(spec, now))
                    return "created"
                changed = await self._update_stored(old, spec, now, old.version)
                return "updated" if changed else "unchanged"
            except Conflict:
                if create_only:
                    raise  # a name taken since the check never turns into an update
                old = (await self.store.get_jobs([spec.name])).get(spec.name)
        raise Conflict(
            f"job {spec.name!r} kept changing while it was applied ({_UPSERT_TRIES} tries); "
            "apply it again",
            field="name",
        )

    async def _update_stored(
        self, old: Job, spec: JobSpec, now: datetime, expected_version: int
    ) -> Job | None:
        """Store ``spec`` over ``old``; None when nothing changed. The stored pause state is
        kept unless the definition sets ``paused``; the next fire is kept unless the
        schedule changed."""
        if "paused" not in spec.model_fields_set:
            spec = spec.model_copy(update={"paused": old.spec.paused})
        if spec == old.spec:
            if old.version != expected_version:
                raise Conflict(
                    f"job {spec.name!r} is at version {old.version}, not {expected_version}",
                    field="version",
                )
            return None
        next_fire = (
            old.next_fire_at if spec.schedule == old.spec.schedule else self._first_fire(spec, now)
        )
        return await self.store.update_job(spec, next_fire, expected_version=expected_version)

    async def replace_job(
        self, data: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """Replace an existing job's definition (checked as on create). With
        ``expected_version`` the update is refused if the job changed since it was read.

        :raises NotFound: no such job.
        :raises ValidationError: the definition is invalid (nothing is stored).
        :raises Conflict: ``expected_version`` is stale.
        """
        spec = parse_job(data)
        old = await self.store.get_job(spec.name)
        check_jobs([spec], self.registry, existing=await self._ancestors([spec]))
        version = old.version if expected_version is None else expected_version
        job = await self._update_stored(old, spec, await self.store.now(), version)
        if self.scheduler is not None:
            self.scheduler.wake()
        return job or old

    async def patch_job(
        self, name: str, patch: dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """Change some keys of a job (JSON Merge Patch: ``null`` resets a key).

        :raises NotFound, ValidationError, Conflict: as :meth:`replace_job`.
        """
        old = await self.store.get_job(name)
        if "name" in patch and patch["name"] != name:
            raise ValidationError(f"job {name!r}: name: a job cannot be renamed", field="name")
        current = old.spec.model_dump(mode="json", exclude_unset=True)
        merged = merge_patch({**current, "name": name}, patch)
        return await self.replace_job(merged, expected_version=expected_version)

    async def list_jobs(
        self,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
        **filters: Any,
    ) -> tuple[Page, dict[str, Run]]:
        """A page of jobs (``filters`` as :class:`JobFilter`) and the last run of each."""
        selected = JobFilter(**filters)
        page = await self.store.list_jobs(
            selected, sort=sort, limit=limit, cursor=cursor, offset=offset
        )
        return page, await self.store.last_runs([j.name for j in page.items])

    @staticmethod
    def _first_fire(spec: JobSpec, now: datetime) -> datetime | None:
        return first_fire(spec.schedule, created_at=now) if spec.schedule else None

    async def delete_job(self, name: str, *, force: bool = False) -> None:
        """Delete a job; refused while others depend on it unless ``force``."""
        await self.store.get_job(name)
        below = await self.store.downstream(name)
        dependants = [j for j, s in below.items() if any(d.job == name for d in s.depends_on)]
        if dependants and not force:
            raise Conflict(
                f"job {name!r} cannot be deleted: {', '.join(sorted(dependants))} depend on it "
                "(use force to delete anyway)",
                field="name",
            )
        await self.store.delete_job(name)

    async def set_paused(self, name: str, paused: bool) -> Job:
        job = await self.store.set_paused(name, paused)
        if self.scheduler is not None:
            self.scheduler.wake()
        return job

    async def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        """The next ``n`` fire times of a job, without running it."""
        job = await self.store.get_job(name)
        if job.spec.schedule is None or job.next_fire_at is None:
            return []
        first = job.next_fire_at
        rest = next_fire_times(job.spec.schedule, n - 1, after=first, anchor=first)
        return [first, *rest][:n]

    # -- runs -----------------------------------------------------------------------------

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
        """Create ``count`` manual runs of a job now (or at ``run_at``); True when created,
        False when ``idempotency_key`` found an existing run.

        A run of a job that depends on none starts a flow (its dependants wait for it); a
        job that depends on others runs alone unless ``with_descendants`` (which may also be
        False to run a root job alone). The queued runs are published to the broker at once,
        unless ``publish`` is False (the caller takes them itself)."""
        job = await self.store.get_job(name)
        flow = not job.spec.depends_on if with_descendants is None else with_descendants
        if count < 1 or count > 10000:
            raise ValidationError("count must be between 1 and 10000", field="count")
        if priority is not None and not 0 <= priority <= 9:
            raise ValidationError("priority must be between 0 and 9", field="priority")
        merged = job.spec.params
        if params:
            check_overrides(params, job.spec.overridable, job=name)
            merged = deep_merge(job.spec.params, params)
            merged = self.registry.get(job.spec.type).validate(merged)
        now = await self.store.now()
        later = run_at is not None and run_at > now
        policy = RunPolicy.of(job.spec)
        ids = [new_id() for _ in range(count)]
        runs = [
            NewRun(
                id=run_id,
                job=name,
                state=RunState.SCHEDULED if later else RunState.QUEUED,
                trigger="manual",
                params=merged,
                priority=job.spec.priority if priority is None else priority,
                pool=job.spec.pool,
                policy=policy,
                not_before=run_at if later else None,
                idempotency_key=idempotency_key if count == 1 else None,
                reason="triggered by hand",
                flow_id=run_id if flow else None,
            )
            for run_id in ids
        ]
        created = await self.store.create_runs(runs, actor=actor)
        if publish:
            await self._announce([r for r, new in created if new])
        return created

    @property
    def _publishes(self) -> bool:
        """Whether runs published here reach a worker: a shared broker does; a local://
        broker only reaches a worker in this process (``tss server``)."""
        return self._started and (self.scheduler is not None or self.broker.name != "local")

    async def _announce(self, runs: Sequence[Run]) -> None:
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
            async with asyncio.timeout(_PUBLISH_WITHIN):
                await announce(self.store, self.broker, queued)
        except (BrokerError, StoreError, TimeoutError) as exc:
            log.warning(
                "could not publish %d queued runs (a scheduler's reconciler will): %s",
                len(queued),
                str(exc) or f"no answer within {_PUBLISH_WITHIN:g}s",
            )

    async def cancel_run(self, run_id: str, *, actor: str = "user") -> Run:
        run = await self.store.get_run(run_id)
        if run.state.terminal:
            raise Conflict(f"run {run_id} already ended ({run.state.value})", field="state")
        await self.store.cancel_runs([run_id], actor=actor, reason=f"cancelled by {actor}")
        return await self.store.get_run(run_id)

    async def retry_run(self, run_id: str, *, actor: str = "user") -> Run:
        """Run an ended run again as a new run (``retry_of`` links them). In a flow, the new
        run takes the old one's place, and the jobs downstream of it that were skipped wait
        again, so the flow decides them once the new run ends."""
        old = await self.store.get_run(run_id)
        if not old.state.terminal:
            raise Conflict(
                f"run {run_id} is still {old.state.value}; only ended runs can be retried",
                field="state",
            )
        again: list[NewRun] = []
        if old.flow_id is not None:
            members = await self.flow_runs(old.flow_id)
            current = flows.current_runs(flows.FlowRun.of(r) for r in members)
            if current.get(old.job) is None or current[old.job].id != old.id:
                raise Conflict(
                    f"run {run_id} was re-run already in its flow; re-run the newest one",
                    field="run_id",
                )
            by_id = {r.id: r for r in members}
            for skipped in flows.rearm(list(current.values()), current[old.job]):
                prior = by_id[skipped.id]
                again.append(
                    NewRun(
                        id=new_id(),
                        job=prior.job,
                        state=RunState.WAITING,
                        trigger="flow",
                        params=prior.params,
                        priority=prior.priority,
                        pool=prior.pool,
                        policy=prior.policy,
                        reason=f"waits again: run {old.id} is re-run",
                        retry_of=prior.id,
                        flow_id=old.flow_id,
                    )
                )
        new = NewRun(
            id=new_id(),
            job=old.job,
            state=RunState.QUEUED,
            trigger="retry",
            params=old.params,
            priority=old.priority,
            pool=old.pool,
            policy=old.policy,
            reason=f"retry of run {old.id}",
            retry_of=old.id,
            flow_id=old.flow_id,
        )
        (run, _), *_ = await self.store.create_runs([new, *again], actor=actor)
        await self._announce([run])
        return run

    # -- flows ----------------------------------------------------------------------------

    async def flow_runs(self, flow_id: str) -> list[Run]:
        """Every run of a flow, oldest first (the flow's id is the id of the run that
        started it).

        :raises NotFound: no such flow.
        """
        runs: list[Run] = await collect(
            lambda size, cursor: self.store.list_runs(
                RunFilter(flow_id=flow_id), limit=size, cursor=cursor
            ),
            page_size=1000,
        )
        if not runs:
            raise NotFound(f"no flow with id {flow_id!r}", field="flow_id")
        return flows.in_flow_order(runs, flow_id)

    async def cancel_flow(self, flow_id: str, *, actor: str = "user") -> list[Run]:
        """Cancel every run of a flow that has not ended (waiting, queued, running...) in
        one step; returns the runs cancelled.

        :raises NotFound: no such flow.
        """
        runs = await self.flow_runs(flow_id)
        live = [r.id for r in runs if not r.state.terminal]
        return await self.store.cancel_runs(
            live, actor=actor, reason=f"flow {flow_id} cancelled by {actor}"
        )

    async def flow_graph(self, name: str) -> FlowGraph:
        """The flow a run of ``name`` starts: ``name`` and every job downstream of it, with
        the edges between them (parent, child, condition).

        :raises NotFound: no such job.
        """
        job = await self.store.get_job(name)
        return FlowGraph.of(name, {name: job.spec, **await self.store.downstream(name)})

    async def wait(
        self, run_ids: Sequence[str], *, timeout: float | None = None, poll: float = 0.2
    ) -> list[Run]:
        """Wait until every run is terminal (or ``timeout``); return them as they are."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            runs = [await self.store.get_run(i) for i in run_ids]
            if all(r.state.terminal for r in runs):
                return runs
            if deadline is not None and loop.time() >= deadline:
                return runs
            await asyncio.sleep(poll)

    async def execute_now(self, name: str, *, params: dict[str, Any] | None = None) -> Run:
        """Run a job here and now, outside its schedule, retries included; return the run."""
        install_routing()
        # Not published: a worker elsewhere would race this process for the run.
        ((run, _),) = await self.trigger(name, params=params, publish=False)
        worker_id = f"execute-{os.getpid()}"
        rng = random.Random()
        while True:
            claimed = await self.store.claim_runs([run.id], worker_id=worker_id, lease=3600)
            if claimed:
                current = claimed[0]
                outcome = await run_attempt(
                    current,
                    self.registry.get(current.policy.type),
                    worker_id=worker_id,
                    log_limit=self.settings.worker.log_limit,
                    result_limit=self.settings.worker.result_limit,
                    rng=rng,
                )
                await self.store.finish_runs([outcome], actor=f"worker:{worker_id}")
            current = await self.store.get_run(run.id)
            if current.state.terminal:
                return current
            if current.state is RunState.RETRYING and current.not_before is not None:
                delay = (current.not_before - await self.store.now()).total_seconds()
                await asyncio.sleep(max(delay, 0) + 0.01)
                await self.store.promote_due_runs(limit=1000, actor=f"worker:{worker_id}")
            else:
                await asyncio.sleep(0.1)

    async def get_run(self, run_id: str) -> Run:
        return await self.store.get_run(run_id)

    # -- workers and stats ----------------------------------------------------------------

    async def report_worker(self, info: WorkerInfo) -> WorkerInfo:
        """Record a worker's own report of its status (the seed's ``POST /v1/queue``)."""
        await self.store.register_worker(info)
        if info.state != "up":
            await self.store.set_worker_state(info.id, info.state)
        return next(w for w in await self.store.list_workers() if w.id == info.id)

    async def stats(
        self, *, window: int = 3600, bucket: int = 60
    ) -> tuple[dict[RunState, int], list[tuple[datetime, RunState, int]]]:
        """Runs in each state now, and runs ended per ``bucket`` seconds over ``window``."""
        counts = await self.store.count_runs()
        since = await self.store.now() - timedelta(seconds=window)
        return counts, await self.store.throughput(since=since, bucket=bucket)

    # -- API tokens -----------------------------------------------------------------------

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None = None
    ) -> tuple[Token, str]:
        """Make a token; the returned text is the only copy of its secret."""
        record, text = new_token(name, role, now=await self.store.now(), expires_at=expires_at)
        await self.store.create_token(record)
        return record, text

    async def authenticate(self, raw: str) -> Principal | None:
        """Who a presented token stands for, or None when it is not valid now."""
        return await authenticate(self.store, raw, admin_token=self.settings.api.admin_token)


__all__ = ["TSSApp", "open_broker", "open_store"]
