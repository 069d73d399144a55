"""The web face of a node: the REST API with the dashboard mounted on it, served by uvicorn
inside TSS's own event loop and signal handling.

It sits above both faces: :mod:`tss.api` knows nothing of the dashboard, and the
dashboard only reaches the API's auth helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from tss._aio import wait_first
from tss.api.auth import check_exposure
from tss.api.server import create_api
from tss.api.slow_headers import protocol_with_header_timeout
from tss.config import Settings
from tss.errors import ConfigError
from tss.service import TSSApp


def create_app(tss: TSSApp) -> FastAPI:
    """The API of ``tss``, with the dashboard at ``/dashboard`` unless the config turns it
    off; the caller starts and closes ``tss``."""
    if not tss.settings.dashboard.enabled:
        return create_api(tss)
    from tss.dashboard import mount_dashboard

    return create_api(tss, mounts=[mount_dashboard])


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # TSS installs its own handlers and stops everything in order; uvicorn's would
        # re-raise the signal after shutdown and kill the process before the worker drains.
        yield


def check_listen(settings: Settings) -> None:
    """Refuse a setup that must not serve: auth off beyond loopback, half a TLS pair,
    or TLS files that do not exist.

    :raises ConfigError: naming the key.
    """
    check_exposure(settings)
    cert, key = settings.server.tls_cert, settings.server.tls_key
    if bool(cert) != bool(key):
        raise ConfigError(
            "server.tls_cert and server.tls_key go together: give both or neither",
            field="server.tls_cert" if not cert else "server.tls_key",
        )
    for name, value in (("server.tls_cert", cert), ("server.tls_key", key)):
        if value and not (settings.base_dir() / value).is_file():
            raise ConfigError(f"{name}: {value} is not a file", field=name)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, so a port in use is reported before anything else starts
    (port 0 picks a free one: see :func:`address`).

    :raises ConfigError: the address cannot be bound.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        raise ConfigError(
            f"server.port: cannot listen on {host}:{port}: {exc.strerror or exc}",
            field="server.port",
        ) from exc
    sock.setblocking(False)
    return sock


def address(sock: socket.socket, settings: Settings) -> str:
    """The URL clients reach the bound socket at."""
    host, port = sock.getsockname()[:2]
    scheme = "https" if settings.server.tls_cert else "http"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


async def serve_http(tss: TSSApp, sock: socket.socket, stop: asyncio.Event) -> None:
    """Serve the API and the dashboard on ``sock`` until ``stop`` is set; in-flight requests
    get a few seconds."""
    server = tss.settings.server
    base = tss.settings.base_dir()
    app = create_app(tss)
    config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=5,
        http=protocol_with_header_timeout(tss.settings.api.header_timeout),
        ssl_certfile=str(Path(base, server.tls_cert)) if server.tls_cert else None,
        ssl_keyfile=str(Path(base, server.tls_key)) if server.tls_key else None,
    )
    http = _Server(config)
    serving = asyncio.create_task(http.serve(sockets=[sock]), name="tss-http")
    done = asyncio.Event()
    serving.add_done_callback(lambda _: done.set())
    await wait_first(stop, done)
    app.state.api.closing.set()
    http.should_exit = True
    try:
        await serving
    except SystemExit as exc:  # uvicorn exits when it cannot start (a bad TLS file)
        raise ConfigError(f"the API server could not start (exit {exc.code}); see the log") from exc
