"""Benchmarks of the embedded default (SQLite store + in-process broker, one process).

1. throughput: submit N no-op runs in bulk, then measure end-to-end runs per second until
   every run is recorded ``succeeded`` with its full history (run, attempt, events).
2. lateness: make K jobs due in the same second and measure fire lateness, the run's start
   minus its scheduled time: p50, p99 and max.

    .venv/bin/python bench/embedded.py throughput -n 20000
    .venv/bin/python bench/embedded.py lateness -k 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import NewRun, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.service import TSSApp
from tss.store.paging import collect


def _settings(db: Path, concurrency: int) -> Settings:
    return Settings(
        store={"url": f"sqlite:///{db}"},
        broker={"url": "local://"},
        worker={"concurrency": concurrency, "heartbeat_interval": 5},
        logging={"level": "WARNING"},
    )


async def _serve(app: TSSApp) -> tuple[asyncio.Event, asyncio.Task[None]]:
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    while app.scheduler is None or app.worker is None:
        await asyncio.sleep(0.01)
    return stop, task


async def throughput(n: int, concurrency: int, folder: Path) -> dict[str, float]:
    app = TSSApp(_settings(folder / "tss.db", concurrency))
    await app.start()
    await app.jobs.apply([{"name": "noop", "type": "noop"}])
    policy = RunPolicy.of((await app.store.get_job("noop")).spec)
    stop, task = await _serve(app)
    assert app.scheduler is not None and app.worker is not None
    started = time.perf_counter()
    chunk = 1000
    for i in range(0, n, chunk):
        runs = [
            NewRun(new_id(), "noop", RunState.QUEUED, "manual", {}, 0, "default", policy)
            for _ in range(min(chunk, n - i))
        ]
        created = await app.store.create_runs(runs, actor="bench")
        await app.scheduler.publish([r for r, _ in created])
    submitted = time.perf_counter()
    while app.worker.completed < n:
        await asyncio.sleep(0.01)
    finished = time.perf_counter()
    stop.set()
    await task
    counts = await app.store.count_runs(RunFilter(job="noop"))
    events = await app.store.list_events(limit=1_000_000)
    await app.close()
    assert counts.get(RunState.SUCCEEDED, 0) == n, counts
    assert len(events) >= 3 * n, len(events)  # created, running, succeeded
    return {
        "runs": n,
        "submit_per_s": n / (submitted - started),
        "end_to_end_per_s": n / (finished - started),
        "seconds": finished - started,
    }


async def lateness(k: int, concurrency: int, folder: Path) -> dict[str, float]:
    app = TSSApp(_settings(folder / "tss.db", concurrency))
    await app.start()
    due = (await app.store.now()).replace(microsecond=0) + timedelta(seconds=3)
    await app.jobs.apply(
        [
            {"name": f"job-{i}", "type": "noop", "schedule": {"at": due.isoformat()}}
            for i in range(k)
        ]
    )
    stop, task = await _serve(app)
    assert app.worker is not None
    while app.worker.completed < k:
        await asyncio.sleep(0.05)
    stop.set()
    await task
    late: list[float] = []
    runs = await collect(lambda size, cursor: app.store.list_runs(limit=size, cursor=cursor))
    for run in runs:
        assert run.started_at is not None and run.scheduled_for is not None
        late.append((run.started_at - run.scheduled_for).total_seconds() * 1000)
    await app.close()
    assert len(late) == k, len(late)
    late.sort()
    return {
        "jobs": k,
        "p50_ms": statistics.median(late),
        "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))],
        "max_ms": late[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("which", choices=["throughput", "lateness"])
    parser.add_argument("-n", type=int, default=20_000, help="runs for throughput")
    parser.add_argument("-k", type=int, default=1_000, help="jobs due at once for lateness")
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory(prefix="tss-bench-") as tmp:
        if args.which == "throughput":
            result = asyncio.run(throughput(args.n, args.concurrency, Path(tmp)))
        else:
            result = asyncio.run(lateness(args.k, args.concurrency, Path(tmp)))
    for key, value in result.items():
        print(f"{key:>18}: {value:,.1f}")


if __name__ == "__main__":
    main()
