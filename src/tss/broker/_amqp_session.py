"""The RabbitMQ connection, supervised: one session (a connection and its two channels) at a
time, replaced whole when it is lost, with reconnection in the background; and the messages
received on a session, settled when each run they carry is.

aio-pika's robust connection is not used: it retries at a fixed interval and restores
consumers without saying which deliveries died with the old channel. Here a loss is told to
the broker (which forgets what was prefetched: RabbitMQ returns it to the queues), and the
keeper reconnects with exponential backoff (0.25 s to 30 s) and lets the broker set the new
session up (its topology, its consumers) before anyone uses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from tss.broker._amqp import NEEDS_DRIVER
from tss.broker.base import RunMessage
from tss.errors import BrokerError, ConfigError

try:
    import aio_pika
    from aio_pika.abc import (
        AbstractChannel,
        AbstractConnection,
        AbstractIncomingMessage,
        AbstractQueue,
    )
    from aio_pika.exceptions import AMQPError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ConfigError(NEEDS_DRIVER, field="broker.url") from exc

log = logging.getLogger("tss.broker.rabbitmq")

CONNECT_TIMEOUT = 10.0
BACKOFF_FIRST, BACKOFF_MAX = 0.25, 30.0
CHECK = (
    "check that RabbitMQ is running and reachable from here, and the user, password and "
    "vhost in broker.url"
)
#: what aio-pika and aiormq raise when the server or the connection fails
DRIVER_ERRORS: tuple[type[BaseException], ...] = (AMQPError, OSError, TimeoutError, RuntimeError)


@dataclass(eq=False, slots=True)
class Session:
    """One connection and what was set up on it; replaced whole on reconnection."""

    connection: AbstractConnection
    pub: AbstractChannel  # publisher confirms
    sub: AbstractChannel  # consumers, with the prefetch
    qos: bool = False
    declared: set[str] = field(default_factory=set)
    consumers: dict[str, tuple[AbstractQueue, str]] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class Received:
    """One received message, shared by the deliveries of the runs it carries."""

    session: Session
    incoming: AbstractIncomingMessage
    redeliveries: int
    #: run ids delivered from it and not yet acked or handed back
    open: set[str]


def settle_parts(held: list[tuple[RunMessage, Received]]) -> list[Received]:
    """Mark these deliveries settled; the messages whose every run now is."""
    done: dict[Received, None] = {}
    for message, tag in held:
        if message.run_id in tag.open:
            tag.open.discard(message.run_id)
            if not tag.open:
                done[tag] = None
    return list(done)


class SessionKeeper:
    """Opens the session, notices its loss, and opens another with backoff.

    ``set_up(session)`` runs on every new session before it is used (declare, consume);
    ``lost()`` runs when the current one is lost (not when it is closed on purpose).
    """

    def __init__(
        self,
        url: str,
        *,
        safe_url: str,
        password: str,
        prefix: str,
        set_up: Callable[[Session], Awaitable[None]],
        lost: Callable[[], None],
    ) -> None:
        self._url = url
        self.safe_url = safe_url
        self._password = password
        self._prefix = prefix
        self._set_up = set_up
        self._lost = lost
        #: the open session, None while (re)connecting or closed
        self.session: Session | None = None
        #: held while a session is set up, and while consumers are added to it
        self.setup = asyncio.Lock()
        self.started = False
        self.last_error = "not started"
        self._connected = asyncio.Event()
        self._reconnector: asyncio.Task[None] | None = None
        self._chores: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Connect. If RabbitMQ cannot be reached, say so in one line and keep trying in the
        background with backoff: the process stays up, and ``ping`` says not ready."""
        if self.started:
            return
        self.started = True
        try:
            await self.connect()
        except BrokerError as exc:
            log.warning("%s; retrying in the background", exc)
            self._reconnect_soon()

    async def close(
        self, stop: Callable[[Session], Awaitable[None]], forget: Callable[[], None]
    ) -> None:
        """Stop reconnecting, let ``stop`` wind the session down while it is still current,
        ``forget`` what was held, then close the connection."""
        if not self.started:
            return
        self.started = False
        if self._reconnector is not None:
            self._reconnector.cancel()
            await asyncio.gather(self._reconnector, return_exceptions=True)
            self._reconnector = None
        session = self.session
        if session is not None:
            await stop(session)
        self.session = None  # from here the close callbacks know it is on purpose
        self._connected.clear()
        forget()
        if session is not None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await session.connection.close()
        if self._chores:
            await asyncio.gather(*self._chores, return_exceptions=True)
        self.last_error = "closed"

    async def connect(self) -> None:
        """Open a session and set it up, unless one is open or the keeper is stopped.

        :raises BrokerError: RabbitMQ cannot be reached, or the set-up was refused.
        """
        async with self.setup:
            if self.session is not None or not self.started:
                return
            connection: AbstractConnection | None = None
            try:
                connection = await aio_pika.connect(self._url, timeout=CONNECT_TIMEOUT)
                pub = await connection.channel(publisher_confirms=True, on_return_raises=True)
                sub = await connection.channel(publisher_confirms=False)
                session = Session(connection, pub, sub)
                await self._set_up(session)
            except DRIVER_ERRORS as exc:
                self.last_error = self.describe(exc)
                if connection is None:
                    raise BrokerError(
                        f"cannot reach RabbitMQ at {self.safe_url} ({self.last_error}): {CHECK}"
                    ) from exc
                with contextlib.suppress(*DRIVER_ERRORS):
                    await connection.close()
                raise BrokerError(
                    f"could not set up the queues of prefix {self._prefix!r} on RabbitMQ at "
                    f"{self.safe_url} ({self.last_error}): a queue declared elsewhere with "
                    "other arguments must be deleted, or another prefix chosen"
                ) from exc
            for source in (connection, pub, sub):
                source.close_callbacks.add(partial(self._on_close, session))
            self.session = session
            self._connected.set()

    def _on_close(self, session: Session, _sender: object, exc: BaseException | None) -> None:
        if self.session is not session:
            return  # closed on purpose, or already handled
        self.session = None
        self._connected.clear()
        self.last_error = self.describe(exc) if exc is not None else "connection closed"
        log.warning(
            "lost the connection to RabbitMQ at %s (%s); reconnecting",
            self.safe_url,
            self.last_error,
        )
        if not session.connection.is_closed:  # a channel failed: start again from scratch
            self._chore(session.connection.close())
        self._lost()
        self._reconnect_soon()

    def _chore(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            with contextlib.suppress(*DRIVER_ERRORS):
                await work

        task = asyncio.get_running_loop().create_task(run())
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)

    def _reconnect_soon(self) -> None:
        if self.started and (self._reconnector is None or self._reconnector.done()):
            self._reconnector = asyncio.get_running_loop().create_task(
                self._reconnect(), name="tss-rabbitmq-reconnect"
            )

    async def _reconnect(self) -> None:
        delay = BACKOFF_FIRST
        while self.started and self.session is None:
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            try:
                await self.connect()
            except BrokerError as exc:
                delay = min(delay * 2, BACKOFF_MAX)
                log.warning("%s; retrying in %.1fs", exc, delay)
                continue
            log.info("reconnected to RabbitMQ at %s", self.safe_url)

    async def within(self, timeout: float) -> Session:
        """The open session, waiting up to ``timeout`` seconds for a reconnection.

        :raises BrokerError: not connected (naming the URL and the last error).
        """
        if self.session is None and self.started and timeout > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), timeout)
        if self.session is None:
            raise self.not_connected()
        return self.session

    def not_connected(self) -> BrokerError:
        """The error for a call made while there is no session."""
        if not self.started:
            return BrokerError(f"the RabbitMQ broker at {self.safe_url} is not started")
        return BrokerError(
            f"not connected to RabbitMQ at {self.safe_url} ({self.last_error}): {CHECK}; "
            "reconnecting in the background"
        )

    def describe(self, exc: BaseException) -> str:
        """``exc`` in one line, the password hidden."""
        text = " ".join(str(exc).split())
        if self._password:
            text = text.replace(self._password, "***")
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

    def failed(self, doing: str, exc: BaseException) -> BrokerError:
        """The error for a call that failed while ``doing`` something."""
        return BrokerError(f"RabbitMQ at {self.safe_url}: could not {doing} ({self.describe(exc)})")
