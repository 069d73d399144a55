"""The Python library (``TaskScheduler``) beside APScheduler 3, in one harness.

Two measures, each system in a process of its own, one after another:

- **lateness**: K one-shot tasks, all due at the same whole second T (``--lead`` seconds
  after the process starts, so that adding them is done before T; the margin left is
  printed). Each task's function reads ``time.time()`` first; lateness is that minus T.
  p50, p99 and max over the tasks that ran, and how many ran within ``--within`` seconds.
- **throughput**: N runs of a no-op function submitted now, one call each
  (``scheduler.submit`` / ``add_job(func)``), from the first call until the function has
  run N times, and (TSS) until every run is recorded as ended.

Systems: ``tss-memory`` and ``tss-sqlite`` (``TaskScheduler`` at its defaults: worker
concurrency 8, the function a local one, so it runs in a thread of this process; the store
in memory, or a SQLite file in a temporary folder), ``aps-asyncio`` and ``aps-background``
(APScheduler 3 ``AsyncIOScheduler`` / ``BackgroundScheduler`` at their defaults:
``MemoryJobStore``, a pool of 10 threads for a plain function, ``misfire_grace_time`` 1 s,
so a job that cannot start within 1 s of T is skipped and counted as not run).

    bench/peers/.venv/bin/python bench/library.py -k 1000 -n 5000
    bench/peers/.venv/bin/python bench/library.py -k 10000 --lead 40 \
        --systems tss-memory,aps-asyncio

TSS runs from the project's ``.venv`` (``--tss-python``), APScheduler from the interpreter
running this script (``bench/peers/setup.sh`` makes one with ``apscheduler<4``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SYSTEMS = ("tss-memory", "tss-sqlite", "aps-asyncio", "aps-asyncio-all", "aps-background")


def _percentiles(values: list[float], expected: int) -> dict[str, float]:
    """Percentiles of lateness over the ``expected`` fires: a fire that did not run within
    the window counts as never (infinitely late), so a system that skips late fires is not
    measured only on the ones it kept."""
    values = sorted(values) + [float("inf")] * max(0, expected - len(values))
    if not values:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}

    def pct(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] * 1000

    return {"p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": values[-1] * 1000}


def _lateness(started: list[float], due: float, k: int) -> dict[str, float]:
    """Lateness percentiles of the K fires due at ``due``, and how many ran."""
    return {**_percentiles([s - due for s in started], k), "ran": len(started)}


def _ms(value: float) -> str:
    return "never" if value == float("inf") else f"{value:.0f}"


def _wait(check: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.01)
    return bool(check())


# -- one system, in its own process ------------------------------------------------------


def _recorder() -> tuple[list[float], Any]:
    """A list, and the task function: its first statement reads the clock into the list."""
    started: list[float] = []
    lock = threading.Lock()

    def body() -> None:
        now = time.time()
        with lock:
            started.append(now)

    return started, body


def run_tss(store: str, k: int, n: int, lead: float, within: float) -> dict[str, Any]:
    from tss import Config, Task, TaskScheduler

    started, body = _recorder()

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        url = "memory://" if store == "memory" else f"sqlite:///{folder}/lib.db"
        due = int(time.time() + lead)
        at = datetime.fromtimestamp(due, tz=UTC).isoformat()
        scheduler = TaskScheduler(Config(store={"url": url}))
        for i in range(k):
            scheduler.add_task(Task(f"due-{i:06d}", body, at=at))
        scheduler.start()
        out["margin_s"] = due - time.time()
        _wait(lambda: len(started) >= k, due + within - time.time())
        out["lateness"] = _lateness(started, due, k)
        started.clear()
        scheduler.add_task(Task("noop", body))
        begin = time.perf_counter()
        handles = [scheduler.submit("noop") for _ in range(n)]
        submitted = time.perf_counter()
        _wait(lambda: len(started) >= n, 600)
        ran = time.perf_counter()
        for handle in handles:
            handle.wait(600)
        recorded = time.perf_counter()
        scheduler.stop()
        out["throughput"] = {
            "submit_per_s": n / (submitted - begin),
            "ran_per_s": n / (ran - begin),
            "recorded_per_s": n / (recorded - begin),
        }
    return out


def run_aps(kind: str, k: int, n: int, lead: float, within: float) -> dict[str, Any]:
    """APScheduler 3 at its defaults, or (``-all``) with ``misfire_grace_time=None``: every
    fire runs however late, as every TSS fire does, so that p99 is over the same K fires."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.triggers.date import DateTrigger

    started, body = _recorder()

    out: dict[str, Any] = {}
    due = int(time.time() + lead)
    when = datetime.fromtimestamp(due, tz=UTC)
    if kind == "background":
        scheduler: Any = BackgroundScheduler(timezone="UTC")
        for _ in range(k):
            scheduler.add_job(body, DateTrigger(run_date=when))
        scheduler.start()
        out["margin_s"] = due - time.time()
        _wait(lambda: len(started) >= k, due + within - time.time())
        out["lateness"] = _lateness(started, due, k)
        started.clear()
        begin = time.perf_counter()
        for _ in range(n):
            scheduler.add_job(body)
        submitted = time.perf_counter()
        _wait(lambda: len(started) >= n, 600)
        ran = time.perf_counter()
        scheduler.shutdown()
    else:
        import asyncio

        async def main() -> tuple[float, float, float]:
            defaults = {"misfire_grace_time": None} if kind == "asyncio-all" else {}
            scheduler = AsyncIOScheduler(timezone="UTC", job_defaults=defaults)
            for _ in range(k):
                scheduler.add_job(body, DateTrigger(run_date=when))
            scheduler.start()
            out["margin_s"] = due - time.time()
            deadline = due + within
            while len(started) < k and time.time() < deadline:
                await asyncio.sleep(0.01)
            out["lateness"] = _lateness(started, due, k)
            started.clear()
            begin = time.perf_counter()
            for _ in range(n):
                scheduler.add_job(body)
            submitted = time.perf_counter()
            while len(started) < n:
                await asyncio.sleep(0.001)
            ran = time.perf_counter()
            scheduler.shutdown()
            return begin, submitted, ran

        begin, submitted, ran = asyncio.run(main())
    out["throughput"] = {
        "submit_per_s": n / (submitted - begin),
        "ran_per_s": n / (ran - begin),
        "recorded_per_s": None,
    }
    return out


# -- the harness -------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=1000, help="one-shots due at once")
    parser.add_argument("-n", type=int, default=5000, help="runs submitted for throughput")
    parser.add_argument("--lead", type=float, default=15.0, help="seconds until they are due")
    parser.add_argument("--within", type=float, default=60.0)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--tss-python", default=str(REPO / ".venv" / "bin" / "python"))
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"K={args.k} one-shots due at once; N={args.n} submitted no-ops")
    for system in args.systems.split(","):
        python = args.tss_python if system.startswith("tss-") else sys.executable
        done = subprocess.run(
            [python, __file__, "_one", system, str(args.k), str(args.n), str(args.lead),
             str(args.within)],
            capture_output=True, text=True, timeout=args.lead + args.within + 900,
            cwd=REPO, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            print(f"{system}: failed\n{done.stderr[-2000:]}")
            continue
        results[system] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"\n{'system':<16}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'ran':>8}{'margin s':>10}"
          f"{'submit/s':>10}{'ran/s':>9}{'ended/s':>9}")  # fmt: skip
    for system, r in results.items():
        late, thr = r["lateness"], r["throughput"]
        ended = f"{thr['recorded_per_s']:,.0f}" if thr["recorded_per_s"] else "—"
        p50, p99, top = (_ms(late[key]) for key in ("p50_ms", "p99_ms", "max_ms"))
        print(f"{system:<16}{p50:>9}{p99:>9}{top:>9}"
              f"{late['ran']:>8}{r['margin_s']:>10.1f}{thr['submit_per_s']:>10,.0f}"
              f"{thr['ran_per_s']:>9,.0f}{ended:>9}")  # fmt: skip
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        system, k, n, lead, within = sys.argv[2], *map(float, sys.argv[3:7])
        if system.startswith("tss-"):
            sys.path.insert(0, str(REPO / "src"))
            result = run_tss(system.split("-", 1)[1], int(k), int(n), lead, within)
        else:
            result = run_aps(system.split("-", 1)[1], int(k), int(n), lead, within)
        print(json.dumps(result))
    else:
        main()
