"""Benchmark of the REST API under load, from a second process on loopback.

A temporary SQLite store is filled with ``--jobs`` no-op jobs (no schedule, so the scheduler
leaves them alone) plus ten jobs that fire every 10 s, then ``tss server`` (API + scheduler +
worker, ``broker: local://``) is started as a separate process. This process is the load
generator: an ``httpx.AsyncClient`` with a keep-alive pool sends requests on a fixed
timetable (open loop, ``--rate`` per second for ``--duration`` seconds) and measures each
latency from the request's *scheduled* send time, so a stall of the server (or of this
process) shows up in the figures instead of silently lowering the rate (no coordinated
omission).

Scenarios:

* ``list``: ``GET /api/v1/jobs?limit=50``, the first page (the ``--jobs`` jobs are all there:
  the page counts them in ``total`` and carries the last run of each listed job).
* ``list-prefix``: ``GET /api/v1/jobs?limit=50&prefix=job-0NNN``, a random prefix
  matching 100 jobs.
* ``trigger``: ``POST /api/v1/jobs/{name}/runs`` with ``{}`` over random job names; the
  server's worker runs them. Afterwards every created run is checked: the number of new runs
  equals the number of 201s, the returned ids are distinct, and a sample of them has
  ``succeeded``.

Every response status is checked (anything but 2xx is an error and fails the run). The floor
is p99 < 50 ms at 200 requests/s on SQLite; PASS/FAIL is printed and the exit status is 1 on
FAIL. ``--max-concurrency N`` adds a closed-loop run per scenario (N connections, each
sending its next request as soon as the previous answer arrives) to report the ceiling.

At most ``--connections`` requests are in flight in the open loop; later ones wait in this
process, on the clock. The load generator's garbage collector is off while it measures.
Each line also gives the CPU used by the server, by this process and by the rest of the
machine (a busy neighbour skews the figures), and the slow requests grouped into bursts
(a few long bursts: the server stalled; one burst as long as the run: it is saturated).

Diagnostics: ``--gc-log`` starts the server through a wrapper that logs its garbage
collector pauses (each scenario then reports them); ``--profile DIR`` samples the server
with py-spy during each scenario (on-CPU, or wall-clock with ``--profile-idle``) and prints
where its time goes.

    .venv/bin/python bench/api.py --jobs 100000 --rate 200 --duration 20
    .venv/bin/python bench/api.py --jobs 100000 --max-concurrency 16 --keep /tmp/tss-api-bench
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import os
import platform
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from tss.config import Settings
from tss.core.models import JobFilter
from tss.definitions import parse_job
from tss.service import TSSApp

FLOOR_P99_MS = 50.0
FLOOR_RATE = 200.0
TOKEN = "bench-admin-token-" + "x" * 16
#: jobs that fire on their own while the benchmark runs (background scheduler work)
CRON_JOBS = [f"cron-{i:02d}" for i in range(10)]
SCENARIOS = ("list", "list-prefix", "trigger")
Request = tuple[str, str, Any]  # method, path, JSON body (None: no body)


def job_name(i: int) -> str:
    return f"job-{i:06d}"


# -- setup ---------------------------------------------------------------------------------


async def prepare(db: Path, jobs: int) -> tuple[int, float]:
    """Make ``db`` hold ``jobs`` no-op jobs and the cron jobs; (jobs created, seconds).

    Uses the store's own API: ``app.jobs.apply`` for the cron jobs (their first fire is
    computed there) and one ``Store.create_job`` (its own transaction) per bulk job,
    many in flight at once so the store thread never waits for the event loop.
    """
    app = TSSApp(Settings(store={"url": f"sqlite:///{db}"}, logging={"level": "WARNING"}))
    await app.start()
    started = time.perf_counter()
    try:
        have = (await app.store.list_jobs(JobFilter(prefix="job-"), limit=1)).total
        if have not in (0, jobs):
            raise SystemExit(
                f"{db} holds {have:,} bench jobs, not {jobs:,}: use another --keep folder"
            )
        if not await app.store.get_jobs(CRON_JOBS):
            await app.jobs.apply(
                [{"name": n, "type": "noop", "schedule": {"every": "10s"}} for n in CRON_JOBS]
            )
        if have == jobs:
            return 0, time.perf_counter() - started
        template = parse_job({"name": job_name(0), "type": "noop", "tags": ["bench"]})
        chunk = 2000
        for lo in range(0, jobs, chunk):
            specs = [
                template.model_copy(update={"name": job_name(i)})
                for i in range(lo, min(lo + chunk, jobs))
            ]
            await asyncio.gather(*(app.store.create_job(s, None) for s in specs))
            if lo and lo % 20_000 == 0:
                print(f"  ... {lo:,} jobs ({time.perf_counter() - started:.0f} s)", flush=True)
        assert (await app.store.list_jobs(JobFilter(prefix="job-"), limit=1)).total == jobs
        return jobs, time.perf_counter() - started
    finally:
        await app.close()


def write_config(folder: Path, db: Path, concurrency: int) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        f"store: {{url: 'sqlite:///{db}'}}\n"
        "broker: {url: 'local://'}\n"
        "server: {host: 127.0.0.1, port: 0}\n"
        f"worker: {{concurrency: {concurrency}}}\n"
        "logging: {level: WARNING}\n",
        encoding="utf-8",
    )
    return config


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


#: ``python -m tss.cli`` plus a garbage collector hook that logs each pause of 5 ms or more
GC_WRAPPER = """
import gc, sys, time
started = [0.0]
def pause(phase, info):
    if phase == "start":
        started[0] = time.perf_counter()
        return
    ms = (time.perf_counter() - started[0]) * 1000
    if ms >= 5:
        print(f"bench-gc {time.time():.3f} gen {info['generation']} {ms:.1f} ms", flush=True)
gc.callbacks.append(pause)
from tss.cli.app import main
main()
"""


@dataclass
class Pauses:
    """The server's garbage collector pauses of 5 ms or more, read from its log
    (``--gc-log``)."""

    items: list[tuple[float, int, float]] = field(default_factory=list)  # (time, gen, ms)

    def between(self, start: float, end: float) -> str:
        found = [(g, ms) for t, g, ms in self.items if start <= t <= end]
        if not found:
            return "none >= 5 ms"
        return (
            f"{len(found)} >= 5 ms, total {sum(ms for _, ms in found):.0f} ms, "
            f"max {max(ms for _, ms in found):.0f} ms (gen {max(found, key=lambda f: f[1])[0]})"
        )


def server_pauses(log: Path) -> Pauses:
    found = re.findall(r"bench-gc ([\d.]+) gen (\d) ([\d.]+) ms", log.read_text(errors="replace"))
    return Pauses([(float(t), int(g), float(ms)) for t, g, ms in found])


def start_server(folder: Path, config: Path, gc_log: bool = False) -> Server:
    """``tss server`` in its own process; waits for its banner and for ``/readyz``."""
    log = folder / "server.log"
    env = {**os.environ, "TSS_ADMIN_TOKEN": TOKEN, "COLUMNS": "200"}
    env.pop("TSS_CONFIG", None)
    launch = ["-c", GC_WRAPPER] if gc_log else ["-m", "tss.cli"]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *launch, "--config", str(config), "server"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    deadline = time.monotonic() + 60
    url = None
    while url is None:
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit(f"tss server did not start:\n{log.read_text(errors='replace')}")
        found = re.search(r"api\s+(http://[\d.]+:\d+)/api/v1", log.read_text(errors="replace"))
        url = found.group(1) if found else None
        time.sleep(0.05)
    server = Server(proc, url, log)
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise SystemExit(f"tss server never became ready:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# -- load ----------------------------------------------------------------------------------


@dataclass
class Result:
    scenario: str
    mode: str  # "rate" or "max"
    target: float  # requests/s (rate) or connections (max)
    latencies: list[float] = field(default_factory=list)  # ms, successful requests
    send_lag: list[float] = field(default_factory=list)  # ms, actual minus scheduled send
    statuses: collections.Counter[int | str] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    slow: list[tuple[float, float]] = field(default_factory=list)  # (scheduled, ms) > floor
    elapsed: float = 0.0
    window: tuple[float, float] = (0.0, 0.0)  # wall clock (time.time) start and end
    server_cpu: float = 0.0  # seconds
    client_cpu: float = 0.0  # seconds
    other_cpu: float = 0.0  # seconds: the rest of the machine (another workload skews)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def ok(self) -> int:
        return len(self.latencies)

    def pct(self, q: float) -> float:
        data = sorted(self.latencies)
        if not data:
            return float("nan")
        return data[min(len(data) - 1, max(0, int(len(data) * q + 0.5) - 1))]

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    @property
    def floor(self) -> str:
        if self.mode != "rate":
            return ""
        passed = self.pct(0.99) < FLOOR_P99_MS and not self.errors
        return "PASS" if passed else "FAIL"


def request_maker(scenario: str, jobs: int, rng: random.Random) -> Callable[[], Request]:
    if scenario == "list":
        return lambda: ("GET", "/api/v1/jobs?limit=50", None)
    if scenario == "list-prefix":
        buckets = max(1, jobs // 100)
        return lambda: (
            "GET",
            f"/api/v1/jobs?limit=50&prefix=job-{rng.randrange(buckets):04d}",
            None,
        )
    if scenario == "trigger":
        return lambda: ("POST", f"/api/v1/jobs/{job_name(rng.randrange(jobs))}/runs", {})
    raise ValueError(scenario)


async def _send(
    client: httpx.AsyncClient, req: Request, at: float, result: Result,
    slots: asyncio.Semaphore | None = None,
) -> None:  # fmt: skip
    """One request; its latency counts from ``at`` (the scheduled send time), so waiting
    for a free connection counts too."""
    method, path, body = req
    result.send_lag.append((time.perf_counter() - at) * 1000)
    try:
        if slots is None:
            response = await client.request(method, path, json=body)
        else:
            async with slots:
                response = await client.request(method, path, json=body)
    except httpx.HTTPError as exc:
        result.statuses[type(exc).__name__] += 1
        result.errors.append(f"{method} {path}: {exc!r}")
        return
    done = time.perf_counter()
    result.statuses[response.status_code] += 1
    if not 200 <= response.status_code < 300:
        result.errors.append(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return
    if method == "POST":
        result.run_ids.append(orjson.loads(response.content)["id"])
    ms = (done - at) * 1000
    result.latencies.append(ms)
    if ms >= FLOOR_P99_MS:
        result.slow.append((at, ms))


async def open_loop(
    client: httpx.AsyncClient, make: Callable[[], Request], rate: float, duration: float,
    result: Result, connections: int,
) -> None:  # fmt: skip
    """Send ``rate * duration`` requests on a fixed timetable, whatever the answers do.

    At most ``connections`` are in flight: the rest wait here, on the clock (httpx's own
    pool slows to a crawl with thousands of waiting requests, which would measure the
    client). Times come from ``perf_counter``: uvloop's ``loop.time()`` has millisecond
    steps."""
    slots = asyncio.Semaphore(connections)
    count = int(rate * duration)
    start = time.perf_counter() + 0.02
    tasks = []
    for i in range(count):
        at = start + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(_send(client, make(), at, result, slots)))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start


async def closed_loop(
    client: httpx.AsyncClient, make: Callable[[], Request], connections: int, duration: float,
    result: Result,
) -> None:  # fmt: skip
    """``connections`` senders, each sending as soon as its previous answer arrived."""
    start = time.perf_counter()
    end = start + duration

    async def sender() -> None:
        while (now := time.perf_counter()) < end:
            await _send(client, make(), now, result)

    await asyncio.gather(*(sender() for _ in range(connections)))
    result.elapsed = time.perf_counter() - start


# -- checks through the API ----------------------------------------------------------------


async def run_totals(client: httpx.AsyncClient, since: str) -> tuple[dict[str, int], int]:
    """(runs by state, runs of the cron jobs created since ``since``), read consistently
    (a cron fire in between is retried)."""

    async def cron_runs() -> int:
        total = 0
        for name in CRON_JOBS:
            params: dict[str, Any] = {"job": name, "limit": 500, "since": since}
            while True:
                r = await client.get("/api/v1/runs", params=params)
                r.raise_for_status()
                page = r.json()
                total += len(page["items"])
                if not page["next_cursor"]:
                    break
                params["cursor"] = page["next_cursor"]
        return total

    while True:
        before = await cron_runs()
        r = await client.get("/api/v1/stats", params={"window": 60})
        r.raise_for_status()
        counts: dict[str, int] = r.json()["counts"]
        if await cron_runs() == before:
            return counts, before


async def verify_runs(
    client: httpx.AsyncClient, before: tuple[dict[str, int], int], result: Result,
    posted: int, run_ids: list[str], rng: random.Random, since: str,
) -> str:  # fmt: skip
    """Wait for the triggered runs to drain, then check them; a line for the report."""
    waited = time.perf_counter()
    counts0, cron0 = before
    while True:
        counts, cron = await run_totals(client, since)
        created = sum(counts.values()) - sum(counts0.values()) - (cron - cron0)
        busy = counts.get("queued", 0) + counts.get("running", 0)
        if (created >= posted and busy == 0) or time.perf_counter() - waited > 120:
            break
        await asyncio.sleep(0.2)
    drained = time.perf_counter() - waited
    problems = []
    if created != posted:
        problems.append(f"{created} runs were created for {posted} successful POSTs")
    if len(set(run_ids)) != len(run_ids):
        problems.append(f"{len(run_ids) - len(set(run_ids))} run ids were returned twice")
    if busy:
        problems.append(f"{busy} runs still queued or running after {drained:.0f} s")
    for run_id in rng.sample(run_ids, min(20, len(run_ids))):
        r = await client.get(f"/api/v1/runs/{run_id}")
        state = r.json().get("state") if r.status_code == 200 else r.status_code
        if state != "succeeded":
            problems.append(f"run {run_id} is {state}, not succeeded")
    if problems:
        result.errors.extend(problems)
        return "runs check FAILED: " + "; ".join(problems)
    return (
        f"runs check ok: {created:,} runs created for {posted:,} POSTs (warm-up included), "
        f"all ended; drained {drained:.1f} s after the last answer"
    )


# -- profiling -----------------------------------------------------------------------------


@contextlib.contextmanager
def profiling(
    pid: int, out: Path | None, name: str, seconds: float, idle: bool = False
) -> Iterator[None]:
    """py-spy samples the server (per thread; on-CPU only unless ``idle``) while the block
    runs."""
    if out is None:
        yield
        return
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    out.mkdir(parents=True, exist_ok=True)
    raw = out / f"{name}.txt"
    cmd = [str(spy), "record", "--pid", str(pid), "--rate", "250", "--threads", "--format",
           "raw", "--duration", str(int(seconds) + 1), "-o", str(raw)]  # fmt: skip
    if idle:
        cmd.append("--idle")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(0.5)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        if raw.exists():
            summarise(raw)
        else:
            print(f"  py-spy wrote nothing: {err.decode(errors='replace')[-500:]}")


def summarise(raw: Path, top: int = 25) -> None:
    """Per-thread share of the samples, then functions by inclusive and self share."""
    threads: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread, frames = frames[0], frames[1:]
        total += n
        threads[thread] += n
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    if not total:
        print("  no samples")
        return
    print(f"  py-spy: {total} on-CPU samples -> {raw}")
    for thread, n in threads.most_common(6):
        print(f"    {100 * n / total:5.1f}%  {thread}")
    print("  inclusive:")
    for frame, n in inclusive.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")
    print("  self:")
    for frame, n in own.most_common(top):
        print(f"    {100 * n / total:5.1f}%  {frame}")


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """No garbage collection in the load generator while it measures: a full collection
    of this process's heap (tss, pydantic and httpx imported) pauses it for 40 ms and more
    on the reference machine, which would show up as server latency. Collected after."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
        gc.collect()


# -- driver --------------------------------------------------------------------------------


async def scenario(
    server: Server, name: str, args: argparse.Namespace, rng: random.Random
) -> list[Result]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    pool = max(args.connections, args.max_concurrency)
    limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
    timeout = httpx.Timeout(30.0)
    make = request_maker(name, args.jobs, rng)
    results = []
    async with httpx.AsyncClient(
        base_url=server.url, headers=headers, limits=limits, timeout=timeout
    ) as client:
        first = await client.get("/api/v1/jobs", params={"limit": 50})
        first.raise_for_status()
        page = first.json()
        assert len(page["items"]) == 50, page
        assert page["total"] == args.jobs + len(CRON_JOBS), page["total"]
        since = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
        before = await run_totals(client, since) if name == "trigger" else None
        warm = Result(name, "warm-up", args.rate)
        with quiet_gc():
            await open_loop(client, make, args.rate, args.warmup, warm, args.connections)
        if warm.errors:
            raise SystemExit(f"{name} warm-up failed: {warm.errors[:5]}")
        runs: list[str] = list(warm.run_ids)
        runs_for = [warm]
        plan: list[tuple[str, float]] = [("rate", args.rate)]
        if args.max_concurrency:
            plan.append(("max", args.max_concurrency))
        for mode, target in plan:
            result = Result(name, mode, target)
            tag = f"{name}-{mode}"
            with (
                profiling(server.proc.pid, args.profile, tag, args.duration, args.profile_idle),
                quiet_gc(),
            ):
                cpu0, own0, all0 = server.cpu_seconds(), time.process_time(), machine_busy()
                wall0 = time.time()
                if mode == "rate":
                    await open_loop(client, make, target, args.duration, result, args.connections)
                else:
                    await closed_loop(client, make, int(target), args.duration, result)
                result.window = (wall0, time.time())
                result.server_cpu = server.cpu_seconds() - cpu0
                result.client_cpu = time.process_time() - own0
                result.other_cpu = machine_busy() - all0 - result.server_cpu - result.client_cpu
            runs += result.run_ids
            runs_for.append(result)
            results.append(result)
            report(result)
            if args.gc_log:
                print(f"    server GC pauses: {server_pauses(server.log).between(*result.window)}")
        if before is not None:
            posted = sum(r.ok for r in runs_for)
            line = await verify_runs(client, before, results[0], posted, runs, rng, since)
            print(f"  {line}")
    return results


def report(r: Result) -> None:
    target = f"{r.target:,.0f}/s" if r.mode == "rate" else f"{r.target:,.0f} conns"
    lag = sorted(r.send_lag)
    lag99 = lag[min(len(lag) - 1, int(len(lag) * 0.99))] if lag else float("nan")
    print(
        f"  {r.scenario} {r.mode} {target}: sent {r.sent:,}, ok {r.ok:,}, errors "
        f"{len(r.errors)}, {r.rate:,.1f} req/s, p50 {r.pct(0.5):.1f} p90 {r.pct(0.9):.1f} "
        f"p99 {r.pct(0.99):.1f} max {max(r.latencies, default=float('nan')):.1f} ms "
        f"(send lag p99 {lag99:.1f} ms); CPU server {r.server_cpu / r.elapsed:.0%} "
        f"client {r.client_cpu / r.elapsed:.0%} other {r.other_cpu / r.elapsed:.0%} {r.floor}",
        flush=True,
    )
    if r.slow and r.mode == "rate":
        print(f"    slow (>= {FLOOR_P99_MS:g} ms): {len(r.slow)} requests, {stalls(r.slow)}")
    for line in r.errors[:5]:
        print(f"    error: {line}")
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(r.statuses.items(), key=str))
    print(f"    statuses {statuses}")


def stalls(slow: list[tuple[float, float]]) -> str:
    """Slow requests grouped into bursts (scheduled less than 100 ms apart): a few long
    bursts mean the server stalled; slow requests spread evenly mean it is saturated."""
    slow = sorted(slow)
    bursts: list[list[tuple[float, float]]] = [[slow[0]]]
    for item in slow[1:]:
        if item[0] - bursts[-1][-1][0] < 0.1:
            bursts[-1].append(item)
        else:
            bursts.append([item])
    worst = sorted(bursts, key=lambda b: -max(ms for _, ms in b))[:3]
    shown = ", ".join(
        f"{len(b)} req over {1000 * (b[-1][0] - b[0][0]):.0f} ms peaking at "
        f"{max(ms for _, ms in b):.0f} ms"
        for b in worst
    )
    return f"in {len(bursts)} bursts; worst: {shown}"


def table(results: list[Result]) -> None:
    head = ["scenario", "mode", "target", "sent", "ok", "errors", "req/s", "p50 ms", "p90 ms",
            "p99 ms", "max ms", "server CPU", "client CPU", "other CPU", "floor"]  # fmt: skip
    rows = [head]
    for r in results:
        rows.append(
            [
                r.scenario,
                "open loop" if r.mode == "rate" else "closed loop",
                f"{r.target:,.0f}/s" if r.mode == "rate" else f"{r.target:,.0f} conns",
                f"{r.sent:,}",
                f"{r.ok:,}",
                f"{len(r.errors)}",
                f"{r.rate:,.1f}",
                f"{r.pct(0.5):.1f}",
                f"{r.pct(0.9):.1f}",
                f"{r.pct(0.99):.1f}",
                f"{max(r.latencies, default=float('nan')):.1f}",
                f"{r.server_cpu / r.elapsed:.0%}",
                f"{r.client_cpu / r.elapsed:.0%}",
                f"{r.other_cpu / r.elapsed:.0%}",
                r.floor or "-",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(w) for cell, w in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the store")
    parser.add_argument("--rate", type=float, default=FLOOR_RATE, help="requests/s (open loop)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds, not counted")
    parser.add_argument(
        "--scenario", action="append", choices=SCENARIOS,
        help="repeatable (default: list and trigger)",
    )  # fmt: skip
    parser.add_argument(
        "--max-concurrency", type=int, default=0, metavar="N",
        help="also run each scenario closed-loop on N connections (the ceiling)",
    )  # fmt: skip
    parser.add_argument(
        "--connections", type=int, default=32,
        help="open loop: most requests in flight (keep-alive connections)",
    )  # fmt: skip
    parser.add_argument("--concurrency", type=int, default=64, help="the server's worker")
    parser.add_argument("--keep", type=Path, help="folder to keep (and reuse) the database in")
    parser.add_argument("--profile", type=Path, help="py-spy the server into this folder")
    parser.add_argument(
        "--profile-idle", action="store_true",
        help="with --profile: wall-clock samples (waits included), not only on-CPU ones",
    )  # fmt: skip
    parser.add_argument(
        "--gc-log", action="store_true",
        help="start the server with a hook logging its garbage collector pauses",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    args.scenario = args.scenario or ["list", "trigger"]
    if args.jobs < 100:
        parser.error("--jobs must be 100 or more")
    try:
        import uvloop  # the load generator's own overhead, not the server's

        uvloop.install()
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}; client loop {loop_name}"
    )
    with contextlib.ExitStack() as stack:
        if args.keep:
            folder = args.keep.resolve()
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="tss-api-")))
        db = folder / "tss.db"
        created, seconds = asyncio.run(prepare(db, args.jobs))
        how = f"created {created:,} jobs" if created else f"reused {args.jobs:,} jobs"
        print(f"setup: {how} in {seconds:.1f} s ({db})", flush=True)
        server = start_server(folder, write_config(folder, db, args.concurrency), args.gc_log)
        stack.callback(server.stop)
        print(f"server: pid {server.proc.pid} at {server.url}", flush=True)
        rng = random.Random(args.seed)
        results: list[Result] = []
        for name in args.scenario:
            results += asyncio.run(scenario(server, name, args, rng))
            if server.proc.poll() is not None:
                raise SystemExit(f"the server died:\n{server.log.read_text(errors='replace')}")
        server.stop()
        tail = server.log.read_text(errors="replace")
        noisy = [ln for ln in tail.splitlines() if "Traceback" in ln or "ERROR" in ln]
        if noisy:
            print(f"server log has {len(noisy)} error lines, e.g. {noisy[0]!r} ({server.log})")
    print()
    table(results)
    failed = [r for r in results if r.errors or r.floor == "FAIL"]
    verdict = "FAIL" if failed else "PASS"
    rate_note = "" if args.rate == FLOOR_RATE else f" (measured at {args.rate:g}/s, not 200/s)"
    print(f"\nfloor p99 < {FLOOR_P99_MS:g} ms at {FLOOR_RATE:g} req/s{rate_note}: {verdict}")
    if any(r.errors for r in results):
        print("errors: " + "; ".join(f"{r.scenario} {r.mode}: {len(r.errors)}" for r in results))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
