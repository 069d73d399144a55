"""A real HTTP server for the ``http`` task type's tests: the standard library's threaded
server on a loopback address and an ephemeral port, keeping connections alive.

Routes (any method):

- ``/json``: 200 with a JSON echo of the request (method, path, headers, body);
- ``/status/CODE?retry_after=S``: that status, a text body saying so, ``Retry-After: S``;
- ``/slow/SECONDS``: 200 after sleeping;
- ``/redirect/N``: 302 to ``/redirect/N-1``; ``/redirect/0`` is ``/json``;
- ``/to?url=U&code=C``: a ``C`` (302) redirect to ``U``;
- ``/big/N``: ``N`` bytes of text;
- ``/flaky/KEY/N``: 429 with ``Retry-After: 1`` for the first ``N`` calls of ``KEY``,
  then ``/json``.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the receiver read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: str
    at: float


@dataclass
class Receiver:
    host: str
    port: int
    seen: list[Seen] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as webhook receivers do
    server: _Server

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        receiver = self.server.receiver
        seen = Seen(self.command, self.path, dict(self.headers.items()), body, time.time())
        receiver.seen.append(seen)
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        route, _, rest = parts.path.lstrip("/").partition("/")
        if route == "status":
            extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            self._send(int(rest), f"status {rest} from the receiver\nsecond line", extra)
        elif route == "slow":
            time.sleep(float(rest))
            self._json(seen)
        elif route == "redirect":
            left = int(rest)
            where = f"/redirect/{left - 1}" if left > 0 else "/json"
            self._send(302, "", {"Location": where})
        elif route == "to":
            self._send(int(query.get("code", 302)), "", {"Location": query["url"]})
        elif route == "big":
            self._send(200, "x" * int(rest))
        elif route == "flaky":
            key, _, count = rest.partition("/")
            receiver.calls[key] += 1
            if receiver.calls[key] <= int(count):
                self._send(429, "slow down", {"Retry-After": "1"})
            else:
                self._json(seen)
        else:
            self._json(seen)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

    def _json(self, seen: Seen) -> None:
        echo = {"method": seen.method, "path": seen.path, "headers": seen.headers}
        echo["body"] = seen.body
        self._send(200, json.dumps(echo), {"Content-Type": "application/json"})

    def _send(self, code: int, text: str, headers: dict[str, Any] | None = None) -> None:
        data = text.encode()
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read what was seen instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Kept-alive connections hold their threads: closing must not wait for them.
    block_on_close = False
    receiver: Receiver


@contextmanager
def receiving(host: str = "127.0.0.1", port: int = 0) -> Iterator[Receiver]:
    """A receiver on ``host`` and ``port`` (a free one by default), served on a thread
    until the block ends."""
    server = _Server((host, port), _Handler)
    server.receiver = Receiver(host, server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
