"""The ``http`` task type: one HTTP request (a webhook), its answer as the run's result.

Connections go through the SSRF guard (:mod:`tss.net.transport`): the host is resolved once
and the connection made to an address the ``http:`` config allows; each redirect is
followed here, hop by hop, so every hop's address is checked too. One connection pool per
event loop keeps connections alive between runs. It is an httpx transport, not an
``AsyncClient``: a client would share its cookie jar between every job of the worker and
log each URL (query secrets included) at INFO.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import weakref
from typing import Any

import httpx
import orjson

from tss._secrets import scrub
from tss._urls import SECRET_QUERY_KEYS, mask_url
from tss._version import __version__
from tss.config.http import HttpConfig
from tss.errors import TaskFailure
from tss.net.guard import AddressPolicy, AddressRefused, Resolver
from tss.net.headers import retry_after
from tss.net.transport import GuardedTransport, read_body
from tss.tasks import _http_params as p
from tss.tasks._env import resolve_value
from tss.tasks.base import ExecutionContext, TaskType

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
#: header names whose literal values are scrubbed from what the answer echoes back
_SECRET_HEADER = re.compile(r"auth|cookie|token|key|secret|passw|signature|session", re.I)
_SNIPPET = 200
_USER_AGENT = f"tss/{__version__}"


class HttpTask(TaskType):
    """Calls ``params.url``; succeeds when the status is in ``expect`` (any 2xx by default).

    A status in ``retry_on`` (429 and 5xx by default) fails the attempt so that the job's
    ``retries`` try again, after at least the answer's ``Retry-After``; any other status
    fails it for good (``final``: a 404 stays a 404). The result is ``{status, reason,
    url, headers, body, truncated}``; the body is parsed JSON when the answer says JSON.
    """

    name = "http"
    #: where the request goes and what it carries as credentials: never a run's choice
    executes = frozenset({"url", "method", "headers", "follow_redirects", "max_redirects"})

    def __init__(self, config: HttpConfig | None = None, *, resolver: Resolver | None = None):
        self.config = config or HttpConfig()
        self.policy = AddressPolicy(self.config.allow_private, tuple(self.config.allow))
        self._resolver = resolver
        # A pool's connections belong to the loop that opened them.
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncBaseTransport]
        self._pools = weakref.WeakKeyDictionary()

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        return p.check(params)

    def _pool(self) -> httpx.AsyncBaseTransport:
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = GuardedTransport(
                self.policy,
                resolver=self._resolver,
                max_connections=self.config.max_connections,
                keepalive_expiry=self.config.keepalive,
            )
        return pool

    async def aclose(self) -> None:
        """Close this loop's connections (the node calls it when it stops)."""
        pool = self._pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.aclose()

    async def execute(self, ctx: ExecutionContext) -> Any:
        async with asyncio.timeout(ctx.timeout):  # the job's timeout bounds every hop
            return await self._call(ctx)

    async def _call(self, ctx: ExecutionContext) -> Any:
        params = ctx.params
        headers = {"User-Agent": _USER_AGENT}
        secrets: list[str] = []
        for name, value in (params.get("headers") or {}).items():
            headers[name] = resolve_value(value, f"params.headers.{name}", "SecretReferenceError")
            if isinstance(value, dict) or _SECRET_HEADER.search(name):
                secrets.append(headers[name])
        body: dict[str, Any] = {}
        if "json" in params:
            body["content"] = orjson.dumps(params["json"])
            headers.setdefault("Content-Type", "application/json")
        elif "body" in params:
            body["content"] = str(params["body"]).encode()
        method = params.get("method") or ("POST" if body else "GET")
        url, in_query = _parse(params["url"])
        secrets += in_query
        timeout = float(params.get("timeout", p.DEFAULT_TIMEOUT))
        hops = params.get("max_redirects", p.DEFAULT_MAX_REDIRECTS)
        follow = params.get("follow_redirects", True)
        for hop in range(hops + 1):
            status, reason, answer, text, truncated = await self._request(
                ctx, method, url, headers, body, timeout, secrets
            )
            location = answer.get("location")
            if not (follow and status in _REDIRECTS and location):
                break
            if hop == hops:
                raise TaskFailure(
                    "HttpTooManyRedirects",
                    f"{method} {_shown(url)} redirected more than max_redirects ({hops}) times",
                    final=True,
                )
            target = url.join(location)
            if target.scheme not in ("http", "https"):
                raise TaskFailure(
                    "HttpRedirectRefused",
                    f"{method} {_shown(url)} redirected to {mask_url(str(target))}: only "
                    "http and https are followed",
                    final=True,
                )
            ctx.stdout.write(f"  redirected to {_shown(target)}\n")
            if (target.scheme, target.host, target.port) != (url.scheme, url.host, url.port):
                # The job's headers were meant for its own host: credentials stay there.
                headers = {"User-Agent": _USER_AGENT}
            if status == 303 or (status in (301, 302) and method == "POST"):
                method = "GET" if method != "HEAD" else method
                body = {}
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            url = target
        result = {
            "status": status,
            "reason": reason,
            "url": _shown(url),
            "headers": answer,
            "body": _parsed(text, answer, truncated),
            "truncated": truncated,
        }
        if p.matches(status, params.get("expect", p.DEFAULT_EXPECT)):
            return result
        retry = p.matches(status, params.get("retry_on", p.DEFAULT_RETRY_ON))
        wait = _retry_after(answer.get("retry-after")) if retry else None
        snippet = " ".join((text or "").split())[:_SNIPPET]
        raise TaskFailure(
            "HttpStatus",
            f"{method} {_shown(url)} answered {status} {reason}"
            + (f" (Retry-After: {wait:g}s)" if wait is not None else "")
            + (f": {snippet}" if snippet else ""),
            final=not retry,
            retry_after=wait,
        )

    async def _request(
        self,
        ctx: ExecutionContext,
        method: str,
        url: httpx.URL,
        headers: dict[str, str],
        body: dict[str, Any],
        timeout: float,
        secrets: list[str],
    ) -> tuple[int, str, dict[str, str], str | None, bool]:
        """One request: status, reason, headers, body text (capped, secrets scrubbed) and
        whether it was cut. Transport failures become :class:`TaskFailure`."""
        shown = f"{method} {_shown(url)}"
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        request = httpx.Request(
            method, url, headers=headers, extensions={"timeout": limits}, **body
        )
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout) as deadline:
                response = await self._pool().handle_async_request(request)
                try:
                    raw, truncated = await read_body(response, self.config.max_response)
                finally:
                    await response.aclose()
        except TimeoutError:
            if not deadline.expired():
                raise  # the job's own timeout: the attempt is timed_out
            raise TaskFailure(
                "HttpTimeout", f"{shown} did not answer within {timeout:g}s"
            ) from None
        except AddressRefused as exc:
            raise TaskFailure("AddressRefused", f"{shown}: {exc.message}", final=True) from None
        except httpx.TimeoutException:
            raise TaskFailure(
                "HttpTimeout", f"{shown} did not answer within {timeout:g}s"
            ) from None
        except httpx.TransportError as exc:
            kind = "HttpConnectError" if isinstance(exc, httpx.ConnectError) else "HttpError"
            raise TaskFailure(
                kind, f"{shown} failed: {scrub(str(exc), secrets) or type(exc).__name__}"
            ) from None
        elapsed = (time.perf_counter() - started) * 1000
        status = response.status_code
        reason = response.reason_phrase
        answer: dict[str, str] = {}
        for key, value in response.headers.multi_items():
            value = "***" if key == "set-cookie" else scrub(value, secrets)
            answer[key] = f"{answer[key]}, {value}" if key in answer else value
        text = None
        if method != "HEAD" and self.config.max_response:
            text = scrub(raw.decode(response.encoding or "utf-8", "replace"), secrets)
        cut = ", truncated" if truncated else ""
        ctx.stdout.write(
            f"{shown} -> {status} {reason} ({elapsed:.0f} ms, {len(raw)} bytes{cut})\n"
        )
        return status, reason, answer, text, truncated


def _parsed(text: str | None, headers: dict[str, str], truncated: bool) -> Any:
    if text is None or truncated or "json" not in headers.get("content-type", ""):
        return text
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


@functools.lru_cache(maxsize=1024)
def _parse(url: str) -> tuple[httpx.URL, tuple[str, ...]]:
    """A job's URL parsed, and the values of its secret query keys (a job calls the same
    URL run after run: parsed once)."""
    parsed = httpx.URL(url)
    found = tuple(v for k, v in parsed.params.multi_items() if k.lower() in SECRET_QUERY_KEYS)
    return parsed, found


def _shown(url: httpx.URL) -> str:
    return mask_url(str(url))


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, within 0 to a day."""
    return retry_after(value, cap=86400.0)
