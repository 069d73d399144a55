"""The Python worker over the worker protocol: ``tss worker --url URL --token T``.

The worker loop (:class:`tss.worker.worker.Worker`) is the one ``tss server`` runs; only
what it talks to differs. :class:`ProtocolStore` and :class:`ProtocolBroker` answer the
calls the loop makes of a store and a broker with requests to ``/api/v1/workers/...``, so
the worker's host needs the URL and a ``worker`` token, and no store or broker
credentials. The server decides what a failure means (its copy of the job's retry policy),
fences late reports and moves flows on, as for its own workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson

from tss._aio import wait_first
from tss.api.schemas.workers import (
    MAX_BATCH,
    ClaimOut,
    HeartbeatOut,
    OutcomesOut,
    RunTask,
    WorkerSession,
)
from tss.broker.base import Broker, Delivery, RunMessage
from tss.calls import API, Call
from tss.client import AsyncClient
from tss.core.models import Outcome, Run, RunPolicy, WorkerInfo
from tss.core.retry import TIMEOUT_ERROR
from tss.core.states import RunState
from tss.core.workers import Room
from tss.errors import TSSError, Unavailable
from tss.store.base import Store
from tss.tasks.output import keep_ends
from tss.worker.worker import Worker

if TYPE_CHECKING:
    from tss.config import WorkerConfig
    from tss.tasks.registry import TaskRegistry

log = logging.getLogger(__name__)
T = TypeVar("T")
#: how long an idle claim waits on the server for runs (one request per this, when idle)
IDLE_WAIT = 2.0


def _status(outcome: Outcome) -> str:
    if outcome.target is RunState.SUCCEEDED:
        return "succeeded"
    if outcome.target is RunState.QUEUED:
        return "handed_back"
    timed_out = RunState.TIMED_OUT in (outcome.target, outcome.attempt_state) or (
        outcome.error is not None and outcome.error.type == TIMEOUT_ERROR
    )
    return "timed_out" if timed_out else "failed"


def outcome_wire(outcome: Outcome) -> dict[str, Any]:
    """An outcome as the protocol reports it."""
    wire: dict[str, Any] = {
        "run_id": outcome.run_id,
        "attempt": outcome.attempt,
        "status": _status(outcome),
        "stdout": outcome.stdout,
        "stderr": outcome.stderr,
    }
    if outcome.target is RunState.SUCCEEDED:
        wire["result"] = outcome.result
    if outcome.error is not None:
        e = outcome.error
        wire["error"] = {"type": e.type[:200], "message": e.message, "traceback": e.traceback}
        if e.exit_code is not None:
            wire["exit_code"] = e.exit_code
    if outcome.target is RunState.RETRYING and outcome.retry_delay:
        wire["retry_after"] = min(outcome.retry_delay, 86400.0)
    if outcome.target is RunState.FAILED:
        # This worker decided by the run's own policy that there is no next try (its
        # retries are spent, or the error is final, as an HTTP 404): the server, deciding
        # again with the same policy, must not retry where this worker would not.
        wire["final"] = True
    return wire


def fitted(wires: Sequence[dict[str, Any]], budget: int) -> list[list[dict[str, Any]]]:
    """``wires`` in batches whose JSON each stays within ``budget`` bytes (the server's
    ``api.max_body`` with room to spare): an outcome too large alone has its output cut
    (head and tail kept), never dropped, so a run that printed a lot still ends."""
    batches: list[list[dict[str, Any]]] = [[]]
    used = 0
    for wire in wires:
        size = len(orjson.dumps(wire))
        if size > budget:
            keep = max((budget - (size - len(wire["stdout"]) - len(wire["stderr"]))) // 2, 1024)
            wire = {
                **wire,
                "stdout": keep_ends(wire["stdout"], keep),
                "stderr": keep_ends(wire["stderr"], keep),
            }
            if "error" in wire and wire["error"].get("traceback"):
                wire["error"] = {
                    **wire["error"],
                    "traceback": keep_ends(wire["error"]["traceback"], keep),
                }
            size = len(orjson.dumps(wire))
        if batches[-1] and (used + size > budget or len(batches[-1]) >= MAX_BATCH):
            batches.append([])
            used = 0
        batches[-1].append(wire)
        used += size
    return [b for b in batches if b]


def run_of(task: RunTask) -> Run:
    """A claimed run as the worker loop knows runs."""
    now = datetime.now(UTC)
    return Run(
        id=task.id, job=task.job, state=RunState.RUNNING, trigger="", params=task.params,
        priority=task.priority, pool=task.pool, policy=RunPolicy.from_dict(task.policy),
        attempt=task.attempt, created_at=now, updated_at=now,
        scheduled_for=task.scheduled_for, not_before=task.not_before, started_at=now,
        lease_until=task.lease_until, flow_id=task.flow_id,
    )  # fmt: skip


class Protocol:
    """The worker protocol's requests, on one HTTP connection pool."""

    def __init__(
        self, url: str, token: str | None, *, verify: bool | str = True, timeout: float = 30.0
    ) -> None:
        self.worker_id = ""
        self._client = AsyncClient(url, token, timeout=timeout + IDLE_WAIT, verify=verify)

    async def send(self, method: str, path: str, body: Any, parse: Any) -> Any:
        """``METHOD /api/v1/workers<path>`` with ``body``; its answer read by ``parse``.

        :raises Unavailable: the server cannot be reached (or answers 5xx).
        """
        return await self._client.send(Call(method, f"{API}/workers{path}", parse, body=body))

    async def close(self) -> None:
        await self._client.aclose()


class ProtocolStore:
    """What the worker loop asks of a store, asked of the server instead."""

    remote = True

    def __init__(self, protocol: Protocol) -> None:
        self._p = protocol
        self.session: WorkerSession | None = None

    @property
    def budget(self) -> int:
        """The bytes of outcomes one request carries: the server's limit, less room for
        the rest of the body."""
        return (self.session.max_body if self.session else 1 << 20) * 3 // 4

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self._p.close()

    async def register_worker(self, info: WorkerInfo) -> None:
        body = {
            "id": info.id, "hostname": info.hostname[:255], "pid": info.pid,
            "pools": info.pools, "task_types": info.task_types, "labels": info.labels,
            "concurrency": info.concurrency, "cores": info.cores, "memory": info.memory,
            "version": info.version[:64],
        }  # fmt: skip
        self.session = await self._p.send("POST", "", body, WorkerSession.model_validate)
        self._p.worker_id = info.id

    async def set_worker_state(self, worker_id: str, state: str) -> None:
        await self._p.send("PATCH", f"/{worker_id}", {"state": state}, lambda _: None)

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        body = {"runs": [{"run_id": r, "attempt": a} for r, a in held[:MAX_BATCH]]}
        out: HeartbeatOut = await self._p.send(
            "POST", f"/{worker_id}/heartbeat", body, HeartbeatOut.model_validate
        )
        return out.lost

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        held = [
            {"run_id": r, "attempt": a, "stdout": out, "stderr": err} for r, a, out, err in logs
        ]
        for batch in fitted(held, self.budget):
            body = {"runs": batch}
            await self._p.send("POST", f"/{self._p.worker_id}/heartbeat", body, lambda _: None)

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        accepted: list[bool] = []
        for batch in fitted([outcome_wire(o) for o in outcomes], self.budget):
            out: OutcomesOut = await self._p.send(
                "POST", f"/{self._p.worker_id}/outcomes", {"outcomes": batch},
                OutcomesOut.model_validate,
            )  # fmt: skip
            accepted += out.accepted
        return accepted

    async def finish_and_claim(
        self,
        outcomes: Sequence[Outcome],
        *,
        actor: str,
        pools: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        room: Room,
        **_ignored: Any,
    ) -> tuple[list[bool], list[Run]]:
        wires = [outcome_wire(o) for o in outcomes]
        batches = fitted(wires, self.budget)
        if len(batches) > 1:  # too many, or too much output, for one request
            return await self.finish_runs(outcomes, actor=actor), []
        return await claim(self._p, worker_id, limit, 0.0, room, batches[0] if batches else [])

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        raise TSSError("a worker over the protocol claims with the broker's claim, never by id")


async def claim(
    protocol: Protocol,
    worker_id: str,
    limit: int,
    wait: float,
    room: Room,
    outcomes: Sequence[dict[str, Any]] = (),
) -> tuple[list[bool], list[Run]]:
    """``POST /workers/{id}/claim``: report ``outcomes`` (as the wire has them) and take up
    to ``limit`` runs."""
    body: dict[str, Any] = {"limit": min(max(limit, 0), MAX_BATCH), "wait": wait}
    if outcomes:
        body["outcomes"] = list(outcomes)
    if room.cores < 1e6:
        body["cores"] = max(room.cores, 0.0)
    if 0 <= room.memory <= 2**53:
        body["memory"] = room.memory
    out: ClaimOut = await protocol.send(
        "POST", f"/{worker_id}/claim", body, ClaimOut.model_validate
    )
    return out.accepted, [run_of(task) for task in out.runs]


class ProtocolBroker(Broker):
    """Claims over the protocol, waiting on the server for runs (a long poll)."""

    name = "http"
    durable = True
    reads_store = True

    def __init__(self, protocol: Protocol) -> None:
        self._p = protocol

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        return None  # a worker publishes nothing: the server moves flows on

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        raise TSSError("a worker over the protocol claims; it never reads deliveries")

    async def claim(
        self,
        pools: Sequence[str],
        max_count: int,
        timeout: float,
        *,
        worker_id: str,
        lease: float,
        room: Room,
        **_ignored: Any,
    ) -> list[Run]:
        # Wait on the server longer than the loop asks: an idle worker then sends one
        # request every IDLE_WAIT seconds, and a run queued meanwhile comes at once.
        return (await claim(self._p, worker_id, max_count, max(timeout, IDLE_WAIT), room))[1]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        return None

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        return None


async def serve_remote(
    settings: WorkerConfig,
    registry: TaskRegistry,
    url: str,
    token: str | None,
    stop: asyncio.Event,
    *,
    verify: bool | str = True,
) -> None:
    """Run the worker loop against the server at ``url`` until ``stop`` is set. A server
    that cannot be reached yet is tried again every second (said once per new reason): a
    worker started before its server waits for it."""
    protocol = Protocol(url, token, verify=verify)
    store = ProtocolStore(protocol)
    worker = Worker(cast(Store, store), ProtocolBroker(protocol), registry, settings)
    said = ""
    try:
        while not stop.is_set():
            try:
                await store.register_worker(worker.info())
                break
            except Unavailable as exc:
                if str(exc) != said:
                    said = str(exc)
                    log.warning("worker %s: %s; trying again every second", worker.id, exc)
                await wait_first(stop, timeout=1.0)
        if stop.is_set():
            return
        session = store.session
        assert session is not None
        # The server leases the runs it hands out: beat as often as it says.
        worker.settings = settings.model_copy(
            update={"lease": session.lease, "heartbeat_interval": session.heartbeat_interval}
        )
        await worker.run(stop)
    finally:
        await registry.aclose()  # the http task type's kept-alive connections
        await protocol.close()
