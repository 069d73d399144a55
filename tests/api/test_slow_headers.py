"""Finding 14: a client that never finishes its request head is disconnected within
``api.header_timeout``, over a real socket against the real server on loopback (the
timeout is shortened for the test)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api.live import LiveAPI, live_api

TIMEOUT = 0.5
#: how long past the timeout a close may take on a loaded machine
SLACK = 2.5


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAPI]:
    folder: Path = tmp_path_factory.mktemp("slow")
    with live_api(folder, api={"header_timeout": TIMEOUT}) as live:
        yield live


def connect(node: LiveAPI) -> socket.socket:
    url = urlsplit(node.url)
    assert url.hostname and url.port
    sock = socket.create_connection((url.hostname, url.port), timeout=5)
    sock.settimeout(0.05)
    return sock


def closed(sock: socket.socket) -> bool:
    """Whether the server has closed the connection (EOF or reset)."""
    try:
        return sock.recv(65536) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def trickle_until_closed(sock: socket.socket, limit: float) -> float:
    """Send a header line every 50 ms until the server hangs up; the seconds it took."""
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < limit:
        try:
            sock.sendall(b"X-Slow-%d: a\r\n" % n)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start
        n += 1
        if closed(sock):
            return time.monotonic() - start
    raise AssertionError(f"still open after {limit} s of trickled headers")


def test_a_trickled_request_head_is_cut_off(node: LiveAPI) -> None:
    with connect(node) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        took = trickle_until_closed(sock, TIMEOUT + SLACK)
    assert took >= TIMEOUT * 0.8


def test_a_connection_that_sends_nothing_is_closed(node: LiveAPI) -> None:
    with connect(node) as sock:
        start = time.monotonic()
        while not closed(sock):
            assert time.monotonic() - start < TIMEOUT + SLACK, "an idle socket stayed open"


def test_the_next_head_on_a_kept_alive_connection_has_a_deadline_too(node: LiveAPI) -> None:
    with connect(node) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        sock.settimeout(0.05)
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        trickle_until_closed(sock, TIMEOUT + SLACK)


def test_a_head_sent_in_time_in_pieces_is_served(node: LiveAPI) -> None:
    with connect(node) as sock:
        for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
            sock.sendall(part)
            time.sleep(TIMEOUT / 5)
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_the_setting_defaults_to_ten_seconds(node: LiveAPI) -> None:
    from tss.config import ApiConfig

    assert ApiConfig().header_timeout == 10
    assert ApiConfig(header_timeout="2s").header_timeout == 2
