"""The `Broker` interface and the message it carries.

The store is the truth; the broker is a hint. A message only names a queued run: a
worker claims the run in the store, so a duplicate or stale delivery is dropped there.
Messages are JSON (never pickle) and are schema-checked on receipt.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from tss.errors import BrokerError

if TYPE_CHECKING:
    from tss.core.models import Run
    from tss.core.workers import Room


@dataclass(frozen=True, slots=True)
class RunMessage:
    """ "Run ``run_id`` is queued in ``pool``." Carries what a worker needs to decide if it
    has room before it claims."""

    run_id: str
    job: str
    pool: str
    priority: int = 0
    cores: float = 0.0
    memory: int = 0
    #: the run may not start before this (Unix time, store clock): a run announced ahead of
    #: its time is held by the worker until then
    not_before: float | None = None
    #: the run's task type and the labels it requires: a worker without them declines the
    #: delivery. None and empty in a message of an older version: the claim decides
    task_type: str | None = None
    requires: tuple[str, ...] = ()

    @classmethod
    def of(cls, run: Run) -> RunMessage:
        """The message that announces the queued ``run``."""
        policy = run.policy
        return cls(
            run.id, run.job, run.pool, run.priority, policy.cores, policy.memory,
            run.not_before.timestamp() if run.not_before is not None else None,
            # A run whose stored policy is unreadable goes to any worker, which fails it.
            None if policy.malformed is not None else policy.type, policy.requires,
        )  # fmt: skip

    def _fields(self) -> dict[str, Any]:
        fields = {
            "v": 1,
            "run_id": self.run_id,
            "job": self.job,
            "pool": self.pool,
            "priority": self.priority,
            "cores": self.cores,
            "memory": self.memory,
        }
        if self.not_before is not None:
            fields["not_before"] = self.not_before
        if self.task_type is not None:
            fields["type"] = self.task_type
        if self.requires:
            fields["requires"] = list(self.requires)
        return fields

    def to_json(self) -> bytes:
        return orjson.dumps(self._fields())

    @staticmethod
    def bundle_json(messages: Sequence[RunMessage]) -> bytes:
        """One body for several messages (a bundle): a single message is encoded alone, more
        as ``{"v": 1, "bundle": [...]}``. :meth:`all_from_json` reads both."""
        if len(messages) == 1:
            return messages[0].to_json()
        return orjson.dumps({"v": 1, "bundle": [m._fields() for m in messages]})

    @classmethod
    def all_from_json(cls, data: bytes | str) -> list[RunMessage]:
        """The messages of a body written by :meth:`to_json` or :meth:`bundle_json`.

        :raises BrokerError: not JSON, or not the shape of run messages.
        """
        raw = _loads(data)
        if isinstance(raw, dict) and raw.get("v") == 1 and "bundle" in raw:
            parts = raw["bundle"]
            if not isinstance(parts, list) or not parts:
                raise BrokerError("broker message field 'bundle' is not a list of messages")
            return [cls._decode(part) for part in parts]
        return [cls._decode(raw)]

    @classmethod
    def from_json(cls, data: bytes | str) -> RunMessage:
        """Decode and check a message.

        :raises BrokerError: not JSON, or not the shape of a run message.
        """
        return cls._decode(_loads(data))

    @classmethod
    def _decode(cls, raw: Any) -> RunMessage:
        if not isinstance(raw, dict) or raw.get("v") != 1:
            raise BrokerError("broker message is not a version-1 run message")
        try:
            message = cls(
                run_id=_typed(raw, "run_id", str),
                job=_typed(raw, "job", str),
                pool=_typed(raw, "pool", str),
                priority=_typed(raw, "priority", int),
                cores=float(_typed(raw, "cores", (int, float))),
                memory=_typed(raw, "memory", int),
                not_before=(
                    float(_typed(raw, "not_before", (int, float))) if "not_before" in raw else None
                ),
                task_type=_typed(raw, "type", str) if "type" in raw else None,
                requires=_labels(raw["requires"]) if "requires" in raw else (),
            )
        except KeyError as exc:
            raise BrokerError(f"broker message lacks field {exc.args[0]!r}") from exc
        return message


def _loads(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BrokerError(f"broker message is not JSON: {exc}") from exc


def _typed(raw: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BrokerError(f"broker message field {key!r} has the wrong type")
    return value


def _labels(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(label, str) for label in value):
        raise BrokerError("broker message field 'requires' is not a list of labels")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class Delivery:
    """A message as one consumer received it; ``tag`` is the backend's handle for acks."""

    message: RunMessage
    tag: Any = None


class Broker(ABC):
    """Hands queued runs to workers.

    Driver errors are translated to :class:`BrokerError` at this boundary. A broker on a
    server keeps reconnecting by itself with backoff: while it is cut off, its calls raise
    :class:`BrokerError` (the scheduler and worker retry), `ping` says so, and `start` does
    not fail for it.
    """

    #: backend name, as in the broker URL scheme
    name: str = ""
    #: whether published messages survive this process; if not, the scheduler re-publishes
    #: every queued run when it starts
    durable: bool = False
    #: whether workers read queued runs from the store itself (the store broker): then a
    #: queued run needs no publishing to be seen, and the outbox has nothing to track
    reads_store: bool = False

    @abstractmethod
    async def start(self) -> None:
        """Connect. Idempotent. A server that cannot be reached yet is logged (one line with
        the URL, password hidden, and what to check) and retried in the background."""

    @abstractmethod
    async def close(self) -> None:
        """Disconnect; unacknowledged deliveries return to their queues. Idempotent."""

    async def ping(self) -> None:
        """Check the broker is reachable (the readiness probe). In-process brokers always are.

        :raises BrokerError: it is not.
        """
        return None

    @abstractmethod
    async def publish(self, messages: Sequence[RunMessage]) -> None:
        """Hand messages to their pools' queues; returns once the broker has them.

        :raises BrokerError: the broker did not take them (the outbox keeps them queued).
        """

    @abstractmethod
    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        """Up to ``max_count`` deliveries from ``pools``, highest priority first; waits up to
        ``timeout`` seconds for the first one, then returns what there is (maybe none).

        A broker that prefetches may size its prefetch from ``max_count`` (RabbitMQ takes
        the first call's), so a worker asks with all its free slots. Across several pools,
        "highest first" is among the messages the broker has at hand.

        :raises BrokerError: cut off from the server.
        """

    async def claim(
        self,
        pools: Sequence[str],
        max_count: int,
        timeout: float,
        *,
        worker_id: str,
        lease: float,
        room: Room,
        types: Collection[str] | None = None,
        labels: Collection[str] = (),
    ) -> list[Run]:
        """Only for a broker that :attr:`reads_store`: claim up to ``max_count`` runs that fit
        in ``room``, of task ``types`` (None: any) and requiring no label beyond ``labels``,
        for ``worker_id`` straight from the store (see
        :meth:`tss.store.base.Store.claim_next`), waiting up to ``timeout`` seconds for the
        first. The claimed runs need no ack.
        """
        raise NotImplementedError(f"the {self.name} broker does not claim from the store")

    @abstractmethod
    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        """Done with these: the store has recorded what became of their runs.

        Deliveries made on a connection that has since been lost are ignored: the server
        took them back already, and their runs' claims drop the duplicate.
        """

    @abstractmethod
    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        """Not taken: return these to their queues for another consumer. A returned message
        is not a failed delivery: it does not count towards dead-lettering."""
