"""httpx connections that go only where an :class:`~tss.net.guard.AddressPolicy` allows.

The check sits in the network backend httpcore connects through, so it runs for every new
connection, whoever asked for it (a first request, a redirect, a reconnect after
keep-alive expiry), and nothing can connect around it. :meth:`GuardedBackend.connect_tcp`
resolves the host once, keeps the addresses the policy allows, and connects to one of
them by address. httpcore still knows the host by its name, so the ``Host`` header and,
for https, the TLS server name (SNI) and the certificate check use the name the URL gave.
A pooled connection is reused only for its own origin (scheme, host, port), so it keeps
the address that was checked when it was opened.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from contextlib import contextmanager

import httpcore
import httpx

from tss.net.guard import AddressPolicy, AddressRefused, Resolver, resolve

#: what httpcore takes as a socket option (its own alias is private)
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, with each TCP connection checked first; no Unix sockets."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver | None = None) -> None:
        self.policy = policy
        self._resolve = resolver or resolve
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve ``host`` once, and connect to the first allowed address that answers.

        :raises AddressRefused: no address of ``host`` is allowed.
        :raises httpcore.ConnectError: the name does not resolve, or no address answers.
        """
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout:g}s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc.strerror or exc}") from None
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in self.policy.check(host, addresses):
            try:
                # By address: the resolver is not asked again, so the name cannot
                # resolve to something else between the check and the connection.
                return await self._inner.connect_tcp(
                    str(address), port, timeout, local_address, options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None  # check() returns at least one address or raises
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise AddressRefused(f"refused to connect to the Unix socket {path}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


#: an idle connection, with when it became idle (time.monotonic)
_Idle = tuple[float, httpcore.AsyncHTTPConnection]
#: httpcore's exceptions as httpx's, most specific first (httpx's own map is private)
_EXCEPTIONS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextmanager
def _as_httpx() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for source, target in _EXCEPTIONS:
            if isinstance(exc, source):
                raise target(str(exc)) from exc
        raise


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose every connection goes through a :class:`GuardedBackend`,
    kept alive and reused per origin (scheme, host, port). Proxies are not supported: a
    proxy would make the connection, out of the guard's sight.

    It keeps httpcore's HTTP/1.1 connections itself rather than in httpcore's pool: that
    pool scans every connection, asking each socket whether it is readable, for every
    request queued and every one that ends, so on this 2-core VM 200 concurrent calls to one
    host made 195 requests/s where these idle lists make over 2,000 (bench/webhook.py).
    """

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        resolver: Resolver | None = None,
        max_connections: int = 100,
        keepalive_expiry: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._backend = GuardedBackend(policy, resolver)
        # The certificate store is the system's, or SSL_CERT_FILE/SSL_CERT_DIR's.
        self._ssl = ssl_context or httpx.create_ssl_context(trust_env=True)
        self._expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        # by origin, as (scheme, host, port): httpcore's Origin is not hashable
        self._idle: dict[tuple[bytes, bytes, int], list[_Idle]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        origin = core.url.origin
        await self._slots.acquire()
        connection = None
        try:
            connection = self._take(origin) or httpcore.AsyncHTTPConnection(
                origin,
                ssl_context=self._ssl,
                keepalive_expiry=self._expiry,
                network_backend=self._backend,
            )
            with _as_httpx():
                answer = await connection.handle_async_request(core)
        except BaseException:
            self._slots.release()
            if connection is not None:
                await connection.aclose()
            raise
        return httpx.Response(
            status_code=answer.status,
            headers=answer.headers,
            stream=_Body(self, origin, connection, answer),
            extensions=answer.extensions,
        )

    def _take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection | None:
        """The most recently used idle connection to ``origin`` still usable."""
        idle = self._idle.get((origin.scheme, origin.host, origin.port))
        while idle:
            connection = idle.pop()[1]
            if connection.is_idle() and not connection.has_expired():
                return connection
            self._drop(connection)
        return None

    async def _give_back(
        self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        self._slots.release()
        if self._closed or not connection.is_idle():
            await connection.aclose()
            return
        idle = self._idle.setdefault((origin.scheme, origin.host, origin.port), [])
        # The least recently used wait at the bottom: close those idle longer than the
        # keep-alive, so idle sockets do not pile up. (By the clock: asking each socket
        # costs a system call; a connection taken is checked when it is taken.)
        now = time.monotonic()
        while idle and idle[0][0] < now - self._expiry:
            self._drop(idle.pop(0)[1])
        idle.append((now, connection))

    @staticmethod
    def _drop(connection: httpcore.AsyncHTTPConnection) -> None:
        # An expired or broken connection has nothing left to say: closing it is a
        # socket close, run without waiting for it.
        task = asyncio.ensure_future(connection.aclose())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, connection in connections:
                await connection.aclose()


class _Body(httpx.AsyncByteStream):
    """A response's body; when it is closed, its connection goes back for reuse."""

    def __init__(
        self,
        transport: GuardedTransport,
        origin: httpcore.Origin,
        connection: httpcore.AsyncHTTPConnection,
        answer: httpcore.Response,
    ) -> None:
        self._transport, self._origin = transport, origin
        self._connection, self._answer = connection, answer
        self._open = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        stream = self._answer.stream
        assert isinstance(stream, AsyncIterable)
        with _as_httpx():
            async for part in stream:
                yield part

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            try:
                await self._answer.aclose()
            finally:
                await self._transport._give_back(self._origin, self._connection)


async def read_body(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of an answer's body, and whether there was more (the rest
    is not read: the connection is then closed rather than reused)."""
    chunks = bytearray()
    async for chunk in response.aiter_bytes():
        chunks += chunk
        if len(chunks) > limit:
            return bytes(chunks[:limit]), True
    return bytes(chunks), False
