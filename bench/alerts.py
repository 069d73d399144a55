"""Benchmark: what the alert keeper costs the runs (embedded default: SQLite store,
in-process broker, scheduler and worker in one process, so the keeper shares their CPU).

N runs are submitted in bulk and the clock stops when all are recorded (as
``bench/embedded.py throughput``); 1 in 100 belongs to a job whose shell command fails, so
alerts are raised. Modes, run back to back:

- ``off``: no alerts configured (no keeper);
- ``on``: a webhook channel to a local receiver (its own process), with the rules a
  careful user sets on every job: dead, recovered, missed, late, slow (3 x p95);
- ``down``: the same, the channel's host accepting connections and never answering (each
  delivery waits for its 10 s timeout): a channel that is down must not slow the runs.

``--catch-up`` measures the keeper alone: after a run of N with alerts off, a keeper with
the same rules reads the whole event log (3 events a run) from the start: events per
second and CPU microseconds per event (what the keeper costs, whatever the machine's load).

    .venv/bin/python bench/alerts.py -n 20000 --repeat 5
    .venv/bin/python bench/alerts.py -n 20000 --repeat 5 --catch-up
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import NewRun, RunPolicy
from tss.core.states import RunState
from tss.service import TSSApp

FAIL_EVERY = 100
RULES = [
    "dead",
    "recovered",
    {"on": "missed", "after": 300},
    {"on": "late", "after": 60},
    {"on": "slow", "factor": 3},
]


def _settings(db: Path, mode: str, port: int) -> Settings:
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{db}"},
        "broker": {"url": "local://"},
        "worker": {"concurrency": 50, "heartbeat_interval": 5},
        "logging": {"level": "ERROR"},
    }
    if mode != "off":
        data["alerts"] = {
            "channels": {"hook": {"type": "webhook", "url": f"http://127.0.0.1:{port}/hook"}},
            "rules": RULES,
            "allow": ["127.0.0.1/32"],
        }
    return Settings(**data)


async def throughput(n: int, mode: str, port: int, folder: Path) -> dict[str, float]:
    app = TSSApp(_settings(folder / "tss.db", mode, port))
    await app.start()
    await app.jobs.apply(
        [
            {"name": "fine", "type": "noop"},
            {"name": "flaky", "type": "shell", "params": {"argv": ["false"]}},
        ]
    )
    policies = {
        name: RunPolicy.of((await app.store.get_job(name)).spec) for name in ("fine", "flaky")
    }
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    while app.scheduler is None or app.worker is None:
        await asyncio.sleep(0.01)
    if mode != "off":
        while app.keeper is None or not app.keeper.holding:
            await asyncio.sleep(0.01)
    cpu0, started = time.process_time(), time.perf_counter()
    chunk = 1000
    for i in range(0, n, chunk):
        runs = []
        for j in range(i, min(i + chunk, n)):
            job = "flaky" if j % FAIL_EVERY == 0 else "fine"
            runs.append(
                NewRun(new_id(), job, RunState.QUEUED, "manual", {}, 0, "default", policies[job])
            )
        created = await app.store.create_runs(runs, actor="bench")
        await app.scheduler.publish([r for r, _ in created])
    while app.worker.completed < n:
        await asyncio.sleep(0.01)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    alerts, lag = 0, 0.0
    if app.keeper is not None:  # how long until the keeper has read every event
        last = await app.store.last_event_id()
        while (app.keeper.cursor or 0) < last:
            await asyncio.sleep(0.01)
        lag = time.perf_counter() - started - seconds
        assert (await app.store.list_alerts(job="flaky")).items, "no alert was raised"
        alerts = len((await app.store.list_alerts(limit=1000)).items)
    stop.set()
    await task
    await app.close()
    return {"runs_per_s": n / seconds, "cpu_s": cpu, "alerts": alerts, "lag_s": lag}


async def catch_up(n: int, folder: Path) -> dict[str, float]:
    """A keeper reading the events of ``n`` runs made with alerts off, from the start."""
    from tss.alerts.keeper import Keeper

    await throughput(n, "off", 0, folder)
    app = TSSApp(_settings(folder / "tss.db", "on", 1))
    await app.start()
    keeper = Keeper(app.store, app.settings.alerts, {}, holder="bench")
    last = await app.store.last_event_id()
    await keeper.tick()
    assert keeper._state is not None
    keeper._state["cursor"] = 0  # from the start of the log
    cpu0, started = time.process_time(), time.perf_counter()
    while (keeper.cursor or 0) < last:
        await keeper.tick()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu0
    await app.close()
    return {"events": last, "events_per_s": last / seconds, "cpu_us_per_event": cpu / last * 1e6}


def _silent_port() -> tuple[socket.socket, int]:
    """A listening socket that never accepts: connections open, and nothing answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1000)
    port: int = sock.getsockname()[1]
    return sock, port


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000, help="runs per measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="off,on,down")
    parser.add_argument("--catch-up", action="store_true", help="the keeper alone")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
        f", load {os.getloadavg()[0]:.1f}"
    )
    if args.catch_up:
        rows = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory(prefix="tss-bench-") as tmp:
                rows.append(asyncio.run(catch_up(args.n, Path(tmp))))
            print(
                f"{rows[-1]['events']:,.0f} events: {rows[-1]['events_per_s']:,.0f} events/s, "
                f"{rows[-1]['cpu_us_per_event']:.1f} CPU-us per event",
                flush=True,
            )
        speed = statistics.median(r["events_per_s"] for r in rows)
        cost = statistics.median(r["cpu_us_per_event"] for r in rows)
        print(f"median: {speed:,.0f} events/s, {cost:.1f} CPU-us per event")
        return
    webhook = Path(__file__).with_name("webhook.py")
    receiver = subprocess.Popen(
        [sys.executable, str(webhook), "--receiver"], stdout=subprocess.PIPE, text=True
    )
    silent, silent_port = _silent_port()
    results: dict[str, list[dict[str, float]]] = {}
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        for round_ in range(args.repeat):
            for mode in args.modes.split(","):
                with tempfile.TemporaryDirectory(prefix="tss-bench-") as tmp:
                    target = silent_port if mode == "down" else port
                    got = asyncio.run(throughput(args.n, mode, target, Path(tmp)))
                results.setdefault(mode, []).append(got)
                print(
                    f"round {round_ + 1} {mode:>4}: {got['runs_per_s']:8,.0f} runs/s, "
                    f"CPU {got['cpu_s']:5.1f} s, alerts {got['alerts']:.0f}, "
                    f"keeper caught up {got['lag_s']:.2f} s after the last run",
                    flush=True,
                )
    finally:
        receiver.terminate()
        receiver.wait(10)
        silent.close()
    base = statistics.median(r["runs_per_s"] for r in results.get("off", [{"runs_per_s": 0}]))
    for mode, rows in results.items():
        median = statistics.median(r["runs_per_s"] for r in rows)
        ratio = f", {median / base:.2f} x off" if base else ""
        print(f"median {mode:>4}: {median:8,.0f} runs/s{ratio}")


if __name__ == "__main__":
    main()
