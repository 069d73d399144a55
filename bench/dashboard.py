"""Benchmark of the dashboard's first render of Jobs and Runs on a large store.

A fresh store (SQLite file, or a new PostgreSQL database) is filled through the store's
own methods with ``--jobs`` jobs (a tenth of them on a cron schedule, every one in a pool
and with tags) and ``--runs`` runs spread evenly over the jobs: ``--ended`` of them are
claimed and finished (nine in ten succeed, one fails) so they carry timings and errors,
the rest are created as ``skipped`` (terminal, so the scheduler and worker leave them
alone). Then ``tss server`` is started as a separate process and this process logs in
to the dashboard with a token, as a browser does, and times the *server's* part of a
first render, one request after another as the page makes them:

* ``jobs``: ``GET /dashboard/jobs`` (the HTML shell), ``GET /dashboard/session``,
  ``GET /api/v1/jobs?sort=name&limit=50``, ``GET /api/v1/stats/jobs?job=...`` (50 names);
* ``runs``: ``GET /dashboard/runs``, ``GET /dashboard/session``, ``GET /api/v1/runs?limit=50``.

Each page is rendered ``--repeat`` times (after one warm-up) and the sum of its requests'
times (send to last byte, on loopback) is reported as median, p95 and max. The floor is
500 ms per page; the exit status is 1 when a page's p95 is over it.

    .venv/bin/python -m bench.dashboard --store sqlite
    .venv/bin/python -m bench.dashboard --store postgres
    .venv/bin/python -m bench.dashboard --store sqlite --jobs 1000 --runs 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import yaml
from bench.backends import namespace

from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import ErrorInfo, JobSpec, NewRun, Outcome, RunPolicy
from tss.core.schedules import first_fire
from tss.core.states import RunState
from tss.definitions import parse_job
from tss.service import TSSApp

TSS = str(Path(sys.executable).parent / "tss")
TOKEN = "bench-dashboard-admin-token-0123456789"
FLOOR_MS = 500.0
CHUNK = 5000


def job_name(i: int) -> str:
    return f"job-{i:06d}"


async def fill(url: str, jobs: int, runs: int, ended: int) -> float:
    """Store ``jobs`` jobs and ``runs`` runs (``ended`` of them finished); seconds taken."""
    app = TSSApp(Settings(store={"url": url}, logging={"level": "WARNING"}))
    await app.start()
    started = time.perf_counter()
    try:
        now = await app.store.now()
        specs = []
        for i in range(jobs):
            raw: dict[str, object] = {
                "name": job_name(i), "type": "noop", "pool": f"pool-{i % 4}",
                "tags": ["bench", f"team-{i % 10}"],
            }  # fmt: skip
            if i % 10 == 0:
                raw["schedule"] = {"cron": f"{i % 60} {i % 24} * * *", "timezone": "Europe/Paris"}
            specs.append(parse_job(raw))
        for lo in range(0, jobs, 2000):
            part = specs[lo : lo + 2000]
            await asyncio.gather(*(app.store.create_job(s, _first(s, now)) for s in part))
        print(f"  {jobs:,} jobs in {time.perf_counter() - started:.0f} s", flush=True)
        policy = RunPolicy.of(specs[0])
        for lo in range(0, runs, CHUNK):
            count = min(CHUNK, runs - lo)
            finish = max(0, min(count, ended - lo))
            news = [
                NewRun(
                    id=new_id(),
                    job=job_name((lo + k) % jobs),
                    state=RunState.QUEUED if k < finish else RunState.SKIPPED,
                    trigger="manual",
                    params={},
                    priority=0,
                    pool="bench",
                    policy=policy,
                    reason="bench history",
                )
                for k in range(count)
            ]
            made = [run for run, _ in await app.store.create_runs(news, actor="bench")]
            queued = [r.id for r in made if r.state is RunState.QUEUED]
            if queued:
                claimed = await app.store.claim_runs(queued, worker_id="bench", lease=600)
                await app.store.finish_runs([_outcome(r.id, i) for i, r in enumerate(claimed)],
                                            actor="bench")  # fmt: skip
            if lo and lo % 100_000 == 0:
                print(f"  {lo:,} runs ({time.perf_counter() - started:.0f} s)", flush=True)
        return time.perf_counter() - started
    finally:
        await app.close()


def _first(spec: JobSpec, now: datetime) -> datetime | None:
    return first_fire(spec.schedule, created_at=now) if spec.schedule else None


def _outcome(run_id: str, i: int) -> Outcome:
    if i % 10 == 9:
        error = ErrorInfo("ValueError", "bench failure", "Traceback (most recent call last): ...")
        return Outcome(run_id, 1, RunState.FAILED, error=error, stderr="boom\n")
    return Outcome(run_id, 1, RunState.SUCCEEDED, result={"ok": True}, stdout="done\n")


def start_server(folder: Path, url: str) -> tuple[subprocess.Popen[bytes], str]:
    config = {
        "store": {"url": url}, "broker": {"url": "local://"}, "server": {"port": 0},
        "api": {"admin_token": TOKEN}, "logging": {"level": "WARNING"},
        "worker": {"pools": ["default"]},
    }  # fmt: skip
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([TSS, "server", "--config", str(path)], stdout=out, stderr=out)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        found = re.search(r"web +(http://\S+?)/dashboard", log.read_text())
        if found:
            return proc, found.group(1)
        if proc.poll() is not None:
            raise SystemExit(f"tss server exited:\n{log.read_text()}")
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"tss server did not start:\n{log.read_text()}")


def timed(client: httpx.Client, path: str, params: dict[str, object] | None = None) -> float:
    started = time.perf_counter()
    answer = client.get(path, params=params)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    answer.raise_for_status()
    timed.last = answer  # type: ignore[attr-defined]
    return elapsed


def jobs_page(client: httpx.Client) -> float:
    total = timed(client, "/dashboard/jobs") + timed(client, "/dashboard/session")
    total += timed(client, "/api/v1/jobs", {"sort": "name", "limit": 50})
    names = [j["name"] for j in timed.last.json()["items"]]  # type: ignore[attr-defined]
    assert len(names) == 50
    total += timed(client, "/api/v1/stats/jobs", {"job": names})
    assert all(i["runs"] for i in timed.last.json()["items"])  # type: ignore[attr-defined]
    return total


def runs_page(client: httpx.Client) -> float:
    total = timed(client, "/dashboard/runs") + timed(client, "/dashboard/session")
    total += timed(client, "/api/v1/runs", {"limit": 50})
    assert len(timed.last.json()["items"]) == 50  # type: ignore[attr-defined]
    return total


def measure(url: str, repeat: int) -> dict[str, list[float]]:
    with httpx.Client(base_url=url, timeout=60) as client:
        client.post("/dashboard/login", json={"token": TOKEN}).raise_for_status()
        out: dict[str, list[float]] = {"jobs": [], "runs": []}
        for name, page in (("jobs", jobs_page), ("runs", runs_page)):
            page(client)  # warm-up: first imports, caches
            out[name] = [page(client) * 1000 for _ in range(repeat)]
        return out


async def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="tss-dash-bench-") as tmp:
        folder = Path(tmp)
        async with namespace(args.store, "store", folder) as urls:
            print(f"filling {args.store}: {args.jobs:,} jobs, {args.runs:,} runs", flush=True)
            seconds = await fill(urls["store"], args.jobs, args.runs, args.ended)
            print(f"  filled in {seconds:.0f} s", flush=True)
            proc, url = start_server(folder, urls["store"])
            try:
                results = measure(url, args.repeat)
            finally:
                proc.terminate()
                proc.wait(30)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d} {platform.node()} {platform.machine()}, "
        f"Python {platform.python_version()}, store {args.store}, {args.jobs:,} jobs, "
        f"{args.runs:,} runs ({args.ended:,} ended with timings), {args.repeat} renders"
    )
    print(f"{'page':6} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  floor {FLOOR_MS:.0f} ms")
    failed = False
    for page, values in results.items():
        p95 = statistics.quantiles(values, n=20, method="inclusive")[-1]
        verdict = "PASS" if p95 < FLOOR_MS else "FAIL"
        failed |= verdict == "FAIL"
        median = statistics.median(values)
        print(f"{page:6} {median:10.1f} {p95:8.1f} {max(values):8.1f}  {verdict}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--ended", type=int, default=100_000, help="runs finished for real")
    parser.add_argument("--repeat", type=int, default=30, help="renders timed per page (2+)")
    raise SystemExit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
