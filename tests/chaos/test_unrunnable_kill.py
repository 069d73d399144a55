"""SIGKILL workers under `tss scheduler` with a short ``scheduler.unrunnable_after``: when the
only worker of a pool dies, that pool's queued runs fail with the reason once the bound
has passed; when every worker dies (a deploy gone wrong), nothing is failed, and the runs
run once a worker is back."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.server_helpers import read_runs, start_server, stop_server, tss_ok, wait_for
from tests.e2e.server_helpers import write_config as write
from tss.core.models import Run, WorkerInfo
from tss.core.states import RunState
from tss.store.sqlite import SQLiteStore

pytestmark = pytest.mark.slow
BOUND = 1.0
SECTIONS = {
    "broker": {"url": "store://"},
    "worker": {"heartbeat_interval": 0.5, "lease": 2, "grace_period": 1},
    "scheduler": {
        "unrunnable_after": BOUND, "dead_worker_after": 2, "reap_interval": 0.5,
        "max_sleep": 0.5,
    },
}  # fmt: skip


def workers(db: Path) -> dict[str, str]:
    async def body() -> list[WorkerInfo]:
        store = SQLiteStore(f"sqlite:///{db}")
        await store.start()
        try:
            return await store.list_workers()
        finally:
            await store.close()

    return {w.id: w.state for w in asyncio.run(body())}


def trigger(config: Path, job: str) -> str:
    return tss_ok(config, "job", "run", job).split()[0]


def run_of(db: Path, run_id: str) -> Run:
    return next(r for r in read_runs(db) if r.id == run_id)


def test_a_dead_pool_fails_its_runs_and_a_dead_fleet_fails_nothing(tmp_path: Path) -> None:
    jobs = [{"name": "on-gpu", "type": "noop", "pool": "gpu"}, {"name": "on-cpu", "type": "noop"}]
    config = write(tmp_path, jobs, **SECTIONS)
    tss_ok(config, "job", "apply", "-f", str(config))
    db, log = tmp_path / "tss.db", tmp_path / "processes.log"
    procs = {
        "scheduler": start_server(config, log, ("scheduler",)),
        "cpu-1": start_server(config, log, ("worker", "--worker-id", "cpu-1")),
        "gpu-1": start_server(config, log, ("worker", "--worker-id", "gpu-1", "--pool", "gpu")),
    }
    try:
        wait_for(lambda: workers(db) == {"cpu-1": "up", "gpu-1": "up"}, 30, "two workers", log)
        procs["gpu-1"].send_signal(signal.SIGKILL)
        procs["gpu-1"].wait(10)
        gpu = trigger(config, "on-gpu")
        cpu = trigger(config, "on-cpu")
        wait_for(lambda: run_of(db, gpu).state.terminal, 30, "the gpu run to end", log)
        failed = run_of(db, gpu)
        assert failed.state is RunState.FAILED and failed.attempt == 0
        assert failed.error is not None and failed.error.type == "Unrunnable"
        assert failed.error.message == "no live worker serves pool 'gpu'"
        assert workers(db)["gpu-1"] == "dead"  # not failed while its worker still looked up
        wait_for(lambda: run_of(db, cpu).state is RunState.SUCCEEDED, 30, "the cpu run", log)

        procs["cpu-1"].send_signal(signal.SIGKILL)  # now no worker is up at all
        procs["cpu-1"].wait(10)
        waiting = trigger(config, "on-cpu")
        wait_for(lambda: workers(db)["cpu-1"] == "dead", 30, "cpu-1 to be marked dead", log)
        time.sleep(BOUND + 2.5)  # past the bound and two checks: it must still wait
        assert run_of(db, waiting).state is RunState.QUEUED
        procs["cpu-2"] = start_server(config, log, ("worker", "--worker-id", "cpu-2"))
        wait_for(lambda: run_of(db, waiting).state.terminal, 30, "the waiting run", log)
        assert run_of(db, waiting).state is RunState.SUCCEEDED
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                stop_server(proc)
