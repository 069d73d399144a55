"""The store goes down: health answers at once, readiness says what is down within a second
and says ready again within a second of the store coming back.

The shared servers are never touched: the store URL goes through a TCP proxy the test cuts
and restores, or to a port that accepts connections and never answers.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.server_helpers import start_server, stop_server, wait_for, write_config
from tests.servers import (
    RABBITMQ_START,
    RABBITMQ_URL,
    REDIS_URL,
    PgDatabases,
    redis_prefix,
    require_server,
)
from tests.tcp_proxy import TcpProxy, black_hole, proxy_for
from tss.api.health import READY_TIMEOUT

pytestmark = pytest.mark.slow

#: where a serving process says its address: in its banner once started ("api  URL/api/v1"),
#: or once a first try to reach the store fails or is slow ("api URL: /readyz answers 503 ...")
_URL = re.compile(r"\bapi\s+(http://127\.0\.0\.1:\d+)")

AUTH_OFF = {"api": {"auth": False}, "logging": {"level": "WARNING"}}


@contextmanager
def store_behind_proxy(kind: str, config: pytest.Config) -> Iterator[tuple[TcpProxy, str]]:
    """A fresh store of ``kind`` (``postgres``, ``redis``) reached through a proxy: the
    proxy and the store URL through it."""
    if kind == "redis":
        with redis_prefix("tss-outage") as tag, proxy_for(REDIS_URL) as proxy:
            yield proxy, proxy.through(REDIS_URL, f"prefix={tag}")
        return
    databases = PgDatabases.shared(config)
    url = databases.create()
    try:
        with proxy_for(url) as proxy:
            yield proxy, proxy.through(url)
    finally:
        databases.drop(url)


class Node:
    """A serving ``tss`` process and its health routes."""

    def __init__(
        self, tmp_path: Path, command: str, store_url: str, broker_url: str = "store://"
    ) -> None:
        sections: dict[str, Any] = {
            **AUTH_OFF,
            "store": {"url": store_url},
            "broker": {"url": broker_url},
            "server": {"port": 0},  # its own free port, read from its log (_URL)
            "scheduler": {"max_sleep": 0.2},
        }
        config = write_config(tmp_path, [], **sections)
        self.log = tmp_path / "server.log"
        self.proc = start_server(config, self.log, (command,))
        self._base: str | None = None

    @property
    def base(self) -> str:
        """The server's URL, as it printed it (fails until it has)."""
        if self._base is None:
            found = _URL.search(self.log.read_text(errors="replace"))
            assert found is not None, f"no URL in the server's log yet: {self.log.read_text()}"
            self._base = found[1]
        return self._base

    def get(self, path: str) -> tuple[int, Any, float]:
        """Status, JSON body and seconds taken (fails past 5 s: the check must be bounded)."""
        started = time.monotonic()
        try:
            answer = httpx.get(self.base + path, timeout=5)
        except httpx.TransportError as exc:
            code = self.proc.poll()
            state = "still running" if code is None else f"exited with {code}"
            tail = self.log.read_text()[-4000:] if self.log.exists() else ""
            raise AssertionError(
                f"GET {path}: {exc!r}; the server {state}\n--- server log ---\n{tail}"
            ) from exc
        return answer.status_code, answer.json(), time.monotonic() - started

    def serving(self) -> bool:
        if self._base is None and not _URL.search(self.log.read_text(errors="replace")):
            return False
        try:
            httpx.get(self.base + "/healthz", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    def ready_within(self, want: int, seconds: float) -> tuple[Any, float]:
        """Poll /readyz until it answers ``want``; its body and how long that took."""
        started = time.monotonic()
        while True:
            status, body, took = self.get("/readyz")
            # Bounded by READY_TIMEOUT (0.8 s), not by a driver's own timeouts (5 s and
            # more): the margin is for a loaded machine, not for a slower check.
            assert took < READY_TIMEOUT + 0.7, f"/readyz took {took:.2f}s"
            elapsed = time.monotonic() - started
            if status == want:
                return body, elapsed
            assert elapsed < seconds, f"/readyz still {status} after {elapsed:.1f}s: {body}"
            time.sleep(0.05)


@pytest.fixture
def nodes() -> Iterator[list[Node]]:
    made: list[Node] = []
    yield made
    for node in made:
        if node.proc.poll() is None:
            node.proc.kill()
        node.proc.wait(10)


@pytest.mark.parametrize(
    ("command", "kind"), [("api", "postgres"), ("server", "postgres"), ("server", "redis")]
)
def test_store_down_at_start_then_back(
    tmp_path: Path, nodes: list[Node], command: str, kind: str, pytestconfig: pytest.Config
) -> None:
    with store_behind_proxy(kind, pytestconfig) as (proxy, url):
        proxy.down()
        node = Node(tmp_path, command, url)
        nodes.append(node)
        wait_for(node.serving, 20, "the health route", node.log)
        status, body, took = node.get("/healthz")
        assert (status, body) == (200, {"status": "ok"}) and took < 1.0
        body, _ = node.ready_within(503, 1)
        assert body["status"] == "unavailable"
        assert body["error"]["code"] == "unavailable"
        assert set(body["checks"]) == {"store", "broker"}
        assert body["checks"]["store"] != "ok"
        wait_for(lambda: "retrying every" in node.log.read_text(), 10, "a failed try", node.log)
        assert f"127.0.0.1:{proxy.port}" in node.get("/readyz")[1]["checks"]["store"]
        proxy.up()
        # Tries come every 0.5 s: ready within a second (with room for a loaded machine).
        _, back_after = node.ready_within(200, 2)
        print(f"{command}/{kind}: 200 {back_after:.2f}s after the store came back")
        assert stop_server(node.proc) == 0


@pytest.mark.parametrize(("command", "kind"), [("server", "postgres"), ("api", "redis")])
def test_store_goes_away_and_comes_back(
    tmp_path: Path, nodes: list[Node], command: str, kind: str, pytestconfig: pytest.Config
) -> None:
    with store_behind_proxy(kind, pytestconfig) as (proxy, url):
        node = Node(tmp_path, command, url)
        nodes.append(node)
        wait_for(node.serving, 30, "the health route", node.log)
        node.ready_within(200, 30)
        for _ in range(2):  # twice: the second outage is seen as surely as the first
            proxy.down()
            body, down_after = node.ready_within(503, 1)
            assert body["checks"]["store"] != "ok", body
            assert "store" in body["error"]["message"]
            status, _, took = node.get("/healthz")
            assert status == 200 and took < 1.0
            proxy.up()
            _, back_after = node.ready_within(200, 1)
            print(f"{command}/{kind}: 503 after {down_after:.2f}s, 200 after {back_after:.2f}s")
        assert stop_server(node.proc) == 0


@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_store_that_stops_answering(
    tmp_path: Path, nodes: list[Node], kind: str, pytestconfig: pytest.Config
) -> None:
    """Connections stay open and nothing comes back (a hung server): readiness must not
    wait for the driver's own timeouts."""
    with store_behind_proxy(kind, pytestconfig) as (proxy, url):
        node = Node(tmp_path, "api", url)
        nodes.append(node)
        wait_for(node.serving, 30, "the health route", node.log)
        node.ready_within(200, 30)
        proxy.stall()
        for _ in range(3):  # each check is bounded, the first and those after it
            body, _ = node.ready_within(503, 1)
            assert body["checks"]["store"] != "ok", body
        assert node.get("/healthz")[0] == 200
        proxy.up()
        _, back_after = node.ready_within(200, 1)
        print(f"{kind}: 200 {back_after:.2f}s after the store answered again")
        assert stop_server(node.proc) == 0


def test_broker_goes_away_and_comes_back(
    tmp_path: Path, nodes: list[Node], pytestconfig: pytest.Config
) -> None:
    """The broker is named when it is the one down; the store stays ok."""
    require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
    databases = PgDatabases.shared(pytestconfig)
    store_url = databases.create()
    try:
        with proxy_for(RABBITMQ_URL) as proxy:
            tag = f"tss-outage-{uuid.uuid4().hex[:12]}"
            broker = proxy.through(RABBITMQ_URL, f"prefix={tag}")
            node = Node(tmp_path, "api", store_url, broker)
            nodes.append(node)
            wait_for(node.serving, 30, "the health route", node.log)
            node.ready_within(200, 30)
            proxy.down()
            body, _ = node.ready_within(503, 1)
            assert body["checks"]["store"] == "ok", body
            assert body["checks"]["broker"] != "ok", body
            proxy.up()
            _, back_after = node.ready_within(200, 15)  # the broker reconnects with backoff
            print(f"rabbitmq: 200 {back_after:.2f}s after it came back")
            assert stop_server(node.proc) == 0
    finally:
        databases.drop(store_url)


def test_store_that_never_answers(tmp_path: Path, nodes: list[Node]) -> None:
    """A PostgreSQL port that accepts and stays silent (a hung server, a dropped route)."""
    with black_hole() as port:
        node = Node(tmp_path, "api", f"postgresql://postgres@127.0.0.1:{port}/test")
        nodes.append(node)
        # The address is said a second into a connect that hangs, not after its 10 s
        # timeout: the health route answers while that first connect is still pending.
        # (Judged by what /readyz says, not by a deadline from the spawn: a loaded machine
        # can take seconds just to import.)
        wait_for(node.serving, 30, "the health route", node.log)
        assert node.get("/healthz")[0] == 200
        body, _ = node.ready_within(503, 1)
        assert body["checks"]["store"].startswith("not connected yet: connecting"), body
        assert stop_server(node.proc) == 0


def test_sqlite_store_is_ready_at_once(tmp_path: Path, nodes: list[Node]) -> None:
    """SQLite has no server to lose: ready as soon as the file is open (a file that cannot
    be opened stops the process instead: see tests/e2e/test_api_server.py)."""
    node = Node(tmp_path, "server", f"sqlite:///{tmp_path / 'tss.db'}")
    nodes.append(node)
    wait_for(node.serving, 20, "the health route", node.log)
    assert node.get("/healthz")[0] == 200
    node.ready_within(200, 1)
    assert stop_server(node.proc) == 0
