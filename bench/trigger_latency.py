"""Benchmark of a manual trigger's way to a worker: trigger-to-start at idle, split deployment.

For each deployment (``--kind``, default all four: ``sqlite+store``, ``postgres+store``,
``postgres+rabbitmq``, ``redis+redis``) the benchmark makes a fresh namespace (as
``bench/backends.py`` does), stores one ``noop`` job, and starts ``tss api``, ``tss
scheduler`` and ``tss worker`` as three processes on one config (the scheduler's reconciler
at its default interval). From this process it then triggers the job ``-n`` times through
``POST /api/v1/jobs/noop/runs``, one at a time with a random pause of ``--pause`` seconds on
average between them (so the worker is idle each time, and the pauses do not fall in step
with any poll), and reads each run back from the store once all have ended.

Trigger-to-start is the run's ``started_at`` (recorded by the store when the worker claimed
it) minus the wall-clock time just before the request was sent; every process is on this
machine, so they share one clock. Also reported: the request's round trip (the API's answer)
and answer-to-start (the start minus the answer's arrival, negative when the worker started
the run before the answer reached this process), which leave out the API's own latency, and
how busy the whole machine was meanwhile (a busy neighbour makes every figure worse). The
floor is p99 < 50 ms trigger-to-start on every deployment; PASS/FAIL is printed and the exit
status is 1 on FAIL.

    .venv/bin/python bench/trigger_latency.py -n 200
    .venv/bin/python bench/trigger_latency.py --kind postgres+rabbitmq -n 100 --pause 0.1

Servers on loopback: PostgreSQL 5432, Redis 6379, RabbitMQ 5672 (guest/guest). The
processes run ``python -m tss.cli`` with this process's ``PYTHONPATH``, so pointing it at
another checkout's ``src`` measures that code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from backends import namespace

from tss.config import Settings
from tss.service import TSSApp

FLOOR_P99_MS = 50.0
TOKEN = "bench-admin-token-" + "x" * 16
KINDS = ("sqlite+store", "postgres+store", "postgres+rabbitmq", "redis+redis")
ROLES = (("api",), ("scheduler",), ("worker", "--worker-id", "bench-w0"))


@dataclass
class Result:
    kind: str
    starts: list[float] = field(default_factory=list)  # ms, trigger to started_at
    requests: list[float] = field(default_factory=list)  # ms, the POST's round trip
    after: list[float] = field(default_factory=list)  # ms, the answer to started_at
    busy: float = 0.0  # share of the machine's CPU (every core) in use meanwhile

    @staticmethod
    def pct(data: list[float], q: float) -> float:
        ordered = sorted(data)
        return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]

    @property
    def floor(self) -> str:
        return "PASS" if self.pct(self.starts, 0.99) < FLOOR_P99_MS else "FAIL"

    def line(self) -> str:
        s, r, a = self.starts, self.requests, self.after
        return (
            f"{self.kind:18} n={len(s):<4} trigger-to-start p50 {self.pct(s, 0.5):7.1f} ms"
            f"  p99 {self.pct(s, 0.99):7.1f} ms  max {max(s):7.1f} ms"
            f"  | request p50 {self.pct(r, 0.5):5.1f}  p99 {self.pct(r, 0.99):5.1f}"
            f"  | answer-to-start p50 {self.pct(a, 0.5):7.1f}  p99 {self.pct(a, 0.99):7.1f}"
            f"  | machine busy {self.busy:4.0%}  {self.floor}"
        )


class Deployment:
    """``tss api``, ``tss scheduler`` and ``tss worker`` on one config, in this folder."""

    def __init__(self, config: dict[str, Any], folder: Path) -> None:
        self.folder = folder
        self.path = folder / "config.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.procs: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self) -> str:
        """Start the three processes; the API's URL once it answers ``/readyz``."""
        env = {**os.environ, "TSS_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}
        env.pop("TSS_CONFIG", None)
        for role in ROLES:
            log = self.folder / f"{role[0]}.log"
            with log.open("wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "tss.cli", "--config", str(self.path), *role],
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                    cwd=self.folder,
                )  # fmt: skip
            self.procs.append((proc, log))
        deadline = time.monotonic() + 60
        api_log = self.procs[0][1]
        while True:
            self.check(deadline)
            found = re.search(r"api\s+(http://[\d.]+:\d+)/api/v1", api_log.read_text())
            if found:
                url = found.group(1)
                try:
                    if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                        return url
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)

    def check(self, deadline: float) -> None:
        for proc, log in self.procs:
            if proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{log.name}: not running:\n{log.read_text(errors='replace')}")

    def stop(self) -> None:
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def measure(kind: str, n: int, pause: float, folder: Path) -> Result:
    store, broker = kind.split("+")
    async with namespace(store, broker, folder) as urls:
        config = {
            "store": {"url": urls["store"]},
            "broker": {"url": urls["broker"]},
            "server": {"host": "127.0.0.1", "port": 0},
            "worker": {"concurrency": 4},
            "logging": {"level": "WARNING"},
        }
        app = TSSApp(Settings(**config))
        await app.start()
        deployment = Deployment(config, folder)
        try:
            await app.jobs.apply([{"name": "noop", "type": "noop"}])
            url = deployment.start()
            while not [w for w in await app.store.list_workers() if w.state == "up"]:
                deployment.check(time.monotonic() + 1)
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0)  # every process past its start-up work: idle
            result = Result(kind)
            sent: dict[str, float] = {}
            answered: dict[str, float] = {}
            busy, wall = machine_busy(), time.monotonic()
            rng = random.Random(12)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
                for _ in range(n):
                    at = time.time()
                    began = time.perf_counter()
                    response = await client.post("/api/v1/jobs/noop/runs", json={})
                    result.requests.append((time.perf_counter() - began) * 1000)
                    response.raise_for_status()
                    sent[response.json()["id"]] = at
                    answered[response.json()["id"]] = at + result.requests[-1] / 1000
                    await asyncio.sleep(rng.uniform(0.5, 1.5) * pause)
            cores = os.cpu_count() or 1
            result.busy = (machine_busy() - busy) / ((time.monotonic() - wall) * cores)
            deadline = time.monotonic() + 60
            while True:
                runs = [await app.store.get_run(i) for i in sent]
                if all(r.state.terminal for r in runs):
                    break
                if time.monotonic() > deadline:
                    raise SystemExit(f"{kind}: runs still not ended a minute after the last")
                await asyncio.sleep(0.2)
            for run in runs:
                assert run.state.value == "succeeded" and run.started_at is not None, run
                result.starts.append((run.started_at.timestamp() - sent[run.id]) * 1000)
                result.after.append((run.started_at.timestamp() - answered[run.id]) * 1000)
            return result
        finally:
            deployment.stop()
            await app.close()


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def machine() -> str:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
    model = next(
        (line.split(":", 1)[1].strip() for line in lscpu if line.startswith("Model name")),
        platform.processor() or "unknown CPU",
    )
    return f"{os.cpu_count()} cores ({model}), Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", action="append", choices=KINDS, help="repeatable; default all")
    parser.add_argument("-n", type=int, default=200, help="triggers per deployment")
    parser.add_argument("--pause", type=float, default=0.25, help="mean seconds between them")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    failed = False
    for kind in args.kind or KINDS:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(measure(kind, args.n, args.pause, Path(tmp)))
        print(result.line(), flush=True)
        failed = failed or result.floor == "FAIL"
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
