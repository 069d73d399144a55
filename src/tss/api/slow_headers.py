"""A deadline for request heads (slowloris): uvicorn closes idle keep-alive connections but
has no limit on how long a client may take to send a request's line and headers, so a
client trickling one header a second holds a socket for ever.

:func:`protocol_with_header_timeout` makes uvicorn's h11 protocol class (selected with
``uvicorn.Config(http=...)``) close a connection whose request head is not complete within
``timeout`` seconds of the moment the server started waiting for it: when the connection
opened, or when the previous response on it ended. Bodies are not covered (an
authenticated request's body is bounded by ``api.max_body``); the reverse proxy in front
is the place for per-byte read rates.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline on each request head (see the module)."""

    #: seconds a client has to send a whole request head
    header_timeout: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head is in (a body may follow)
            self._cancel_deadline()
        elif self._head_deadline is None:  # a late body ended a request: the next begins
            self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # waiting for the next request on this connection

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self._cancel_deadline()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_too_slow)

    def _cancel_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        if self.client:
            self.logger.info("closed %s:%d: no complete request head in time", *self.client)
        self.transport.close()


def protocol_with_header_timeout(timeout: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for ``uvicorn.Config(http=...)`` with this deadline."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout": timeout})
