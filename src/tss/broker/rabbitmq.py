"""The RabbitMQ broker (aio-pika): a durable priority queue per pool.

URL: ``amqp://user:password@host:5672/vhost?prefix=tss`` (``amqps://`` for TLS). Four
options are TSS's and are taken out of the query before it reaches aio-pika, which keeps
its own (``heartbeat``, ``name``, TLS files...):

- ``prefix`` (``tss``): names all this broker declares: the queue ``<prefix>.pool.<pool>``
  of each pool, and the dead-letter exchange and queue ``<prefix>.dead-letter``. Brokers
  (or test runs) with different prefixes share a vhost without meeting.
- ``prefetch`` (the worker's capacity): unacknowledged messages each pool's consumer may
  hold. Unset, the first ``get`` sets it from ``max_count``, which a worker asks with all
  its slots free.
- ``max_redeliveries`` (5): a message that comes back this many times without an ack
  (its consumer died or lost its connection while holding it) is dead-lettered on the
  next return.
- ``confirm_window`` (256): publishes awaiting the broker's confirm at once.
- ``bundle`` (50): the most runs one message may carry. A publish of many runs of one pool
  and priority (a burst) is sent as bundles (at most 16 messages' worth of runs each is
  spread, so small publishes stay one run per message); ``1`` turns bundling off.

How it keeps the contract:

- Queues are durable classic queues with ``x-max-priority: 10`` (run priorities are 0-9)
  and the dead-letter exchange; messages are persistent ``RunMessage`` JSON. ``publish``
  returns once RabbitMQ confirmed every message (publisher confirms, unroutable messages
  refused).
- Acks are manual: the worker acks after the store recorded the outcome. ``nack`` puts a
  copy at the tail of the queue, then acks the original: a run a worker could not take is
  not counted as a crash. A bundle is one AMQP message whose runs are delivered one by
  one: it is acked when every run in it is acked or handed back (as a copy). Publishing
  costs per message, not per run, so bundles are what lets a burst of thousands of runs
  through quickly; the price is that a consumer holds a whole bundle, and a bundle that
  keeps coming back is dead-lettered whole (its runs stay queued in the store and are
  published again by the reconciler).
- A message that is not a run message (schema-checked on receipt) goes to the dead-letter
  queue at once and never reaches the worker. Classic queues do not count deliveries, so
  a redelivered message is stamped: a copy with header ``x-tss-redeliveries: n`` is
  published and the original acked; past ``max_redeliveries`` it is dead-lettered
  instead. A dead-lettered run is not lost: it stays ``queued`` in the store and the
  scheduler's reconciler publishes it again after ``republish_after``.
- The connection is supervised (:mod:`tss.broker._amqp_session`): on a loss, prefetched
  messages are forgotten, acks of deliveries from the old connection are ignored, and the
  broker reconnects with backoff and resumes its consumers. Meanwhile ``publish``, ``get``
  and ``ping`` raise `BrokerError` with one line naming the URL and what to check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Sequence
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from tss._urls import mask_url
from tss.broker._amqp import (
    MAX_PRIORITY,
    NEEDS_DRIVER,
    REDELIVERIES,
    Options,
    Prefetched,
    bundles,
    parse_url,
    redeliveries_of,
)
from tss.broker._amqp_session import (
    CHECK,
    CONNECT_TIMEOUT,
    DRIVER_ERRORS,
    Received,
    Session,
    SessionKeeper,
    settle_parts,
)
from tss.broker.base import Broker, Delivery, RunMessage
from tss.errors import BrokerError, ConfigError

try:
    import aio_pika
    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
    from aio_pika.exceptions import ChannelInvalidStateError, MessageProcessError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigError(NEEDS_DRIVER, field="broker.url") from exc

log = logging.getLogger(__name__)


def _not_a_transport_error(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("error when creating transport")


# aiormq logs every failed connection attempt at ERROR, without the URL or a hint; this
# broker reports the same failure in its own line, which has both.
logging.getLogger("aiormq.connection").addFilter(_not_a_transport_error)

_CALL_TIMEOUT = 30.0


class RabbitMQBroker(Broker):
    """Durable priority queues per pool, publisher confirms, manual acks, prefetch, a
    dead-letter queue, and reconnection with backoff."""

    name = "rabbitmq"
    durable = True

    def __init__(self, url: str) -> None:
        bare, self.options = parse_url(url)
        self.safe_url = mask_url(url)
        self.prefix = self.options.prefix
        self._link = SessionKeeper(
            bare,
            safe_url=self.safe_url,
            password=urlsplit(url).password or "",
            prefix=self.prefix,
            set_up=self._set_up,
            lost=self._forget_prefetched,
        )
        #: arguments every pool queue is declared with
        self.queue_arguments: dict[str, Any] = {
            "x-queue-type": "classic",
            "x-max-priority": MAX_PRIORITY + 1,
            "x-dead-letter-exchange": self.dead_letter_name,
        }
        self._prefetch = self.options.prefetch
        self._pools: dict[str, None] = {}  # consumed, in order; resumed on reconnection
        self._buffer = Prefetched()

    def queue_name(self, pool: str) -> str:
        """The queue that holds ``pool``'s messages."""
        return f"{self.prefix}.pool.{pool}"

    @property
    def dead_letter_name(self) -> str:
        """The dead-letter exchange, and the queue bound to it."""
        return f"{self.prefix}.dead-letter"

    # -- connection (kept by tss.broker._amqp_session) ------------------------------------

    @property
    def _session(self) -> Session | None:
        return self._link.session

    async def start(self) -> None:
        """Connect. If RabbitMQ cannot be reached, say so in one line and keep trying in the
        background with backoff: the process stays up, and `ping` says not ready."""
        await self._link.start()

    async def close(self) -> None:
        await self._link.close(self._stop_consuming, self._forget)

    def _forget(self) -> None:
        self._buffer.clear()
        self._pools.clear()

    def _forget_prefetched(self) -> None:
        """The session was lost: RabbitMQ returns what was prefetched to its queues."""
        self._buffer.clear()
        self._buffer.arrived.set()

    async def _set_up(self, session: Session) -> None:
        """Declare the dead-letter exchange and queue, and resume the consumers."""
        dead = await session.pub.declare_exchange(
            self.dead_letter_name, aio_pika.ExchangeType.FANOUT, durable=True
        )
        queue = await session.pub.declare_queue(
            self.dead_letter_name, durable=True, arguments={"x-queue-type": "classic"}
        )
        await queue.bind(dead)
        for pool in self._pools:
            await self._consume(session, pool)

    async def _stop_consuming(self, session: Session) -> None:
        """Cancel the consumers, then hand back what was prefetched but never handed out, so
        it does not count as a redelivery."""
        with contextlib.suppress(*DRIVER_ERRORS):
            async with asyncio.timeout(CONNECT_TIMEOUT):
                for queue, tag in session.consumers.values():
                    await queue.cancel(tag)
                await asyncio.sleep(0)  # deliveries read before the cancel land in the buffer
        unsent = self._buffer.drain()
        with contextlib.suppress(BrokerError):
            await self.nack(unsent)

    async def ping(self) -> None:
        session = self._session
        if session is None:
            raise self._link.not_connected()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                await session.pub.declare_queue(self.dead_letter_name, passive=True)
        except DRIVER_ERRORS as exc:
            raise BrokerError(
                f"RabbitMQ at {self.safe_url} does not answer ({self._link.describe(exc)}): {CHECK}"
            ) from exc

    # -- publishing -----------------------------------------------------------------------

    async def publish(self, messages: Sequence[RunMessage]) -> None:
        if not messages:
            return
        session = await self._link.within(0)
        window = asyncio.Semaphore(self.options.confirm_window)

        async def one(bundle: list[RunMessage]) -> None:
            async with window:
                await self._send(session, bundle[0], RunMessage.bundle_json(bundle), 0)

        try:
            async with asyncio.timeout(_CALL_TIMEOUT):
                for pool in dict.fromkeys(m.pool for m in messages):
                    if pool not in session.declared:
                        await self._declare(session.pub, pool)
                        session.declared.add(pool)
                sends = map(one, bundles(messages, self.options.bundle))
                results = await asyncio.gather(*sends, return_exceptions=True)
        except DRIVER_ERRORS as exc:
            raise self._link.failed(f"publish {len(messages)} messages", exc) from exc
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, DRIVER_ERRORS):
                raise error
        if errors:
            session.declared.clear()  # a queue may have been deleted under us
            raise self._link.failed(
                f"publish {len(errors)} of {len(messages)} messages", errors[0]
            ) from errors[0]

    async def _send(
        self, session: Session, message: RunMessage, body: bytes, redeliveries: int
    ) -> None:
        """Publish ``body`` (one message or a bundle led by ``message``) to its pool."""
        await session.pub.default_exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                priority=min(max(message.priority, 0), MAX_PRIORITY),
                message_id=message.run_id,
                headers={REDELIVERIES: redeliveries} if redeliveries else None,
            ),
            routing_key=self.queue_name(message.pool),
        )

    async def _declare(self, channel: AbstractChannel, pool: str) -> AbstractQueue:
        return await channel.declare_queue(
            self.queue_name(pool), durable=True, arguments=self.queue_arguments
        )

    # -- consuming ------------------------------------------------------------------------

    async def get(self, pools: Sequence[str], max_count: int, timeout: float) -> list[Delivery]:
        """Deliveries from the consumers of ``pools``, highest priority first among what has
        been prefetched. Consumers start on the first ``get`` of a pool; the prefetch, unless
        set in the URL, is the first ``max_count``."""
        if max_count <= 0 or not pools:
            return []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        session = await self._link.within(timeout)
        await self._subscribe(session, pools, max_count)
        await self._buffer.wait(pools, deadline)
        taken = self._buffer.take(pools, max_count)
        if not taken and self._session is None:
            raise self._link.not_connected()
        return taken

    async def _subscribe(self, session: Session, pools: Sequence[str], max_count: int) -> None:
        if all(pool in session.consumers for pool in pools):
            return
        async with self._link.setup:
            if self._session is not session:
                raise self._link.not_connected()
            if not self._prefetch:
                self._prefetch = min(max_count, 65535)
            try:
                for pool in pools:
                    self._pools[pool] = None
                    if pool not in session.consumers:
                        await self._consume(session, pool)
            except DRIVER_ERRORS as exc:
                raise self._link.failed(f"consume from pools {', '.join(pools)}", exc) from exc

    async def _consume(self, session: Session, pool: str) -> None:
        if not session.qos:
            await session.sub.set_qos(prefetch_count=self._prefetch)
            session.qos = True
        queue = await self._declare(session.sub, pool)
        tag = await queue.consume(partial(self._on_message, session, pool))
        session.consumers[pool] = (queue, tag)

    async def _on_message(
        self, session: Session, pool: str, incoming: AbstractIncomingMessage
    ) -> None:
        if self._session is not session:
            return  # its connection is gone: RabbitMQ has it back already
        try:
            messages = RunMessage.all_from_json(incoming.body)
            for message in messages:
                if message.pool != pool:
                    raise BrokerError(f"message for pool {message.pool!r} in pool {pool!r}'s queue")
        except BrokerError as exc:
            log.warning("dead-lettering a message from queue %s: %s", self.queue_name(pool), exc)
            await self._settle(incoming.reject(requeue=False))
            return
        count = redeliveries_of(incoming.headers)
        if incoming.redelivered:
            count += 1
            if count > self.options.max_redeliveries:
                log.warning(
                    "dead-lettering runs %s: they came back %d times without an ack "
                    "(one may be crashing its workers); the reconciler publishes them again "
                    "if they are still queued",
                    ", ".join(f"{m.run_id} of job {m.job}" for m in messages),
                    count,
                )
                await self._settle(incoming.reject(requeue=False))
                return
            # Classic queues do not count deliveries: carry the count on a fresh copy.
            try:
                await self._send(session, messages[0], incoming.body, count)
            except DRIVER_ERRORS as exc:
                log.debug("could not stamp a redelivered message: %r", exc)
                return  # left unacked: it comes back when this connection ends
            await self._settle(incoming.ack())
            return
        tag = Received(session, incoming, count, {m.run_id for m in messages})
        self._buffer.put(pool, [Delivery(message, tag) for message in messages])

    @staticmethod
    async def _settle(action: Awaitable[None]) -> None:
        with contextlib.suppress(*DRIVER_ERRORS):
            await action

    # -- acknowledging --------------------------------------------------------------------

    def _live(self, deliveries: Sequence[Delivery]) -> list[tuple[RunMessage, Received]]:
        """Deliveries still held on the current connection; the others went back to their
        queues when their connection ended."""
        session = self._session
        return [
            (d.message, d.tag)
            for d in deliveries
            if session is not None and isinstance(d.tag, Received) and d.tag.session is session
        ]

    async def ack(self, deliveries: Sequence[Delivery]) -> None:
        failed: BaseException | None = None
        for tag in settle_parts(self._live(deliveries)):
            try:
                await tag.incoming.ack()
            except (ChannelInvalidStateError, MessageProcessError):
                continue  # its channel closed (RabbitMQ has it back), or it was settled
            except DRIVER_ERRORS as exc:
                failed = exc
        if failed is not None:
            raise self._link.failed("acknowledge deliveries", failed) from failed

    async def nack(self, deliveries: Sequence[Delivery]) -> None:
        """A copy goes to the tail of its queue with the same redelivery count, then the
        original is acked (once the rest of its bundle is settled): not being taken is not
        a crash."""
        held = self._live(deliveries)
        if not held:
            return
        returned: dict[Received, list[RunMessage]] = {}
        for message, tag in held:
            if message.run_id in tag.open:
                returned.setdefault(tag, []).append(message)
        session = held[0][1].session
        copies = [
            self._send(session, parts[0], RunMessage.bundle_json(parts), tag.redeliveries)
            for tag, parts in returned.items()
        ]
        try:
            async with asyncio.timeout(_CALL_TIMEOUT):
                await asyncio.gather(*copies)
        except DRIVER_ERRORS as exc:
            for tag in returned:  # never leave one held here: requeue (it counts as a return)
                tag.open.clear()
                await self._settle(tag.incoming.nack(requeue=True))
            raise self._link.failed(f"return {len(held)} deliveries", exc) from exc
        for tag in settle_parts(held):
            await self._settle(tag.incoming.ack())


__all__ = ["MAX_PRIORITY", "REDELIVERIES", "Options", "RabbitMQBroker", "bundles", "parse_url"]
