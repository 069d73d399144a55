"""Workers outside the server, over the API: they register, claim runs (waiting for them
if asked), heartbeat and report outcomes, and get exactly what a worker inside the server
gets: the same claims (routed by pool, task type and labels), leases, fencing, retries and
flows. The store does the work; this service only turns the wire's words into its calls.

A claim reads the store whatever the broker is (the store is the truth; the broker's
message for a run claimed here is dropped by the worker that receives it, at its claim).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from tss import outbox
from tss.broker.store import StoreBroker
from tss.core.filters import RunFilter
from tss.core.models import ErrorInfo, Outcome, Run, WorkerInfo
from tss.core.retry import failure_outcome
from tss.core.states import RunState
from tss.core.waiting import EXTERNAL_PREFIX
from tss.core.workers import Room
from tss.errors import NotFound, TSSError, ValidationError
from tss.service.base import NodeService
from tss.tasks.output import keep_ends
from tss.worker.attempt import encode_result

if TYPE_CHECKING:
    from tss.service.node import TSSApp

log = logging.getLogger(__name__)
#: the longest a waiting claim goes without asking whether its worker is still there
_STEP = 1.0
#: says whether the worker that asked has gone (its connection closed)
Gone = Callable[[], Awaitable[bool]]


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    """One attempt's end as a worker reports it (the wire's ``OutcomeIn``)."""

    run_id: str
    attempt: int
    status: str  # succeeded, failed, timed_out, handed_back
    result: Any = None
    error: ErrorInfo | None = None
    stdout: str = ""
    stderr: str = ""
    retry_after: float | None = None
    final: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Held:
    """A run a worker holds, with its output so far (None: unchanged)."""

    run_id: str
    attempt: int
    stdout: str | None = None
    stderr: str | None = None


class RemoteWorkers(NodeService):
    """The worker protocol's side in the server (``/api/v1/workers``)."""

    def __init__(self, node: TSSApp) -> None:
        super().__init__(node)
        #: workers registered through this process (others are read from the store)
        self._known: dict[str, WorkerInfo] = {}
        #: claims wait on the store's notices through a broker per kind of worker (pools,
        #: task types, labels): a waiter reads with its own filters, so one that cannot
        #: take a run must not consume the notice another could act on
        self._brokers: dict[tuple[tuple[str, ...], ...], StoreBroker] = {}
        self._rng = random.Random()

    @property
    def lease(self) -> float:
        return self._node.settings.worker.lease

    @property
    def heartbeat_interval(self) -> float:
        return self._node.settings.worker.heartbeat_interval

    def _claims(self, info: WorkerInfo) -> StoreBroker:
        kind = (tuple(sorted(info.pools)), tuple(sorted(info.task_types)), tuple(info.labels))
        broker = self._brokers.get(kind)
        if broker is None:
            broker = self._brokers[kind] = StoreBroker(self._store)
        return broker

    async def register(self, info: WorkerInfo) -> WorkerInfo:
        """Record a worker (again, after a restart: its state goes back to ``up``)."""
        if info.id.startswith(EXTERNAL_PREFIX):  # names cannot hold ':'; a guard all the same
            raise ValidationError("a worker id cannot start with 'ext:'", field="id")
        await self._store.register_worker(info)
        self._known[info.id] = info
        return info

    async def worker(self, worker_id: str) -> WorkerInfo:
        """The registered worker ``worker_id``.

        :raises NotFound: no such worker (it must register first).
        """
        info = self._known.get(worker_id)
        if info is None:
            found = {w.id: w for w in await self._store.list_workers()}
            info = found.get(worker_id)
            if info is None or worker_id.startswith(EXTERNAL_PREFIX):
                raise NotFound(
                    f"worker {worker_id!r} is not registered: register it first "
                    "(POST /api/v1/workers)",
                    field="worker_id",
                )
            self._known[worker_id] = info
        return info

    async def claim(
        self,
        worker_id: str,
        *,
        limit: int,
        wait: float,
        reports: Sequence[Report] = (),
        cores: float | None = None,
        memory: int | None = None,
        gone: Gone | None = None,
    ) -> tuple[list[bool], list[Run]]:
        """Record ``reports`` and claim up to ``limit`` runs in one step of the store; with
        none to take, wait up to ``wait`` seconds for some (``gone()`` says whether the
        worker has gone meanwhile: its connection closed). Returns whether each report was
        accepted, and the claimed runs."""
        info = await self.worker(worker_id)
        room = Room(
            info.cores if cores is None else min(cores, info.cores),
            info.memory if memory is None else min(memory, info.memory),
        )
        actor = f"worker:{worker_id}"
        accepted: list[bool] = []
        runs: list[Run] = []
        if reports:
            outcomes, known = await self._outcomes(worker_id, reports)
            recorded, runs = await self._store.finish_and_claim(
                outcomes, actor=actor, pools=info.pools, limit=limit, worker_id=worker_id,
                lease=self.lease, room=room, types=info.task_types, labels=info.labels,
            )  # fmt: skip
            accepted = self._merge(known, recorded)
            await self._announce_flows()
        if not runs and limit > 0 and (wait > 0 or not reports):
            runs = await self._wait_claim(info, limit, wait, room, gone)
        return accepted, runs

    async def _wait_claim(
        self, info: WorkerInfo, limit: int, wait: float, room: Room, gone: Gone | None
    ) -> list[Run]:
        """Claim for ``info``, waiting up to ``wait`` seconds for runs, in steps of at most
        :data:`_STEP` between which ``gone()`` is asked: a worker whose connection closed
        gets nothing, and runs claimed for it as it went are handed back at once (else they
        would wait for their lease to end)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        broker = self._claims(info)
        while True:
            step = min(_STEP, max(deadline - loop.time(), 0.0))
            runs = await broker.claim(
                info.pools, limit, step, worker_id=info.id, lease=self.lease, room=room,
                types=info.task_types, labels=info.labels,
            )  # fmt: skip
            if runs:
                if gone is not None and await gone():
                    await self._hand_back(info.id, runs)
                    return []
                return runs
            if loop.time() >= deadline or (gone is not None and await gone()):
                return []

    async def _hand_back(self, worker_id: str, runs: Sequence[Run]) -> None:
        reason = f"worker {worker_id} went before the runs claimed for it reached it"
        log.info("%s: handing back %d runs", reason, len(runs))
        back = [
            Outcome(r.id, r.attempt, RunState.QUEUED, reason, attempt_state=RunState.CANCELLED)
            for r in runs
        ]
        await self._store.finish_runs(back, actor=f"worker:{worker_id}")

    async def report(self, worker_id: str, reports: Sequence[Report]) -> list[bool]:
        """Record what became of attempts; whether each was accepted (fencing)."""
        await self.worker(worker_id)
        outcomes, known = await self._outcomes(worker_id, reports)
        recorded = await self._store.finish_runs(outcomes, actor=f"worker:{worker_id}")
        await self._announce_flows()
        return self._merge(known, recorded)

    async def heartbeat(self, worker_id: str, held: Sequence[Held]) -> list[str]:
        """Keep the worker alive and its runs leased, save their output so far; the runs
        it must stop (cancelled, reaped, or no longer its attempt)."""
        await self.worker(worker_id)
        lost = await self._store.heartbeat(
            worker_id, [(h.run_id, h.attempt) for h in held], lease=self.lease
        )
        await self._revive(worker_id)
        limit = self._node.settings.worker.log_limit
        gone = set(lost)
        output = []
        for h in held:
            if h.run_id in gone or (h.stdout is None and h.stderr is None):
                continue
            stdout, stderr = h.stdout, h.stderr
            if stdout is None or stderr is None:  # one stream left out: it is unchanged
                saved = await self._store.get_logs(h.run_id, h.attempt)
                stdout, stderr = stdout or saved[0], stderr or saved[1]
            output.append((h.run_id, h.attempt, keep_ends(stdout, limit), keep_ends(stderr, limit)))
        if output:
            await self._store.save_logs(output)
        return lost

    async def _revive(self, worker_id: str) -> None:
        """A worker the scheduler marked dead (or that said it was down) heartbeats: it is
        back, and is listed up again, so runs wait for it (``waiting_because``)."""
        stored = await self._stored(worker_id)
        if stored is not None and stored.state in ("dead", "down"):
            log.info("worker %s (%s) heartbeats again: up", worker_id, stored.state)
            await self._store.set_worker_state(worker_id, "up")

    async def _stored(self, worker_id: str) -> WorkerInfo | None:
        return next((w for w in await self._store.list_workers() if w.id == worker_id), None)

    async def set_state(self, worker_id: str, state: str) -> WorkerInfo:
        """``draining`` (takes no more runs), ``down`` (stopped), or ``up`` again."""
        info = await self.worker(worker_id)
        await self._store.set_worker_state(worker_id, state)
        if state == "down":
            self._known.pop(worker_id, None)
        return await self._stored(worker_id) or info

    # -- TME's reports: PUT|PATCH /task/<id>/ with a status --------------------------------

    async def report_task(
        self, task_id: str, status: str, *, reporter: str, log: str | None = None,
        result: Any = None, message: str | None = None,
    ) -> Run:  # fmt: skip
        """An executor outside TSS says what it did with a job's run (TME's ``status``):
        ``started`` takes the job's oldest queued run (or the run ``task_id`` names) for
        ``reporter``, or keeps one it holds leased (a heartbeat); ``complete`` and ``fail``
        end the run it holds, ``fail`` by the job's retry policy. ``log`` is the output so
        far. Returns the run as it is now.

        :raises NotFound: no such job or run, or nothing queued or held to report on.
        """
        actor = f"worker:{reporter}"
        run = await self._task_run(task_id, reporter, queued=status == "started")
        if status == "started":
            if run.state is RunState.QUEUED:
                # Such an executor does not heartbeat: lease for the run's timeout (or an
                # hour), and each "started" again renews it.
                claimed = await self._store.claim_runs(
                    [run.id], worker_id=reporter, lease=self._task_lease(run)
                )
                if not claimed:
                    raise NotFound(f"run {run.id} was taken meanwhile", field="task_id")
                run = claimed[0]
            else:
                await self._store.heartbeat(
                    reporter, [(run.id, run.attempt)], lease=self._task_lease(run)
                )
            if log is not None:
                await self._store.save_logs([(run.id, run.attempt, log, "")])
            return await self._store.get_run(run.id)
        report = Report(
            run.id, run.attempt, "succeeded" if status == "complete" else "failed", result,
            None if status == "complete" else ErrorInfo("TaskFailed", message or "reported failed"),
            log or "",
        )  # fmt: skip
        outcomes, _ = await self._outcomes(reporter, [report])
        await self._store.finish_runs(outcomes, actor=actor)
        await self._announce_flows()
        return await self._store.get_run(run.id)

    def _task_lease(self, run: Run) -> float:
        timeout = run.policy.timeout or self._node.settings.worker.default_timeout
        return max(self.lease, timeout or 3600.0)

    async def _task_run(self, task_id: str, reporter: str, *, queued: bool) -> Run:
        """The run a report is about: the run ``task_id`` names, else the job's oldest
        queued run (``queued``) or the newest run ``reporter`` holds."""
        try:
            return await self._store.get_run(task_id)
        except NotFound:
            pass
        job = (await self._store.get_job(task_id)).name  # NotFound names the job
        if queued:
            page = await self._store.list_runs(
                RunFilter(job=job, states=(RunState.QUEUED,)), limit=500
            )
            queued_runs: list[Run] = page.items
            if queued_runs:
                return queued_runs[-1]  # newest first: the last is the oldest
        page = await self._store.list_runs(
            RunFilter(job=job, states=(RunState.RUNNING,)), limit=500
        )
        running: list[Run] = page.items
        held = [r for r in running if r.worker_id == reporter]
        if held:
            return held[0]
        what = "queued or held by" if queued else "held by"
        raise NotFound(f"job {job!r} has no run {what} {reporter!r} to report on", field="task_id")

    # -- outcomes -------------------------------------------------------------------------

    async def _outcomes(
        self, worker_id: str, reports: Sequence[Report]
    ) -> tuple[list[Outcome], list[bool]]:
        """The outcomes to record, and per report whether it made one (a failure of a run
        that is gone or on another attempt is refused here, as fencing would)."""
        settings = self._node.settings.worker
        outcomes: list[Outcome] = []
        known: list[bool] = []
        for report in reports:
            outcome = await self._outcome(
                worker_id, report, settings.log_limit, settings.result_limit
            )
            known.append(outcome is not None)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes, known

    async def _outcome(
        self, worker_id: str, r: Report, log_limit: int, result_limit: int
    ) -> Outcome | None:
        stdout, stderr = keep_ends(r.stdout, log_limit), keep_ends(r.stderr, log_limit)
        if r.status == "succeeded":
            try:
                result = encode_result(r.result, result_limit)
            except (TypeError, ValueError) as exc:  # cannot happen with JSON; say so if it does
                raise ValidationError(f"the result is not JSON: {exc}", field="result") from exc
            return Outcome(r.run_id, r.attempt, RunState.SUCCEEDED, reason="succeeded",
                           result=result, stdout=stdout, stderr=stderr)  # fmt: skip
        if r.status == "handed_back":
            return Outcome(
                r.run_id, r.attempt, RunState.QUEUED,
                reason=f"handed back by worker {worker_id} shutting down",
                attempt_state=RunState.CANCELLED, stdout=stdout, stderr=stderr,
            )  # fmt: skip
        # A failure: what follows is the job's retry policy, decided here with the run.
        try:
            run = await self._store.get_run(r.run_id)
        except NotFound:
            return None
        if run.attempt != r.attempt or run.state is not RunState.RUNNING:
            return None
        error = r.error or ErrorInfo("Error", "the worker reported a failure without an error")
        return failure_outcome(
            run, error, timed_out=r.status == "timed_out", rng=self._rng,
            stdout=stdout, stderr=stderr, final=r.final, retry_after=r.retry_after,
        )  # fmt: skip

    @staticmethod
    def _merge(known: list[bool], recorded: list[bool]) -> list[bool]:
        answers = iter(recorded)
        return [next(answers) if made else False for made in known]

    async def _announce_flows(self) -> None:
        """Runs of flows whose parents just ended may be queued now: with a broker that is
        not the store, publish them at once (else the reconciler would, later)."""
        node = self._node
        if node.broker.reads_store or not node.started:
            return
        try:
            await outbox.publish_flow_runs(
                self._store, node.broker, limit=node.settings.worker.batch_size
            )
        except TSSError as exc:
            log.warning("could not publish the flow runs queued by a report: %s", exc)
