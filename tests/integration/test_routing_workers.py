"""Capability routing end to end: two workers of different task types and labels on one
store and one broker each take only the runs they can run, on every broker.

Worker ``gpu`` runs ``noop`` only and has the label ``gpu``; worker ``shell`` runs ``noop``
and ``shell`` and has no labels. ``shell`` runs can only go to the second, runs that
require ``gpu`` only to the first, plain ``noop`` runs to either. On the store broker the
store's claim passes over what a worker cannot run; on the others the worker declines the
delivery (a nack: not claimed, not failed) and another worker takes it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.conformance.brokers import BrokerFactory, RabbitMQFactory, RedisFactory
from tests.conformance.support import ACTOR, new_run
from tests.servers import run
from tss.broker.base import Broker, RunMessage
from tss.broker.local import LocalBroker
from tss.broker.store import StoreBroker
from tss.config import WorkerConfig
from tss.core.models import NewRun, Run
from tss.core.states import RunState
from tss.service.backends import open_store
from tss.store.base import Store
from tss.tasks.noop import NoopTask
from tss.tasks.registry import TaskRegistry
from tss.tasks.shell import ShellTask
from tss.worker.worker import Worker

EACH = 8
OpenBroker = Callable[[], Awaitable[Broker]]


@asynccontextmanager
async def deployment(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Store, OpenBroker]]:
    """A SQLite store and a way to open brokers of ``kind`` on one set of queues."""
    store = open_store(f"sqlite:///{tmp_path}/tss.db")
    await store.start()
    factory: BrokerFactory | None = None
    local = LocalBroker()

    async def open_one() -> Broker:
        if kind == "store":
            return StoreBroker(store)
        if kind == "local":
            return local  # in-process: the workers share it, as in one `tss server`
        assert factory is not None
        return await factory.open()

    if kind == "rabbitmq":
        factory = RabbitMQFactory(tmp_path)
        factory.pools.add("default")  # its queue is removed after the test
    elif kind == "redis":
        factory = RedisFactory(tmp_path)
    try:
        yield store, open_one
    finally:
        if factory is not None:
            await factory.close()
        await store.close()


def worker(store: Store, broker: Broker, name: str, labels: list[str], *types: object) -> Worker:
    settings = WorkerConfig(
        id=name, labels=labels, concurrency=4, heartbeat_interval=0.2, lease=10, grace_period=1
    )
    return Worker(store, broker, TaskRegistry(list(types)), settings)  # type: ignore[arg-type]


def runs_to_make() -> list[NewRun]:
    shell = [
        new_run("shell-job", task_type="shell", params={"argv": ["true"]}) for _ in range(EACH)
    ]
    gpu = [new_run("gpu-job", requires=("gpu",)) for _ in range(EACH)]
    plain = [new_run("plain-job") for _ in range(EACH)]
    # Interleaved, so each worker meets runs it cannot run at the head of the queue.
    return [r for trio in zip(shell, gpu, plain, strict=True) for r in trio]


@pytest.mark.parametrize("kind", ["store", "local", "rabbitmq", "redis"])
def test_two_workers_each_take_only_the_runs_they_can_run(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def body() -> list[Run]:
        async with deployment(kind, tmp_path) as (store, open_broker):
            created = [r for r, _ in await store.create_runs(runs_to_make(), actor=ACTOR)]
            publisher = await open_broker()
            await publisher.publish([RunMessage.of(r) for r in created])
            workers = [
                worker(store, await open_broker(), "gpu", ["gpu"], NoopTask()),
                worker(store, await open_broker(), "shell", [], NoopTask(), ShellTask()),
            ]
            stop = asyncio.Event()
            tasks = [asyncio.create_task(w.run(stop)) for w in workers]
            ids = [r.id for r in created]
            deadline = time.monotonic() + 50  # seconds at most, unless in a livelock
            try:
                while True:
                    found = [await store.get_run(i) for i in ids]
                    if all(r.state.terminal for r in found) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
            finally:
                stop.set()
                await asyncio.wait_for(asyncio.gather(*tasks), 15)
            return found

    with caplog.at_level(logging.WARNING, logger="tss.worker.worker"):
        found = run(body())
    assert [r.state for r in found] == [RunState.SUCCEEDED] * len(found), [
        (r.job, r.state, r.reason) for r in found
    ]
    by_job = {job: {r.worker_id for r in found if r.job == job} for job in {r.job for r in found}}
    assert by_job["shell-job"] == {"shell"}
    assert by_job["gpu-job"] == {"gpu"}
    assert by_job["plain-job"] <= {"gpu", "shell"}
    assert {r.attempt for r in found} == {1}  # a declined delivery is never claimed
    # A worker says once per run why it leaves it to another (brokers that deliver).
    # (Each run here is declined by one worker at most: the one that cannot run it.)
    declines = Counter(m.split()[1] for m in caplog.messages if "leaving it to a worker" in m)
    assert all(count == 1 for count in declines.values()), declines
