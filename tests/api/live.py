"""A real TSS node serving the REST API over HTTP on loopback, in a background thread.

The node is the same one ``tss server`` runs (store, broker, scheduler, worker and the
uvicorn server), on a SQLite file of the test's own, on a free port.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tss.config import Settings
from tss.core.merge import deep_merge
from tss.service import TSSApp
from tss.web import address, bind, serve_http

ADMIN = "admin-token-for-tests-0123456789"


class LiveAPI:
    """A node in a thread: ``url``, ``tss`` (its TSSApp) and ``call`` to run a coroutine on
    its loop (to read the store as the server sees it)."""

    def __init__(self, folder: Path, **overrides: Any) -> None:
        config: dict[str, Any] = {
            "store": {"url": f"sqlite:///{folder / 'tss.db'}"},
            "broker": {"url": "local://"},
            "server": {"host": "127.0.0.1", "port": 0},
            "api": {"admin_token": ADMIN},
            "worker": {"concurrency": 16, "heartbeat_interval": 0.5, "grace_period": 1},
            "scheduler": {"max_sleep": 0.2},
            "python_path": [str(Path(__file__).parent)],
        }
        self.settings = Settings(**deep_merge(config, overrides))
        self.tss = TSSApp(self.settings)
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="live-api", daemon=True)

    def start(self) -> LiveAPI:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the API did not start within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to the test thread by start()
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        sock = bind("127.0.0.1", 0)
        self.url = address(sock, self.settings)
        await self.tss.start()
        try:
            node = asyncio.create_task(self.tss.serve(self._stop))
            http = asyncio.create_task(serve_http(self.tss, sock, self._stop))
            await _until_listening(self.url)
            self._ready.set()
            await asyncio.gather(node, http)
        finally:
            sock.close()
            await self.tss.close()

    def call(self, coro: Any, timeout: float = 30) -> Any:
        """Run a coroutine on the node's loop and return its result."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def client(self, token: str | None = ADMIN) -> httpx.Client:
        """A plain HTTP client (tests assert status codes and bodies as a user sees them)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


async def _until_listening(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(200):
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{url} never answered /healthz")


@contextmanager
def live_api(folder: Path, **overrides: Any) -> Iterator[LiveAPI]:
    node = LiveAPI(folder, **overrides).start()
    try:
        yield node
    finally:
        node.stop()
