"""A TCP forwarder a test can cut and restore, and a port that accepts and never answers:
a server "down" without touching the shared one.

The forwarder runs its own event loop on its own thread, so the same proxy serves a test
that drives subprocesses from plain synchronous code and a test inside an event loop (its
methods return once done, which takes the proxy's thread a few milliseconds: the caller's
loop is held no longer than that, and never waits on itself)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

#: the port of a server URL that names none, by scheme
DEFAULT_PORTS = {"postgresql": 5432, "redis": 6379, "amqp": 5672}


def free_port() -> int:
    """A port nothing listens on now. Only for "nothing listens there": a server told to
    use it may find it taken by then (tests run side by side); let a server bind port 0
    and say its address instead, or hold the port with :func:`held_port`."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def held_port(port: int = 0) -> socket.socket:
    """A socket bound to ``127.0.0.1:port`` (a free one for 0) and not listening: a
    connection to it is refused, as to a stopped server, and no other process can take the
    port meanwhile."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    return sock


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``. ``cut()`` drops every connection through
    it at once (what clients see when the server restarts); ``down()`` also refuses new
    ones (the server is stopped); ``stall()`` holds every byte and every new connection
    without a word (a hung server, a dropped route); ``up()`` forwards again (what was
    held first) on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        # The port is held from the start and through every down(): while a test has it
        # down, no other process (a server on port 0 in another test) can take it.
        self._held: socket.socket | None = held_port()
        self.port: int = self._held.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        #: connections accepted so far (a test can check its clients came through here)
        self.accepted = 0

    def through(self, url: str, query: str | None = None) -> str:
        """``url`` (its credentials and path kept; its query too, unless ``query`` is given)
        pointed at this proxy instead of its server."""
        parts = urlsplit(url)
        user, at, _ = parts.netloc.rpartition("@")
        netloc = f"{user}{at}127.0.0.1:{self.port}"
        return urlunsplit(
            parts._replace(netloc=netloc, query=parts.query if query is None else query)
        )

    def _call(self, coro: object) -> None:
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)  # type: ignore[arg-type]

    def up(self) -> None:
        """Accept and forward connections."""
        self._call(self._up())

    def down(self) -> None:
        """Refuse new connections and drop the open ones."""
        self._call(self._down())

    def cut(self) -> None:
        """Drop the open connections; new ones are forwarded as before."""
        self._call(self._cut())

    def stall(self) -> None:
        """Keep connections open but pass nothing either way until ``up()``."""
        self._call(self._stall())

    def close(self) -> None:
        self.down()
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._held is not None:
            self._held.close()
            self._held = None
        self._thread.join(10)
        self._loop.close()

    async def _shutdown(self) -> None:
        """End every link still going (one accepted just as the proxy went down, or held
        by a stall) and let their sockets close before the loop stops: a socket left to the
        garbage collector warns in whatever test runs then."""
        here = asyncio.current_task()
        links = [t for t in asyncio.all_tasks() if t is not here]
        for task in links:
            task.cancel()
        await asyncio.gather(*links, return_exceptions=True)
        await self._cut()
        for _ in range(3):  # abort() closes a socket in a callback of the next iteration
            await asyncio.sleep(0)

    async def _stall(self) -> None:
        self._flowing.clear()

    async def _up(self) -> None:
        self._flowing.set()
        if self._server is None:
            sock, self._held = self._held, None
            assert sock is not None
            sock.listen(128)
            sock.setblocking(False)
            self._server = await asyncio.start_server(self._link, sock=sock)

    async def _down(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()  # closes the listening socket: hold the port again at once
            self._held = held_port(self.port)
        await self._cut()

    async def _cut(self) -> None:
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._links.add(writer)
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for w in (writer, up_writer):
            w.transport.abort()
            self._links.discard(w)
        await asyncio.gather(*pipes, return_exceptions=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()


@contextmanager
def proxy_to(host: str, port: int) -> Iterator[TcpProxy]:
    """A started proxy to ``host:port``, closed afterwards."""
    proxy = TcpProxy((host, port))
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.close()


@contextmanager
def proxy_for(url: str) -> Iterator[TcpProxy]:
    """A started proxy to the server of ``url`` (see :meth:`TcpProxy.through`)."""
    parts = urlsplit(url)
    port = parts.port or DEFAULT_PORTS[parts.scheme.split("+")[0]]
    with proxy_to(parts.hostname or "127.0.0.1", port) as proxy:
        yield proxy


@contextmanager
def black_hole() -> Iterator[int]:
    """A port whose connections are accepted (by the kernel) and never answered."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # never accept(): the handshake completes, no byte ever comes back
        yield sock.getsockname()[1]
