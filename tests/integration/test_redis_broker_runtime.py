"""Scheduler and worker through the Redis broker, on a SQLite store: a stream of runs, with
connections killed and with the Redis server restarted in the middle; every run ends once."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.test_redis_broker import (
    kill_connections,
    raw,  # noqa: F401 - a fixture
    redis_server,  # noqa: F401 - a fixture
    url,  # noqa: F401 - a fixture
)
from tests.servers import missing, run
from tests.tcp_proxy import free_port
from tss.broker.redis import RedisBroker
from tss.config import Settings
from tss.core.states import RunState
from tss.errors import BrokerError
from tss.service import TSSApp

RUNS = 60


def settings_for(tmp_path: Path, broker_url: str) -> Settings:
    return Settings(
        store={"url": f"sqlite:///{tmp_path}/tss.db"},
        broker={"url": broker_url},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1, "concurrency": 4},
        # Runs a restart took out of Redis are published again after a second.
        scheduler={"max_sleep": 0.2, "republish_after": 1, "reconcile_interval": 0.2},
    )


JOB = {"name": "nap", "params": {"function": "tasks_for_tests:sleep_for", "args": [0.02]}}


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[TSSApp]:
    app = TSSApp(settings)
    await app.start()
    await app.jobs.apply([JOB])
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    try:
        yield app
    finally:
        stop.set()
        await task
        await app.close()


async def stream_of_runs(app: TSSApp, midway: Callable[[], Any]) -> None:
    """Trigger RUNS runs, call ``midway`` once a few have ended, then check that each run
    ended exactly once, on its first attempt."""
    created = [run_ for run_, _ in await app.runs.trigger("nap", count=RUNS)]
    run_ids = [r.id for r in created]
    deadline = time.monotonic() + 20
    while sum(r.state.terminal for r in [await app.store.get_run(i) for i in run_ids]) < 5:
        assert time.monotonic() < deadline, "the first runs did not end"
        await asyncio.sleep(0.02)
    await midway()
    done = await app.runs.wait(run_ids, timeout=30, poll=0.05)
    assert [r.state for r in done] == [RunState.SUCCEEDED] * RUNS
    assert {r.attempt for r in done} == {1}
    for run_id in run_ids:
        events = await app.store.list_events(run_id=run_id, limit=100)
        ends = [e for e in events if e.target.terminal]
        assert len(ends) == 1, (run_id, [e.target for e in events])
        assert len(await app.store.list_attempts(run_id)) == 1


def test_a_stream_of_runs_survives_killed_connections(
    url: Callable[..., str],  # noqa: F811
    raw: redis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with serving(settings_for(tmp_path, url(reclaim_after=1))) as app:
            assert isinstance(app.broker, RedisBroker)
            broker = app.broker

            async def kill_three_times() -> None:
                killed = 0
                for _ in range(3):
                    killed += await asyncio.to_thread(kill_connections, raw, broker)
                    await asyncio.sleep(0.1)
                assert killed > 0

            await stream_of_runs(app, kill_three_times)

    run(body(), timeout=60)


# -- a restart, on a private server --------------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own, without persistence, that it can kill and restart."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        try:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    assert time.monotonic() < deadline, "redis-server did not start"
                    time.sleep(0.02)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    """A private server, not started yet."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing(
            "redis-server is not on PATH: the restart test starts and kills a server of its own "
            "(apt-get install redis-server)"
        )
    assert binary is not None
    server = PrivateRedis(binary)
    yield server
    server.kill()


def test_a_stream_of_runs_survives_a_redis_restart(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    private_redis.start()

    async def body() -> None:
        async with serving(settings_for(tmp_path, private_redis.url)) as app:

            async def restart() -> None:
                await asyncio.to_thread(private_redis.kill)  # no persistence: streams gone
                with pytest.raises(BrokerError, match="cannot be reached"):
                    await app.broker.ping()  # what /readyz reports
                await asyncio.sleep(0.5)
                await asyncio.to_thread(private_redis.start)
                await app.broker.ping()

            await stream_of_runs(app, restart)

    run(body(), timeout=60)


def test_a_node_started_without_redis_waits_for_it(
    private_redis: PrivateRedis, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> None:
        async with serving(settings_for(tmp_path, private_redis.url)) as app:
            created = [r for r, _ in await app.runs.trigger("nap", count=5)]
            await asyncio.sleep(1.0)  # the worker and the scheduler retry, nobody dies
            with pytest.raises(BrokerError, match="cannot be reached"):
                await app.broker.ping()  # what /readyz reports
            await asyncio.to_thread(private_redis.start)
            done = await app.runs.wait([r.id for r in created], timeout=20, poll=0.05)
            assert [r.state for r in done] == [RunState.SUCCEEDED] * 5

    run(body(), timeout=60)
    lines = [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]
    assert lines, "nobody said the broker cannot be reached"
    assert all(private_redis.url in line and "\n" not in line for line in lines)
    assert all("check that Redis is running" in line for line in lines)
