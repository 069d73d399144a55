"""Readiness: whether the store and the broker answer, decided within a bounded time.

A check that does not answer in time is reported as down at once and left to end in the
background (awaiting a cancelled database call can itself hang on a server that does not
answer); the next request starts a fresh check, so a store that comes back is seen on the
next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import orjson
from fastapi.responses import Response

from tss.errors import BrokerError, StoreError, TSSError
from tss.service import TSSApp

log = logging.getLogger(__name__)

#: how long /readyz waits for the store and the broker (together, not one after the other)
READY_TIMEOUT = 0.8


class Probe:
    """One dependency's check (``check()`` returns when it answers), bounded by ``timeout``."""

    def __init__(self, check: Callable[[], Awaitable[object]], timeout: float) -> None:
        self.check = check
        self.timeout = timeout
        self._task: asyncio.Task[object] | None = None
        self._since = 0.0

    async def __call__(self) -> str | None:
        """None when the dependency answered, else why not (one line)."""
        task = self._task
        if task is not None and not task.done():
            # An earlier check that timed out is still unwinding: do not pile up another.
            return f"no answer for {time.monotonic() - self._since:.0f}s"
        self._since = time.monotonic()
        task = self._task = asyncio.ensure_future(self.check())
        done, _ = await asyncio.wait({task}, timeout=self.timeout)
        if not done:
            task.cancel()  # not awaited: see the module docstring
            task.add_done_callback(_swallow)
            return f"no answer within {self.timeout:g}s"
        exc = task.exception()
        if exc is None:
            return None
        if isinstance(exc, TSSError):
            return str(exc)
        log.warning("readiness check failed: %r", exc)  # a driver error not translated
        return type(exc).__name__


def _swallow(task: asyncio.Future[object]) -> None:
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.exception()


#: reasons that say nothing about where the store or broker is: shown to anyone
_PUBLIC_PREFIXES = ("ok", "no answer", "applying the config's jobs")


def public_reason(why: str) -> str:
    """``why`` as an unauthenticated caller from elsewhere may read it: a driver's message
    names hosts, ports, users and databases (the process's log has it in full)."""
    if why.startswith(_PUBLIC_PREFIXES):
        return why
    if why.startswith("not connected yet"):
        return "not connected yet"
    return "unreachable (the server's log, or /readyz asked on the server's own host, says why)"


class Readiness:
    """The checks behind ``/readyz`` for one node."""

    def __init__(self, tss: TSSApp, timeout: float = READY_TIMEOUT) -> None:
        self.tss = tss
        self.store_check = Probe(tss.admin.ping_store, timeout)
        self.broker_check = Probe(tss.admin.ping_broker, timeout)

    async def checks(self) -> dict[str, str]:
        """``{"store": ..., "broker": ...}``: ``"ok"`` or why it is not ready; while a
        connected node is still starting, ``"startup"`` says what it is doing."""
        tss = self.tss
        why = tss.not_ready
        if isinstance(why, StoreError):  # the serving command retries: the last try's error
            return {"store": str(why), "broker": "not connected yet: waiting for the store"}
        if isinstance(why, BrokerError):
            return {"store": "ok", "broker": str(why)}
        if not tss.started:
            starting = f"not connected yet: {why or 'the process is starting'}"
            return {"store": starting, "broker": starting}
        if why is not None:  # connected, still starting (applying the config's jobs)
            return {"store": "ok", "broker": "ok", "startup": str(why)}
        store_down, broker_down = await asyncio.gather(self.store_check(), self.broker_check())
        return {"store": store_down or "ok", "broker": broker_down or "ok"}

    async def response(self, *, detail: bool = True) -> Response:
        """200 ``{"status": "ready"}``, or 503 naming what is down in ``checks`` (and in the
        usual ``error`` shape). Without ``detail`` each reason is cut to words that name no
        host, user or database (see :func:`public_reason`)."""
        checks = await self.checks()
        if not detail:
            checks = {name: public_reason(why) for name, why in checks.items()}
        down = [f"{name}: {why}" for name, why in checks.items() if why != "ok"]
        if not down:
            return Response(b'{"status":"ready"}', media_type="application/json")
        body = {
            "status": "unavailable",
            "checks": checks,
            "error": {
                "code": "unavailable",
                "message": "not ready: " + "; ".join(down),
                "field": None,
            },
        }
        return Response(orjson.dumps(body), 503, media_type="application/json")
