"""Benchmarks of the production backends: a store and a broker shared by separate processes.

For a store + broker pair (``--store postgres|redis|sqlite``, ``--broker store|rabbitmq|redis``)
the benchmark starts one ``tss scheduler`` and ``--workers`` ``tss worker`` processes on
a namespace of its own (a new PostgreSQL database, a Redis key prefix, RabbitMQ queue
prefix), then measures from this process:

1. ``throughput``: submit N no-op runs in bulk (the submission rate: runs committed and
   published per second), then end-to-end runs per second until every run is recorded
   ``succeeded`` with its full history (one attempt, three events each; checked).
2. ``lateness``: store ``--jobs`` jobs of which ``--due`` fire in the same second; fire
   lateness is each run's start minus its scheduled time (p50, p99, max).

    .venv/bin/python bench/backends.py throughput --store postgres --broker store -n 20000
    .venv/bin/python bench/backends.py lateness --store redis --broker redis --due 10000

Servers on loopback: PostgreSQL 5432, Redis 6379, RabbitMQ 5672 (guest/guest).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tss.config import SchedulerConfig, Settings
from tss.core.ids import new_id
from tss.core.models import NewRun, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.scheduler.scheduler import Scheduler
from tss.service import TSSApp
from tss.store.paging import collect

TSS = str(Path(sys.executable).parent / "tss")
PG = "postgresql://postgres@127.0.0.1:5432/"


@asynccontextmanager
async def namespace(
    store: str, broker: str, folder: Path, options: str = ""
) -> AsyncIterator[dict[str, str]]:
    """URLs of a fresh store and broker, removed afterwards."""
    tag = uuid.uuid4().hex[:10]
    urls = {"store": "", "broker": ""}
    database = f"tss_bench_{tag}"
    if store == "postgres":
        import asyncpg

        admin = await asyncpg.connect(PG + "postgres")
        await admin.execute(f'CREATE DATABASE "{database}"')
        await admin.close()
        urls["store"] = PG + database
    elif store == "redis":
        urls["store"] = f"redis://127.0.0.1:6379/0?prefix=tss-bench-{tag}"
    else:
        urls["store"] = f"sqlite:///{folder / 'tss.db'}"
    urls["broker"] = {
        "store": "store://",
        "rabbitmq": f"amqp://guest:guest@127.0.0.1:5672/?prefix=tss-bench-{tag}",
        "redis": f"redis://127.0.0.1:6379/0?prefix=tss-bench-{tag}",
    }[broker]
    if options:
        urls["broker"] += ("&" if "?" in urls["broker"] else "?") + options
    try:
        yield urls
    finally:
        if store == "postgres":
            import asyncpg

            admin = await asyncpg.connect(PG + "postgres")
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.close()
        if "redis" in (store, broker):
            import redis.asyncio as aioredis

            client = aioredis.from_url("redis://127.0.0.1:6379/0")
            keys = [k async for k in client.scan_iter(match=f"tss-bench-{tag}*", count=1000)]
            for i in range(0, len(keys), 1000):
                await client.unlink(*keys[i : i + 1000])
            await client.aclose()
        if broker == "rabbitmq":
            import aio_pika

            conn = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
            channel = await conn.channel()
            for name in ("pool.default", "dead-letter"):
                try:
                    await channel.queue_delete(f"tss-bench-{tag}.{name}")
                except Exception:  # cleanup is best effort
                    channel = await conn.channel()
            await conn.close()


def settings(
    urls: dict[str, str],
    concurrency: int,
    batch_size: int | None = None,
    lookahead: float | None = None,
) -> dict[str, Any]:
    scheduler: dict[str, Any] = {"max_sleep": 0.5}
    if batch_size is not None:
        scheduler["batch_size"] = batch_size
    if lookahead is not None:
        scheduler["lookahead"] = lookahead
    return {
        "store": {"url": urls["store"]},
        "broker": {"url": urls["broker"]},
        "worker": {"concurrency": concurrency, "heartbeat_interval": 5},
        "scheduler": scheduler,
        "logging": {"level": "WARNING"},
    }


class Fleet:
    """One ``tss scheduler`` and ``workers`` ``tss worker`` processes on one config."""

    def __init__(self, config: dict[str, Any], folder: Path, workers: int) -> None:
        self.path = folder / "config.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.folder = folder
        self.workers = workers
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *, scheduler: bool = True) -> None:
        if scheduler:
            self.start_scheduler()
        for i in range(self.workers):
            self._spawn(["worker", "--worker-id", f"bench-w{i}"])

    def start_scheduler(self) -> None:
        self._spawn(["scheduler"])

    def _spawn(self, role: list[str]) -> None:
        log = (self.folder / f"proc-{len(self.procs)}.log").open("ab")
        self.procs.append(
            subprocess.Popen([TSS, "--config", str(self.path), *role], stdout=log,
                             stderr=subprocess.STDOUT, cwd=self.folder)
        )  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _count(app: TSSApp, job: str | None, state: RunState) -> int:
    return (await app.store.count_runs(RunFilter(job=job, states=(state,)))).get(state, 0)


async def throughput(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    async with namespace(args.store, args.broker, folder, args.broker_options) as urls:
        config = settings(urls, args.concurrency, args.batch_size, args.lookahead)
        app = TSSApp(Settings(**config))
        await app.start()
        fleet = Fleet(config, folder, args.workers)
        try:
            await app.jobs.apply([{"name": "noop", "type": "noop"}])
            policy = RunPolicy.of((await app.store.get_job("noop")).spec)
            fleet.start(scheduler=True)
            await asyncio.sleep(3)  # processes up and connected
            publisher = Scheduler(app.store, app.broker, SchedulerConfig(id="bench"))
            began = time.perf_counter()
            for i in range(0, args.n, 1000):
                runs = [
                    NewRun(new_id(), "noop", RunState.QUEUED, "manual", {}, 0, "default", policy)
                    for _ in range(min(1000, args.n - i))
                ]
                created = await app.store.create_runs(runs, actor="bench")
                await publisher.publish([r for r, _ in created])
            submitted = time.perf_counter() - began
            while await _count(app, "noop", RunState.SUCCEEDED) < args.n:
                await asyncio.sleep(0.05)
            total = time.perf_counter() - began
            runs_done = await collect(
                lambda size, cursor: app.store.list_runs(
                    RunFilter(job="noop"), limit=size, cursor=cursor
                ),
                page_size=5000,
            )
            assert len(runs_done) == args.n, len(runs_done)
            assert all(r.attempt == 1 for r in runs_done), "a run took two attempts"
            sample = runs_done[:: max(1, args.n // 50)]
            for run in sample:
                assert len(await app.store.list_events(run_id=run.id)) == 3
                assert len(await app.store.list_attempts(run.id)) == 1
            return {"submit/s": args.n / submitted, "runs/s": args.n / total, "seconds": total}
        finally:
            fleet.stop()
            await app.close()


async def lateness(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    async with namespace(args.store, args.broker, folder, args.broker_options) as urls:
        config = settings(urls, args.concurrency, args.batch_size, args.lookahead)
        app = TSSApp(Settings(**config))
        await app.start()
        fleet = Fleet(config, folder, args.workers)
        try:
            fleet.start(scheduler=False)  # workers first: the due burst must find them ready
            now = await app.store.now()
            due_at = now + timedelta(seconds=args.lead)
            began = time.perf_counter()
            specs: list[dict[str, Any]] = []
            for i in range(args.jobs):
                spec: dict[str, Any] = {"name": f"j{i:06d}", "type": "noop"}
                if i < args.due:
                    spec["schedule"] = {"at": due_at.isoformat()}
                specs.append(spec)
                if len(specs) == 5000:
                    await app.jobs.apply(specs, create_only=True)
                    specs = []
            if specs:
                await app.jobs.apply(specs, create_only=True)
            setup = time.perf_counter() - began
            left = (due_at - await app.store.now()).total_seconds()
            if left < 2:
                raise SystemExit(f"setup took {setup:.1f}s: raise --lead above {args.lead}")
            fleet.start_scheduler()
            deadline = time.monotonic() + left + 120
            while await _count(app, None, RunState.SUCCEEDED) < args.due:
                if time.monotonic() > deadline:
                    raise SystemExit("the due runs did not all finish within two minutes")
                await asyncio.sleep(0.2)
            runs = await collect(
                lambda size, cursor: app.store.list_runs(
                    RunFilter(states=(RunState.SUCCEEDED,)), limit=size, cursor=cursor
                ),
                page_size=5000,
            )
            lates = sorted(
                (r.started_at - r.scheduled_for).total_seconds()
                for r in runs
                if r.started_at and r.scheduled_for
            )
            assert len(lates) == args.due, (len(lates), args.due)
            # Where the time went: the scheduler (due -> queued) or the workers (queued -> start).
            queued = sorted(
                (r.queued_at - r.scheduled_for).total_seconds()
                for r in runs
                if r.queued_at and r.scheduled_for
            )
            waited = sorted(
                (r.started_at - r.queued_at).total_seconds()
                for r in runs
                if r.started_at and r.queued_at
            )
            # Runs claimed in one statement share its clock: how the burst was split.
            claims = Counter(r.started_at for r in runs if r.started_at)
            due = min(r.scheduled_for for r in runs if r.scheduled_for)
            print("  claims (ms after due: runs):", ", ".join(
                f"{(at - due).total_seconds() * 1000:.0f}: {n}" for at, n in sorted(claims.items())
            ))  # fmt: skip
            return {
                "claims": float(len(claims)),
                "queued p99": queued[int(len(queued) * 0.99) - 1] * 1000,
                "claim p99": waited[int(len(waited) * 0.99) - 1] * 1000,
                "setup s": setup,
                "p50 ms": statistics.median(lates) * 1000,
                "p99 ms": lates[int(len(lates) * 0.99) - 1] * 1000,
                "max ms": lates[-1] * 1000,
            }
        finally:
            fleet.stop()
            await app.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", choices=["throughput", "lateness"])
    parser.add_argument("--store", choices=["postgres", "redis", "sqlite"], default="postgres")
    parser.add_argument("--broker", choices=["store", "rabbitmq", "redis"], default="store")
    parser.add_argument("-n", type=int, default=20000, help="runs (throughput)")
    parser.add_argument("--jobs", type=int, default=100000, help="jobs stored (lateness)")
    parser.add_argument("--due", type=int, default=10000, help="jobs due at once (lateness)")
    parser.add_argument("--lead", type=float, default=240, help="seconds until the burst")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=500, help="per worker")
    parser.add_argument("--broker-options", default="", help="query options for the broker URL")
    parser.add_argument("--batch-size", type=int, help="scheduler.batch_size (default: config's)")
    parser.add_argument("--lookahead", type=float, help="scheduler.lookahead (default: config's)")
    args = parser.parse_args()
    if args.scenario == "lateness" and args.due > args.jobs:
        parser.error("--due cannot exceed --jobs")
    with tempfile.TemporaryDirectory() as tmp:
        work = throughput if args.scenario == "throughput" else lateness
        result = asyncio.run(work(args, Path(tmp)))
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"{args.scenario} store={args.store} broker={args.broker} workers={args.workers}")
    for key, value in result.items():
        print(f"  {key:10} {value:,.1f}")


if __name__ == "__main__":
    main()
