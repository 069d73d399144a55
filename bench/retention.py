"""Benchmark of retention: prune a store of old runs while 1,000 jobs keep firing.

1. Fill a fresh store with ``--old`` ended scheduled runs (default 1,000,000), 100 days old
   and older, spread over the ``--jobs`` jobs (default 1,000), each with one attempt and
   three events (made, running, succeeded) like a real run. The rows are bulk-inserted
   straight into the tables (``executemany`` on SQLite, ``COPY`` on PostgreSQL), cloned
   from a run the store itself made and finished, with ids, times and fires of their own:
   going through ``create_runs`` would take hours and measure nothing this benchmark is for.
2. Run ``tss server``'s node in this process (scheduler with ``lookahead: 0``, so a fire is
   made at its time and the lateness is honest; in-process broker and worker) with every
   job firing ``every: --every`` seconds, their phases spread over the period, twice back
   to back: **off**, ``--seconds`` with the pruner off; **on**, with the pruner on (the
   default policy: 90 days, the 100 newest runs of each job kept, 500 rows a batch, 50 ms
   between batches) until its first pass has pruned everything (at least ``--seconds``).
3. Report fire lateness (each run's ``started_at``, the claim, minus its ``scheduled_for``)
   p50/p99/max of the runs scheduled in each phase, rows pruned, rows per second and the
   time the pass took.

    .venv/bin/python bench/retention.py                       # SQLite, 1,000,000 old runs
    .venv/bin/python bench/retention.py --old 200000 --seconds 30
    .venv/bin/python bench/retention.py --postgres postgresql://postgres@127.0.0.1/postgres

``--postgres URL`` (a server, connected to as a user that may create databases) runs in a
fresh database made there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tss.config import Settings
from tss.core.models import Outcome, RunFilter
from tss.core.states import RunState
from tss.core.timeutil import to_micros
from tss.service import TSSApp
from tss.store.paging import collect

DAY_US = 86_400_000_000
#: rows per executemany / COPY
CHUNK = 20_000
#: seconds at the start of a phase left out of the lateness: the catch-up fires the node
#: makes for the time it was down (misfire: run once) and the first reads of a cold cache
WARM_UP = 5.0


def _settings(url: str, jobs: int, every: float, pruner: bool) -> Settings:
    return Settings(
        store={"url": url},
        broker={"url": "local://"},
        scheduler={"lookahead": 0, "batch_size": 1000},
        worker={"concurrency": 200, "heartbeat_interval": 5},
        logging={"level": "WARNING"},
        alerts={"enabled": False},
        retention={"enabled": pruner, "interval": "1h"},
    )


def _specs(jobs: int, every: float, start: datetime) -> list[dict[str, Any]]:
    step = every / jobs
    return [
        {
            "name": f"job-{i:04d}",
            "type": "noop",
            "schedule": {
                "every": every,
                "start": (start + timedelta(seconds=i * step)).isoformat(),
            },
        }
        for i in range(jobs)
    ]


async def _template(app: TSSApp) -> str:
    """A run the store made, claimed and finished: its rows are what the fill clones."""
    [(run, _)] = await app.runs.trigger("job-0000", publish=False)
    [claimed] = await app.store.claim_runs([run.id], worker_id="bench", lease=30)
    outcome = Outcome(run_id=claimed.id, attempt=1, target=RunState.SUCCEEDED)
    assert await app.store.finish_runs([outcome], actor="bench") == [True]
    return run.id


def _old_runs(jobs: int, old: int) -> Iterator[tuple[str, str, int, int]]:
    """``(id, job, scheduled_for, finished_at)`` of each old run: 100 days old and older,
    one fire a minute per job, made in time order."""
    per_job = old // jobs
    newest = to_micros(datetime.now(UTC)) - 100 * DAY_US
    for k in range(per_job):
        for j in range(jobs):
            at = newest - (per_job - k) * 60_000_000 - j * 1000
            millis = at // 1000
            yield (
                f"{millis:012x}{random.getrandbits(80):020x}",
                f"job-{j:04d}",
                at,
                at + 5000,
            )


def _clone(
    template: dict[str, Any], names: list[str], run: tuple[str, str, int, int], which: str
) -> tuple[Any, ...]:
    run_id, job, at, end = run
    row = dict(template)
    if which == "runs":
        row.update(id=run_id, job=job, trigger="schedule", created_at=at, updated_at=end,
                   scheduled_for=at, queued_at=at, published_at=at, started_at=at + 1000,
                   finished_at=end, idempotency_key=None, flow_id=None, retry_of=None)  # fmt: skip
    elif which == "attempts":
        row.update(run_id=run_id, started_at=at + 1000, finished_at=end)
    else:
        row.update(run_id=run_id, job=job, at=end)
    return tuple(row[name] for name in names)


async def fill_sqlite(app: TSSApp, db: Path, jobs: int, old: int) -> float:
    import sqlite3

    template_id = await _template(app)
    await app.close()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA synchronous=OFF")
    tables: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for table, key in (("runs", "id"), ("attempts", "run_id"), ("events", "run_id")):
        rows = [dict(r) for r in conn.execute(f"SELECT * FROM {table} WHERE {key} = ?",
                                              (template_id,))]  # fmt: skip
        names = [n for n in rows[0] if not (table == "events" and n == "id")]
        tables[table] = (names, rows)
    started = time.perf_counter()
    runs = _old_runs(jobs, old)
    while True:
        part = [next(runs, None) for _ in range(CHUNK)]
        part = [r for r in part if r is not None]
        if not part:
            break
        conn.execute("BEGIN")
        for table, (names, rows) in tables.items():
            sql = f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
            conn.executemany(
                sql.replace("trigger,", '"trigger",'),
                [_clone(row, names, run, table) for run in part for row in rows],
            )
        conn.execute("COMMIT")
    conn.execute("ANALYZE")
    # Copy the fill out of the WAL now: the first checkpoint of a phase must not pay for it.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


async def fill_postgres(app: TSSApp, jobs: int, old: int) -> float:
    import asyncpg

    template_id = await _template(app)
    await app.close()
    conn = await asyncpg.connect(app.settings.store.url)
    tables: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
    for table, key in (("runs", "id"), ("attempts", "run_id"), ("events", "run_id")):
        rows = [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} WHERE {key} = $1",
                                                  template_id)]  # fmt: skip
        names = [n for n in rows[0] if not (table == "events" and n == "id")]
        tables[table] = (names, rows)
    started = time.perf_counter()
    runs = _old_runs(jobs, old)
    while True:
        part = [r for r in (next(runs, None) for _ in range(CHUNK)) if r is not None]
        if not part:
            break
        async with conn.transaction():
            for table, (names, rows) in tables.items():
                records = [_clone(row, names, run, table) for run in part for row in rows]
                await conn.copy_records_to_table(table, records=records, columns=names)
    await conn.execute("ANALYZE")
    await conn.close()
    return time.perf_counter() - started


async def _phase(
    url: str, jobs: int, every: float, seconds: float, pruner: bool, cap: float = 0.0
) -> dict[str, Any]:
    """Serve for ``seconds`` (with the pruner: also until its first pass ended); the
    lateness of the runs scheduled in that time, and what the pruner did."""
    app = TSSApp(_settings(url, jobs, every, pruner))
    await app.start()
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    began = await app.store.now()
    clock = time.perf_counter()
    loads = []
    while True:
        await asyncio.sleep(1.0)
        loads.append(os.getloadavg()[0])
        elapsed = time.perf_counter() - clock
        pass_done = app.pruner is not None and app.pruner.last is not None
        if elapsed >= seconds and (not pruner or pass_done or elapsed >= cap):
            break
    report = app.pruner.last if app.pruner is not None else None
    pruned = app.metrics.pruned.labels("runs")._value.get()  # so far, when the pass is cut
    # SQLite: how often the WAL was started over by catching up, and by stopping the store
    db = getattr(app.store, "_db", None)
    checkpointer = getattr(db, "_checkpointer", None)
    wal = (checkpointer.restarted, db.truncated) if checkpointer is not None else None
    ended = await app.store.now()
    stop.set()
    await task
    late: list[float] = []
    recent = RunFilter(since=began - timedelta(seconds=5))
    runs = await collect(
        lambda size, cursor: app.store.list_runs(recent, limit=size, cursor=cursor),
        page_size=1000,
    )
    for run in runs:
        if run.scheduled_for is None or run.started_at is None:
            continue
        if began + timedelta(seconds=WARM_UP) <= run.scheduled_for <= ended - timedelta(seconds=2):
            late.append((run.started_at - run.scheduled_for).total_seconds() * 1000)
    await app.close()
    late.sort()
    out: dict[str, Any] = {
        "late": late,
        "seconds": time.perf_counter() - clock,
        "fires": float(len(late)),
        "p50_ms": statistics.median(late) if late else float("nan"),
        "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan"),
        "max_ms": late[-1] if late else float("nan"),
        "load": statistics.mean(loads),
        "wal": wal,
    }
    if pruner:
        out["pruned_runs"] = float(pruned)
        out["pass_done"] = float(report is not None)
    return out


def _variants(args: argparse.Namespace) -> list[tuple[str, float | None]]:
    """The pruner-on variants: ``("on", None)`` (the default batch time), or one per
    ``--batch-ms`` value."""
    if not args.batch_ms:
        return [("on", None)]
    return [(f"on {ms:g}ms", ms / 1000) for ms in args.batch_ms]


async def _phases(url: str, args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """Off, then on (each variant), ``--rounds`` times, each ``--seconds`` long; then, with
    ``--to-the-end``, on until the pass has pruned everything (``--cap`` at most) and off
    once more."""
    from tss.scheduler import pruner

    default = pruner.BATCH_TIME, pruner.ONE_WRITER_BATCH_TIME
    phases: list[tuple[str, dict[str, Any]]] = []

    async def phase(kind: str, batch: float | None, on: bool, cap: float) -> None:
        pruner.BATCH_TIME, pruner.ONE_WRITER_BATCH_TIME = (batch, batch) if batch else default
        got = await _phase(url, args.jobs, args.every, args.seconds, on, cap)
        phases.append((kind, got))
        _say(kind, got)

    for _ in range(args.rounds):
        await phase("off", None, False, args.seconds)
        for kind, batch in _variants(args):
            await phase(kind, batch, True, args.seconds)
    if args.to_the_end:
        kind, batch = _variants(args)[0]
        await phase(kind, batch, True, args.cap)
        await phase("off", None, False, args.seconds)
    pruner.BATCH_TIME, pruner.ONE_WRITER_BATCH_TIME = default
    return phases


def _say(kind: str, got: dict[str, Any]) -> None:
    extra = ""
    if kind != "off":
        done = "pass done" if got["pass_done"] else "pass cut"
        extra = f", pruned {got['pruned_runs']:,.0f} runs ({done})"
    if got.get("wal") is not None:
        extra += f"; WAL restarted {got['wal'][0]}x by catching up, {got['wal'][1]}x by the store"
    print(
        f"  {kind:>8}: {got['seconds']:6.1f}s {got['fires']:>7,.0f} fires"
        f"  p50 {got['p50_ms']:5.1f}  p99 {got['p99_ms']:6.1f}  max {got['max_ms']:6.1f} ms"
        f"  load {got['load']:.1f}{extra}",
        flush=True,
    )


def _p99(late: list[float]) -> float:
    late = sorted(late)
    return late[min(len(late) - 1, int(len(late) * 0.99))] if late else float("nan")


def _report(phases: list[tuple[str, dict[str, Any]]]) -> None:
    """Per kind: the median of the phases' p99 and the p99 of all their fires pooled,
    and each pruner-on kind against off."""
    kinds = list(dict.fromkeys(kind for kind, _ in phases))
    print(f"{'':>22}" + "".join(f" {kind:>10}" for kind in kinds) + "  (on/off)")
    rows: dict[str, list[float]] = {}
    for kind in kinds:
        got = [g for k, g in phases if k == kind]
        pooled = [x for g in got for x in g["late"]]
        rows.setdefault("phases", []).append(len(got))
        rows.setdefault("fires", []).append(len(pooled))
        rows.setdefault("p50 ms (pooled)", []).append(statistics.median(pooled))
        rows.setdefault("p99 ms (pooled)", []).append(_p99(pooled))
        rows.setdefault("median of phase p99s", []).append(
            statistics.median(g["p99_ms"] for g in got)
        )
        rows.setdefault("max ms", []).append(max(g["max_ms"] for g in got))
    for key, values in rows.items():
        ratios = " ".join(f"{v / values[0]:.2f}" for v in values[1:])
        print(f"{key:>22}" + "".join(f" {v:>10,.1f}" for v in values) + f"  ({ratios})")
    for kind in kinds[1:]:
        got = [g for k, g in phases if k == kind]
        pruned = sum(g["pruned_runs"] for g in got)
        seconds = sum(g["seconds"] for g in got)
        done = "the whole pass" if got[-1]["pass_done"] else "not the whole pass"
        print(f"{kind}: pruned {pruned:,.0f} runs (+ their attempts and events) in"
              f" {seconds:.1f}s ({done}): {pruned / seconds:,.0f} runs/s")  # fmt: skip


async def main_async(args: argparse.Namespace, folder: Path) -> None:
    if args.postgres:
        import asyncpg

        schema = f"tss_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f"CREATE DATABASE {schema}")
        url = args.postgres.rsplit("/", 1)[0] + f"/{schema}"
    else:
        admin, schema = None, ""
        url = f"sqlite:///{folder / 'tss.db'}"
    try:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
        app = TSSApp(_settings(url, args.jobs, args.every, False))
        await app.start()
        await app.jobs.apply(_specs(args.jobs, args.every, start))
        if args.postgres:
            took = await fill_postgres(app, args.jobs, args.old)
        else:
            took = await fill_sqlite(app, folder / "tss.db", args.jobs, args.old)
        print(f"filled {args.old:,} old runs (+1 attempt, 3 events each) in {took:.1f}s")
        if args.fill_only:
            return
        phases = await _phases(url, args)
        _report(phases)
    finally:
        if admin is not None:
            if args.fill_only:
                print(f"kept database {schema} (drop it when done)")
            else:
                await admin.execute(f"DROP DATABASE {schema} WITH (FORCE)")
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--old", type=int, default=1_000_000, help="old ended runs to fill")
    parser.add_argument("--jobs", type=int, default=1_000, help="jobs firing")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between a job's fires")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument(
        "--cap", type=float, default=1800.0, help="most seconds the pruner-on phase lasts"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="off/on phase pairs of --seconds each"
    )
    parser.add_argument(
        "--to-the-end",
        action="store_true",
        help="after the rounds, on until the pass is done (--cap at most), then off once more",
    )
    parser.add_argument(
        "--batch-ms",
        type=float,
        nargs="+",
        help="pruner-on variants by the time a batch is sized to (tss.scheduler.pruner."
        "BATCH_TIME, ONE_WRITER_BATCH_TIME on SQLite), each its own phase in every round",
    )
    parser.add_argument(
        "--catch-up",
        type=float,
        help="seconds the SQLite WAL checkpointer catches up before stalling the store"
        " (tss.store.sqlite.connection.CATCH_UP; 0: stall at once, as before it)",
    )
    parser.add_argument("--postgres", help="a PostgreSQL URL (default: SQLite in a temp dir)")
    parser.add_argument("--fill-only", metavar="DIR", help="fill DIR/tss.db and stop (to study it)")
    args = parser.parse_args()
    if args.catch_up is not None:
        from tss.store.sqlite import connection

        connection.CATCH_UP = args.catch_up
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python"
        f" {platform.python_version()}, load {os.getloadavg()[0]:.1f}"
    )
    if args.fill_only:
        Path(args.fill_only).mkdir(parents=True, exist_ok=True)
        asyncio.run(main_async(args, Path(args.fill_only)))
        return
    with tempfile.TemporaryDirectory(prefix="tss-bench-") as tmp:
        asyncio.run(main_async(args, Path(tmp)))


if __name__ == "__main__":
    main()
