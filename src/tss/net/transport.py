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
from collections.abc import Iterable

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


def guarded_transport(
    policy: AddressPolicy,
    *,
    resolver: Resolver | None = None,
    max_connections: int = 100,
    keepalive_expiry: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncHTTPTransport:
    """An httpx transport (connection pool, keep-alive, httpx's exceptions) whose every
    connection goes through a :class:`GuardedBackend`.

    Proxies are not supported: a proxy would make the connection, out of the guard's
    sight. The certificate store is the system's, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``.
    """
    context = ssl_context or httpx.create_ssl_context(trust_env=True)
    transport = httpx.AsyncHTTPTransport(verify=context)
    # httpx builds its pool with the default network backend and offers no way to name
    # another; the pool is replaced with the same one on the guarded backend. Checked, so
    # an httpx that changes this fails loudly instead of connecting unguarded.
    if not isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool):
        raise RuntimeError("this httpx version's transport has no connection pool to guard")
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=context,
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=keepalive_expiry,
        network_backend=GuardedBackend(policy, resolver),
    )
    return transport
