"""Benchmark of flows on the embedded default (SQLite store + in-process broker).

A flow of ``--width + 2`` jobs: one root, ``--width`` middle jobs that depend on it (the
fan-out), and one join job that depends on every middle job (the fan-in), all no-op. The
root is triggered; the flow runs to its end on the node's own worker. Reported:

- ``flow``: from the root's start to the join's end (store times).
- ``baseline``: the same number of no-op runs with no flow, all queued at once, from the
  first start to the last end: the same work without any deciding.
- ``overhead per job``: (flow - baseline) / jobs: what deciding and announcing the children
  costs per job (and per edge: the flow has 2 x width edges).
- the decision latencies: root end -> middle jobs queued, last middle end -> join queued.

Children that become queued are announced by the worker that recorded their parent's
end, so the benchmark runs with the scheduler's default settings.
The floor is an overhead under 5 ms per job; PASS/FAIL is printed, and exit status 1 on FAIL.

    .venv/bin/python bench/flows.py --width 998
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import NewRun, Run, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.service import TSSApp
from tss.store.paging import collect

FLOOR_MS = 5.0


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


async def _runs(app: TSSApp, run_filter: RunFilter) -> list[Run]:
    found: list[Run] = await collect(
        lambda size, cursor: app.store.list_runs(run_filter, limit=size, cursor=cursor)
    )
    return found


def _span(runs: list[Run]) -> float:
    starts = [r.started_at for r in runs if r.started_at]
    ends = [r.finished_at for r in runs if r.finished_at]
    return (max(ends) - min(starts)).total_seconds()


async def flow(width: int, concurrency: int, folder: Path) -> dict[str, float]:
    app = TSSApp(_settings(folder / "flow.db", concurrency))
    await app.start()
    middles = [f"mid-{i:04d}" for i in range(width)]
    jobs = [{"name": "root", "type": "noop"}]
    jobs += [{"name": m, "type": "noop", "depends_on": ["root"]} for m in middles]
    jobs.append({"name": "join", "type": "noop", "depends_on": middles})
    await app.jobs.apply(jobs)
    stop, task = await _serve(app)
    [(root, _)] = await app.runs.trigger("root")
    total = width + 2
    while True:
        runs = await _runs(app, RunFilter(flow_id=root.id))
        if len(runs) == total and all(r.state.terminal for r in runs):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    await app.close()
    assert all(r.state is RunState.SUCCEEDED for r in runs), {r.state for r in runs}
    by_job = {r.job: r for r in runs}
    first, join = by_job["root"], by_job["join"]
    mids = [by_job[m] for m in middles]
    assert first.finished_at and join.queued_at and first.started_at and join.finished_at
    last_mid = max(r.finished_at for r in mids if r.finished_at)
    return {
        "jobs": total,
        "seconds": (join.finished_at - first.started_at).total_seconds(),
        "fanout_ms": (
            min(r.queued_at for r in mids if r.queued_at) - first.finished_at
        ).total_seconds()
        * 1000,
        "fanin_ms": (join.queued_at - last_mid).total_seconds() * 1000,
    }


async def baseline(n: int, concurrency: int, folder: Path) -> float:
    app = TSSApp(_settings(folder / "base.db", concurrency))
    await app.start()
    await app.jobs.apply([{"name": "noop", "type": "noop"}])
    policy = RunPolicy.of((await app.store.get_job("noop")).spec)
    stop, task = await _serve(app)
    assert app.scheduler is not None
    runs = [NewRun(new_id(), "noop", RunState.QUEUED, "manual", {}, 0, "default", policy)
            for _ in range(n)]  # fmt: skip
    created = await app.store.create_runs(runs, actor="bench")
    await app.scheduler.publish([r for r, _ in created])
    while True:
        done = await app.store.count_runs(RunFilter(job="noop"))
        if done.get(RunState.SUCCEEDED, 0) == n:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await task
    span = _span(await _runs(app, RunFilter(job="noop")))
    await app.close()
    return span


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=998, help="middle jobs (fan-out)")
    parser.add_argument("--concurrency", type=int, default=32, help="worker concurrency")
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="tss-flow-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        out = asyncio.run(flow(args.width, args.concurrency, folder))
        base = asyncio.run(baseline(int(out["jobs"]), args.concurrency, folder))
        wall = time.perf_counter() - started
    jobs = int(out["jobs"])
    edges = 2 * args.width
    overhead = max(out["seconds"] - base, 0.0)
    per_job, per_edge = overhead / jobs * 1000, overhead / edges * 1000
    print(f"flow of {jobs} jobs ({edges} edges): root start -> join end {out['seconds']:.3f} s")
    print(f"baseline, {jobs} runs with no flow: first start -> last end {base:.3f} s")
    print(f"overhead: {per_job:.2f} ms per job, {per_edge:.2f} ms per edge")
    print(f"root end -> {args.width} middle jobs queued: {out['fanout_ms']:.1f} ms")
    print(f"last middle end -> join queued: {out['fanin_ms']:.1f} ms")
    print(f"(benchmark wall time {wall:.1f} s)")
    ok = per_job < FLOOR_MS
    print(f"{'PASS' if ok else 'FAIL'}: overhead {per_job:.2f} ms per job (floor < {FLOOR_MS} ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
