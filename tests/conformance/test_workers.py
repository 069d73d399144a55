"""Workers: registration, heartbeats, states, and marking the silent ones dead."""

from __future__ import annotations

from collections.abc import Callable

from tss.core.models import WorkerInfo
from tss.store.base import Store

from .support import running


def worker(worker_id: str, **fields: object) -> WorkerInfo:
    data: dict[str, object] = {
        "id": worker_id,
        "hostname": "host-1",
        "pid": 4242,
        "pools": ["default", "io"],
        "task_types": ["noop", "shell"],
        "concurrency": 4,
        "cores": 2.0,
        "memory": 1024,
        "version": "0.1.0",
    }
    data.update(fields)
    return WorkerInfo(**data)  # type: ignore[arg-type]


async def by_id(store: Store) -> dict[str, WorkerInfo]:
    return {w.id: w for w in await store.list_workers()}


async def test_register_and_list(store: Store) -> None:
    assert await store.list_workers() == []
    await store.register_worker(worker("w1"))
    await store.register_worker(worker("w2", pools=["gpu"]))
    workers = await by_id(store)
    assert sorted(workers) == ["w1", "w2"]
    w1 = workers["w1"]
    assert (w1.hostname, w1.pid, w1.pools, w1.task_types) == (
        "host-1",
        4242,
        ["default", "io"],
        ["noop", "shell"],
    )
    assert (w1.concurrency, w1.cores, w1.memory, w1.version) == (4, 2.0, 1024, "0.1.0")
    assert w1.state == "up"
    assert w1.last_heartbeat is not None
    assert workers["w2"].pools == ["gpu"]


async def test_labels_are_kept(store: Store) -> None:
    await store.register_worker(worker("w1", labels=["gpu", "region=eu"]))
    await store.register_worker(worker("w2"))
    workers = await by_id(store)
    assert workers["w1"].labels == ["gpu", "region=eu"]
    assert workers["w2"].labels == []
    await store.register_worker(worker("w1", labels=["cpu"]))
    assert (await by_id(store))["w1"].labels == ["cpu"]


async def test_registering_again_replaces(store: Store) -> None:
    await store.register_worker(worker("w1", pid=1))
    await store.set_worker_state("w1", "dead")
    await store.register_worker(worker("w1", pid=2, pools=["io"]))
    [w1] = await store.list_workers()
    assert (w1.pid, w1.pools, w1.state) == (2, ["io"], "up")


async def test_registering_records_the_running_count(store: Store) -> None:
    info = worker("w1")
    info.running = 3
    await store.register_worker(info)
    [w1] = await store.list_workers()
    assert w1.running == 3


async def test_heartbeat_updates_liveness_and_running_count(
    store: Store, advance: Callable[[float], None]
) -> None:
    await store.register_worker(worker("w1"))
    registered = (await by_id(store))["w1"].last_heartbeat
    assert registered is not None
    a = await running(store, worker="w1")
    b = await running(store, worker="w1")
    advance(0.05)
    await store.heartbeat("w1", [(a.id, 1), (b.id, 1)], lease=30)
    w1 = (await by_id(store))["w1"]
    assert w1.running == 2
    assert w1.last_heartbeat is not None and w1.last_heartbeat > registered
    await store.heartbeat("w1", [(a.id, 1)], lease=30)
    assert (await by_id(store))["w1"].running == 1


async def test_set_worker_state(store: Store) -> None:
    await store.register_worker(worker("w1"))
    await store.set_worker_state("w1", "draining")
    assert (await by_id(store))["w1"].state == "draining"
    await store.set_worker_state("w1", "down")
    assert (await by_id(store))["w1"].state == "down"


async def test_silent_workers_are_marked_dead(
    store: Store, advance: Callable[[float], None]
) -> None:
    for name in ("quiet", "alive", "draining", "stopped"):
        await store.register_worker(worker(name))
    await store.set_worker_state("draining", "draining")
    await store.set_worker_state("stopped", "down")
    # On a real clock (PostgreSQL, Redis) "alive" must stay fresher than ``silent`` through
    # the calls below, and the others silent longer: a second apart, for a loaded machine.
    silent = 1.0
    advance(silent + 0.2)
    await store.heartbeat("alive", [], lease=30)
    assert await store.mark_dead_workers(dead_after=60) == []
    dead = await store.mark_dead_workers(dead_after=silent)
    assert sorted(dead) == ["draining", "quiet"]
    states = {w.id: w.state for w in await store.list_workers()}
    assert states == {"quiet": "dead", "alive": "up", "draining": "dead", "stopped": "down"}
    assert await store.mark_dead_workers(dead_after=silent) == []  # already dead
