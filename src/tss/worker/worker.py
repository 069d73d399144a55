"""The worker loop: fetch, claim, execute, report, heartbeat, drain on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

from tss import outbox
from tss._aio import wait_first
from tss._version import __version__
from tss.broker.base import Broker, Delivery, RunMessage
from tss.config import WorkerConfig
from tss.core.models import ErrorInfo, Outcome, Run, WorkerInfo
from tss.core.states import RunState
from tss.core.workers import Room
from tss.errors import TSSError, log_failure
from tss.metrics import Metrics
from tss.store.base import Store
from tss.tasks.output import LogBuffer
from tss.tasks.registry import TaskRegistry
from tss.worker.attempt import run_attempt
from tss.worker.capture import install_routing
from tss.worker.early import EarlyDeliveries

log = logging.getLogger(__name__)
#: the most outcomes recorded in one step
_BATCH = 500
#: seconds the finisher leaves an outcome to the fetch loop's next claim (store brokers)
_HANDOFF = 0.05
#: seconds a stopping worker waits for its cancelled runs, then for its last outcomes
_LAST_OUTCOMES = 5.0


def _total_memory_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1 << 20))
    except (ValueError, OSError, AttributeError):
        return 0


@dataclass(slots=True)
class _Held:
    run: Run
    delivery: Delivery
    stdout: LogBuffer
    stderr: LogBuffer
    task: asyncio.Task[None] | None = None
    lost: bool = False
    #: the buffers' versions when their text was last saved to the store
    saved: tuple[int, int] = (0, 0)

    def unsaved_output(self) -> tuple[str, int, str, str] | None:
        """The output so far, if it changed since it was last saved."""
        versions = (self.stdout.version, self.stderr.version)
        if versions == self.saved:
            return None
        self.saved = versions
        return self.run.id, self.run.attempt, self.stdout.getvalue(), self.stderr.getvalue()


class Worker:
    """Takes runs from its pools up to its concurrency and resources, and reports outcomes,
    as its ``worker:`` config section says (:class:`WorkerConfig`)."""

    def __init__(
        self, store: Store, broker: Broker, registry: TaskRegistry, settings: WorkerConfig
    ) -> None:
        self.store = store
        self.broker = broker
        self.registry = registry
        self.settings = settings
        self.id = settings.id or f"{socket.gethostname()}-{os.getpid()}"
        self.cores = settings.cores if settings.cores is not None else float(os.cpu_count() or 1)
        self.memory = settings.memory if settings.memory is not None else _total_memory_mb()
        #: a run goes to this worker only if it requires no label beyond these
        self._labels = frozenset(settings.labels)
        self._held: dict[str, _Held] = {}
        self._outcomes: asyncio.Queue[tuple[Outcome, Delivery]] = asyncio.Queue()
        #: whether the fetch loop is recording outcomes with a claim (store brokers), and
        #: the event set when that step is over
        self._in_step = False
        self._step_over = asyncio.Event()
        #: whether the fetch loop waits for a slot to free up (then claims at once)
        self._awaiting_room = False
        self._room = asyncio.Event()
        self._parked: list[Delivery] = []
        #: deliveries of runs announced ahead of their time, held until then
        self._early = EarlyDeliveries()
        self._warned: set[str] = set()
        #: ended runs of flows whose outcomes are not recorded yet
        self._in_flow: set[str] = set()
        self._rng = random.Random()
        self._used_cores = 0.0
        self._used_memory = 0
        self.completed = 0
        #: called after outcomes are recorded with the runs that went back to waiting
        #: (retrying or handed back), so a scheduler in this process can tick at once
        self.on_requeue: Callable[[], None] | None = None
        self.metrics: Metrics | None = None

    def info(self) -> WorkerInfo:
        return WorkerInfo(
            id=self.id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            pools=list(self.settings.pools),
            task_types=self.registry.names(),
            concurrency=self.settings.concurrency,
            cores=self.cores,
            memory=self.memory,
            version=__version__,
            labels=list(self.settings.labels),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then drain within the grace period and hand back the rest."""
        install_routing()
        await self.store.register_worker(self.info())
        log.info("worker %s serving pools %s", self.id, ",".join(self.settings.pools))
        finisher = asyncio.create_task(self._finish_loop(), name="tss-finisher")
        beater = asyncio.create_task(self._heartbeat_loop(stop), name="tss-heartbeat")
        try:
            await self._fetch_loop(stop)
        finally:
            with contextlib.suppress(Exception):
                await self.store.set_worker_state(self.id, "draining")
            await self._drain()
            try:
                async with asyncio.timeout(_LAST_OUTCOMES):
                    await self._outcomes.join()
            except TimeoutError:
                # The store does not take them (down, or refusing): stop anyway. Their runs'
                # leases run out and the reaper hands them back, without spending a try.
                log.warning(
                    "worker %s: %d outcomes not recorded within %.0fs of stopping; the "
                    "reaper repairs their runs when their leases run out",
                    self.id, self._outcomes.qsize(), _LAST_OUTCOMES,
                )  # fmt: skip
            finisher.cancel()
            beater.cancel()
            await asyncio.gather(finisher, beater, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.store.set_worker_state(self.id, "down")
            log.info("worker %s stopped", self.id)

    # -- fetching and claiming ------------------------------------------------------------

    def _free_slots(self) -> int:
        return self.settings.concurrency - len(self._held)

    def _free_room(self) -> Room:
        """The cores and memory not held by runs in progress."""
        return Room(self.cores - self._used_cores, self.memory - self._used_memory)

    async def _fetch_loop(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                if self._parked:
                    await self._claim(self._unpark())
                if self._early.any_due():
                    await self._claim(self._early.due())
                # Parked and early runs hold their slots: they start as soon as resources
                # free up, or at their time.
                held = len(self._parked) + len(self._early)
                free = min(self._free_slots() - held, self.settings.batch_size)
                if free <= 0:
                    await self._wait_room(stop)
                    continue
                if self.broker.reads_store:
                    # The store broker claims in one step (disjoint between workers); with
                    # outcomes waiting, they are recorded in that same step.
                    ended = self._take_outcomes()
                    if ended:
                        runs = await self._finish_and_claim(ended, free)
                    else:
                        runs = await self.broker.claim(
                            self.settings.pools, free, 0.5,
                            worker_id=self.id, lease=self.settings.lease, room=self._free_room(),
                            types=self._types(), labels=self._labels,
                        )  # fmt: skip
                    self._start(runs, {r.id: Delivery(RunMessage.of(r)) for r in runs})
                else:
                    wait = min(0.5, self._early.until_next())
                    deliveries = self._early.hold(
                        await self.broker.get(self.settings.pools, free, timeout=wait)
                    )
                    if deliveries:
                        await self._claim(deliveries)
                backoff = 0.5
            except Exception as exc:  # an outage or a bug: unstarted claims are reaped
                log_failure(log, exc, f"worker {self.id}", f"; retrying in {backoff:.1f}s")
                await wait_first(stop, timeout=backoff)
                backoff = min(backoff * 2, 30.0)
        if self._parked or self._early:
            with contextlib.suppress(TSSError):
                await self.broker.nack(self._unpark() + self._early.due(everything=True))

    def _unpark(self) -> list[Delivery]:
        parked, self._parked = self._parked, []
        return parked

    async def _wait_room(self, stop: asyncio.Event) -> None:
        self._room.clear()
        self._awaiting_room = True
        try:
            await wait_first(self._room, stop, timeout=self._early.until_next())
        finally:
            self._awaiting_room = False

    async def _claim(self, deliveries: list[Delivery]) -> None:
        """Claim the runs that fit the free resources now; park the others (they keep their
        place here and are tried again when a run ends), so a large run never blocks a
        small one behind it. Runs this worker can never run (another task type, a label it
        lacks, larger than the whole worker) are declined: returned to the broker for
        another worker, neither claimed nor failed, and logged once per run."""
        whole = Room(self.cores, self.memory)  # what this worker has when it is idle
        types = self._types()
        declined: list[Delivery] = []
        candidates: list[Delivery] = []
        for delivery in deliveries:
            message = delivery.message
            why = self._cannot_run(message, types)
            if why is None and not whole.fit([("", message.cores, message.memory)]):
                why = (
                    f"needs {message.cores} cores and {message.memory} MB; worker {self.id} "
                    f"has {self.cores} and {self.memory}: leaving it to a larger worker"
                )
            if why is None:
                candidates.append(delivery)
            else:
                declined.append(delivery)
                if message.run_id not in self._warned:  # once per run: it may come back
                    self._warned.add(message.run_id)
                    log.warning("run %s of job %s %s", message.run_id, message.job, why)
        chosen = set(
            self._free_room().fit(
                (str(i), d.message.cores, d.message.memory) for i, d in enumerate(candidates)
            )
        )
        fitting = [d for i, d in enumerate(candidates) if str(i) in chosen]
        self._parked += [d for i, d in enumerate(candidates) if str(i) not in chosen]
        if declined:
            # Not taken, not failed: back to the queue for a worker that can run it.
            await self.broker.nack(declined)
            # It may come straight back: do not spin on it. A random pause: two workers
            # declining each other's runs at a fixed pace can lock in step with a broker
            # that deals its queue round-robin, each always dealt the other's run (seen on
            # RabbitMQ: a run declined for a minute while its worker waited).
            await asyncio.sleep(self._rng.uniform(0.25, 0.75))
        if not fitting:
            return
        by_id = {d.message.run_id: d for d in fitting}
        claimed = await self.store.claim_runs(
            list(by_id), worker_id=self.id, lease=self.settings.lease
        )
        self._start(claimed, by_id)
        if by_id:
            # Duplicate or stale deliveries: someone else has these runs (or they ended).
            await self.broker.ack(list(by_id.values()))

    def _types(self) -> frozenset[str]:
        """The task types this worker runs (read each time: a registry may gain some)."""
        return frozenset(self.registry.names())

    def _cannot_run(self, message: RunMessage, types: frozenset[str]) -> str | None:
        """Why this worker cannot run the announced run, by its task type and required
        labels; None when it can (or the message, from an older version, does not say)."""
        if message.task_type is not None and message.task_type not in types:
            return (
                f"has task type {message.task_type!r}, which worker {self.id} does not run: "
                "leaving it to a worker that does"
            )
        missing = [label for label in message.requires if label not in self._labels]
        if missing:
            return (
                f"requires labels {missing} that worker {self.id} lacks: leaving it to a "
                "worker that has them"
            )
        return None

    def _start(self, claimed: list[Run], by_id: dict[str, Delivery]) -> None:
        """Execute the claimed runs; their deliveries leave ``by_id``."""
        if self.metrics is not None:
            self.metrics.claimed(claimed)
        for run in claimed:
            delivery = by_id.pop(run.id)
            limit = self.settings.log_limit
            held = _Held(run, delivery, LogBuffer(limit), LogBuffer(limit))
            self._held[run.id] = held
            self._used_cores += run.policy.cores
            self._used_memory += run.policy.memory
            held.task = asyncio.create_task(self._execute(held), name=f"tss-run-{run.id}")

    # -- executing ------------------------------------------------------------------------

    async def _execute(self, held: _Held) -> None:
        run = held.run
        install_routing()  # again: something (a library, a test runner) may have swapped them
        began = time.monotonic()
        try:
            task_type = self.registry.get(run.policy.type)
            outcome = await run_attempt(
                run,
                task_type,
                worker_id=self.id,
                log_limit=self.settings.log_limit,
                result_limit=self.settings.result_limit,
                rng=self._rng,
                output=(held.stdout, held.stderr),
                default_timeout=self.settings.default_timeout,
            )
            if self.metrics is not None:
                self.metrics.attempt_ran(run.pool, time.monotonic() - began)
        except asyncio.CancelledError:
            if held.lost:
                return  # cancelled or reaped in the store: nothing to report
            outcome = Outcome(
                run.id,
                run.attempt,
                RunState.QUEUED,
                reason=f"handed back by worker {self.id} shutting down",
                attempt_state=RunState.CANCELLED,
            )
        except TSSError as exc:  # e.g. the task type is not installed on this worker
            outcome = Outcome(
                run.id,
                run.attempt,
                RunState.FAILED,
                reason=str(exc),
                error=ErrorInfo(type(exc).__name__, str(exc)),
            )
        finally:
            self._release(run)
        if run.flow_id is not None:
            self._in_flow.add(run.id)
        await self._outcomes.put((outcome, held.delivery))

    def _release(self, run: Run) -> None:
        if self._held.pop(run.id, None) is not None:
            self._used_cores -= run.policy.cores
            self._used_memory -= run.policy.memory
            self._room.set()

    async def _finish_loop(self) -> None:
        while True:
            first = await self._outcomes.get()
            if self.broker.reads_store and (self._in_step or self._awaiting_room):
                # The fetch loop is claiming, or is about to (a run just freed its slot): give
                # it a moment to take this outcome with its claim (one round trip for both);
                # what it has not taken by then is recorded here.
                self._outcomes.put_nowait(first)
                self._outcomes.task_done()
                if not self._in_step:
                    self._step_over.clear()
                await wait_first(self._step_over, timeout=_HANDOFF)
                batch = self._take_outcomes()
            else:
                batch = [first, *self._take_outcomes(_BATCH - 1)]
            if batch:
                await self._record(batch)
                for _ in batch:
                    self._outcomes.task_done()

    def _take_outcomes(self, limit: int = _BATCH) -> list[tuple[Outcome, Delivery]]:
        """Up to ``limit`` outcomes waiting to be recorded, taken without waiting."""
        taken: list[tuple[Outcome, Delivery]] = []
        while len(taken) < limit and not self._outcomes.empty():
            taken.append(self._outcomes.get_nowait())
        return taken

    async def _finish_and_claim(
        self, batch: list[tuple[Outcome, Delivery]], free: int
    ) -> list[Run]:
        """Record ``batch`` and claim up to ``free`` runs in one step of the store. On a
        failure the outcomes go back to the finisher, which keeps trying; the error is
        raised to the fetch loop."""
        self._in_step = True
        self._step_over.clear()
        try:
            accepted, claimed = await self.store.finish_and_claim(
                [o for o, _ in batch], actor=f"worker:{self.id}",
                pools=self.settings.pools, limit=free, worker_id=self.id,
                lease=self.settings.lease, room=self._free_room(),
                types=self._types(), labels=self._labels,
            )  # fmt: skip
        except BaseException:
            for item in batch:
                self._outcomes.put_nowait(item)
                self._outcomes.task_done()  # counted once, when the finisher records it
            raise
        finally:
            self._in_step = False
            self._step_over.set()
        try:
            await self._recorded(batch, accepted)
        finally:
            for _ in batch:
                self._outcomes.task_done()
        return claimed

    async def _record(self, batch: list[tuple[Outcome, Delivery]]) -> None:
        delay = 0.2
        while True:
            try:
                accepted = await self.store.finish_runs(
                    [o for o, _ in batch], actor=f"worker:{self.id}"
                )
                break
            except Exception as exc:  # an outage or a bug: the outcomes are kept
                # Keep the outcomes and try again: if the lease runs out meanwhile, the reaper
                # decides instead and these will be refused by fencing. Nothing is lost.
                log_failure(log, exc, f"worker {self.id} could not record outcomes")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        await self._recorded(batch, accepted)

    async def _recorded(self, batch: list[tuple[Outcome, Delivery]], accepted: list[bool]) -> None:
        """What follows the store's answer to outcomes: metrics, acks, flows."""
        for (outcome, delivery), ok in zip(batch, accepted, strict=True):
            if ok and self.metrics is not None:
                self.metrics.recorded(delivery.message.job, outcome.target)
            if not ok:
                log.info(
                    "outcome of run %s attempt %s refused (fenced)", outcome.run_id, outcome.attempt
                )
        self.completed += len(batch)
        if self.on_requeue is not None and any(
            ok and o.target in (RunState.RETRYING, RunState.QUEUED)
            for (o, _), ok in zip(batch, accepted, strict=True)
        ):
            self.on_requeue()
        with contextlib.suppress(TSSError):
            await self.broker.ack([d for _, d in batch])
        flowing = [o.run_id for o, _ in batch if o.run_id in self._in_flow]
        if flowing:
            self._in_flow.difference_update(flowing)
            # Their children may have become queued with these outcomes: announce them now.
            with contextlib.suppress(TSSError):  # else the scheduler's reconciler does
                await outbox.publish_flow_runs(
                    self.store, self.broker, limit=self.settings.batch_size
                )

    # -- heartbeats and shutdown ----------------------------------------------------------

    async def _heartbeat_loop(self, stop: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_interval)
            held = [(h.run.id, h.run.attempt) for h in self._held.values()]
            try:
                lost = await self.store.heartbeat(self.id, held, lease=self.settings.lease)
            except Exception as exc:  # an outage or a bug: the next beat tries again
                log_failure(log, exc, f"worker {self.id} heartbeat failed")
                continue
            for run_id in lost:
                if (item := self._held.get(run_id)) is not None and item.task is not None:
                    log.info("run %s was cancelled or reaped; stopping it", run_id)
                    item.lost = True
                    item.task.cancel()
            # What running runs printed since the last beat, readable before they end.
            output = [o for h in list(self._held.values()) if (o := h.unsaved_output())]
            if output:
                try:
                    await self.store.save_logs(output)
                except TSSError as exc:
                    log.warning("worker %s could not save running logs: %s", self.id, exc)

    async def _drain(self) -> None:
        tasks = [h.task for h in self._held.values() if h.task is not None]
        if not tasks:
            return
        log.info(
            "worker %s: waiting up to %.0fs for %d runs",
            self.id,
            self.settings.grace_period,
            len(tasks),
        )
        _, pending = await asyncio.wait(tasks, timeout=self.settings.grace_period)
        for task in pending:
            task.cancel()
        if pending:
            _, stuck = await asyncio.wait(pending, timeout=_LAST_OUTCOMES)
            if stuck:  # a task that does not end when cancelled must not hold the worker
                log.warning(
                    "worker %s: %d runs did not stop within %.0fs of being cancelled: %s",
                    self.id, len(stuck), _LAST_OUTCOMES,
                    ", ".join(sorted(t.get_name() for t in stuck)),
                )  # fmt: skip
