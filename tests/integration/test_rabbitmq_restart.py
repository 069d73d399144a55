"""RabbitMQ goes away in the middle of a stream of runs; every run still ends once.

A real scheduler and worker (one TSS node on SQLite) use the broker through a loopback
proxy (``tests/tcp_proxy.py``), which drops or refuses their connections as a
restarting server would. The shared RabbitMQ server itself is never restarted; the
server-side variant closes only this test's connections, found by their name.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from tests.integration.amqp import broker_url, delete_everything
from tests.servers import RABBITMQ_START, RABBITMQ_URL, require_server, run
from tests.tcp_proxy import TcpProxy, proxy_for
from tss.broker.rabbitmq import RabbitMQBroker
from tss.config import Settings
from tss.core.states import RunState
from tss.errors import BrokerError
from tss.service import TSSApp
from tss.tasks import TaskContext

pytestmark = pytest.mark.slow

RUNS = 240
#: disruptions start at these seconds into the stream (which lasts 4 s or more), each once
#: the broker is back from the one before
WHEN = (1.0, 2.2, 3.4)


def record(path: str, ctx: TaskContext) -> str:
    """The job: note each execution, one line per run (appends of one line are atomic)."""
    with open(path, "a") as out:
        out.write(f"{ctx.run_id} {ctx.attempt}\n")
    return "done"


async def close_named_connections(prefix: str) -> int:
    """Have the server close the connections whose name starts with ``prefix`` (and only
    those: other tests share the server), as a restarting server does: CONNECTION_FORCED."""
    listing = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "list_connections", "pid", "client_properties", "-q",
        "--no-table-headers", stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await listing.communicate()
    assert listing.returncode == 0, "rabbitmqctl list_connections failed"
    closed = 0
    for line in out.decode().splitlines():
        pid, _, props = line.partition("\t")
        if f'{{"connection_name","{prefix}' in props:
            closing = await asyncio.create_subprocess_exec(
                "rabbitmqctl", "close_connection", pid, "TSS restart test",
                stdout=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            assert await closing.wait() == 0, f"rabbitmqctl close_connection {pid} failed"
            closed += 1
    return closed


async def cut(proxy: TcpProxy, prefix: str) -> None:
    proxy.cut()


async def outage(proxy: TcpProxy, prefix: str) -> None:
    proxy.down()
    await asyncio.sleep(1.5)  # long enough for failed reconnections and failed publishes
    proxy.up()


async def server_close(proxy: TcpProxy, prefix: str) -> None:
    assert await close_named_connections(f"tss-{prefix}-") >= 1


DISRUPTIONS: dict[str, Callable[[TcpProxy, str], Awaitable[None]]] = {
    "cut": cut,
    "outage": outage,
    "server-close": server_close,
}


async def up(app: TSSApp) -> bool:
    try:
        await app.broker.ping()
    except BrokerError:
        return False
    return True


@pytest.mark.parametrize("disruption", list(DISRUPTIONS))
def test_every_run_ends_once_across_broker_restarts(
    disruption: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    require_server("RabbitMQ", RABBITMQ_URL, RABBITMQ_START)
    if disruption == "server-close" and shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on PATH (the proxy variants cover the same ground)")
    with proxy_for(RABBITMQ_URL) as proxy:
        run(stream(proxy, disruption, tmp_path, caplog), 120)


async def stream(
    proxy: TcpProxy, disruption: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    executions = tmp_path / "executions.txt"
    settings = Settings(
        store={"url": f"sqlite:///{tmp_path}/tss.db"},
        broker={"url": broker_url(proxy, prefix)},
        worker={"heartbeat_interval": 0.2, "lease": 10, "grace_period": 5, "concurrency": 8},
        scheduler={"max_sleep": 0.2, "reconcile_interval": 0.25, "unpublished_after": 0.5},
    )
    app = TSSApp(settings)
    assert isinstance(app.broker, RabbitMQBroker)
    stop = asyncio.Event()
    run_ids: list[str] = []
    try:
        await app.start()
        await app.jobs.apply(
            [
                {
                    "name": "mark",
                    "type": "python",
                    "params": {
                        "function": f"{__name__}:record",
                        "kwargs": {"path": str(executions)},
                    },
                }
            ]
        )
        serving = asyncio.create_task(app.serve(stop))
        loop = asyncio.get_running_loop()
        began = loop.time()
        pending = list(WHEN)
        with caplog.at_level(logging.WARNING, logger="tss.broker.rabbitmq"):
            while len(run_ids) < RUNS or pending:
                assert loop.time() - began < 60, f"disruptions left: {pending}"
                created = await app.runs.trigger("mark", count=6)
                run_ids += [run.id for run, _ in created]
                if pending and loop.time() - began >= pending[0] and await up(app):
                    pending.pop(0)
                    await DISRUPTIONS[disruption](proxy, prefix)
                await asyncio.sleep(0.1)
            runs = await app.runs.wait(run_ids, timeout=45, poll=0.2)
        stop.set()
        await serving
        lost = [r for r in caplog.records if "lost the connection" in r.getMessage()]
        assert len(lost) >= len(WHEN), "every disruption must be noticed"

        assert len(run_ids) >= RUNS
        unfinished = [(r.id, r.state.value) for r in runs if r.state is not RunState.SUCCEEDED]
        assert not unfinished, f"{len(unfinished)} runs did not succeed: {unfinished[:5]}"
        assert all(r.attempt == 1 for r in runs), "a redelivery must not start a second attempt"
        executed = Counter(line.split()[0] for line in executions.read_text().splitlines())
        assert set(executed) == set(run_ids)
        assert max(executed.values()) == 1, "a run was executed twice"
        for run in runs[::20]:
            attempts = await app.store.list_attempts(run.id)
            assert [a.state for a in attempts] == [RunState.SUCCEEDED]
    finally:
        stop.set()
        broker = app.broker
        await app.close()
        proxy.down()
        assert isinstance(broker, RabbitMQBroker)
        await delete_everything(broker, ["default"])
