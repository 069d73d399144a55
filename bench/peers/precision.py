"""Trigger precision: K one-shot jobs all due in the same second, TSS against its peers.

What it measures. For each system, one after another, K one-shots (default 1,000, ``-k``) are
made due at the same whole second T, far enough ahead (``--lead``, default 20 s) that creating
them and starting every process is done before T (the margin left is measured; a system whose
set-up ran past T is reported as failed, raise ``--lead``). Every job's task body is the same
(``precision_tasks.record``): its first statement reads ``time.time()``, then one Redis
``RPUSH "<job>:<started>"`` onto a list of this run's own key prefix. A job's lateness is its
body's start minus T (every process is on this machine: one clock). Printed per system: p50,
p99 and max lateness in ms over the jobs that started, and how many of the K started within
``--within`` seconds (default 60) of T; the harness waits for all K or T + ``--within``.

How each system is run (defaults everywhere else; nothing tuned):

- ``tss-sqlite``: one ``tss server`` (API + scheduler + worker in one process, SQLite store,
  ``local://`` broker, worker concurrency 8 and logging INFO as by default). The K due jobs are
  ``schedule: {at: T}`` ``python`` jobs in the server's config (``job_files``), applied by the
  server at start as a user's config is; T is ``--lead`` seconds after the config is written,
  and the margin is T minus the moment ``/readyz`` answers 200. With ``--stored M`` the other
  M-K jobs (one-shots due in 2100, so they sit in the schedule like any stored job) are
  stored first with ``TSSApp.jobs.apply`` (create only, 5,000 a call).
- ``tss-pg-rabbitmq``: a fresh PostgreSQL database, RabbitMQ queues of a prefix of their own;
  every job (K due + M-K stored) stored first with ``TSSApp.jobs.apply``, then two ``tss
  worker`` processes and one ``tss scheduler`` (config without jobs; defaults otherwise,
  concurrency 8 per worker). The margin is T minus the last process's start banner.
- ``apscheduler-background`` / ``apscheduler-asyncio``: APScheduler 3.x in a process of its
  own: ``BackgroundScheduler()`` (default ``ThreadPoolExecutor(10)``, ``MemoryJobStore``) or
  ``AsyncIOScheduler()`` (default ``AsyncIOExecutor``: a sync body runs in the loop's default
  thread pool), started, then K ``add_job(record, DateTrigger(run_date=T))``. APScheduler's
  default ``misfire_grace_time`` is 1 s: a job that cannot start within 1 s of T is skipped.
- ``celery-beat``: Celery with a Redis broker (``global_keyprefix`` of this run's prefix, no
  result backend, so nothing is kept), two ``celery worker`` processes at their defaults
  (prefork, concurrency = CPU count each) and one ``celery beat`` (default
  ``PersistentScheduler``, its shelve in a temporary folder). Beat has no "once at T" entry
  (crontab/solar repeat); its schedule is K ``beat_schedule`` entries whose ``schedule`` is
  ``precision_tasks.once(T)``, a ``celery.schedules.schedule`` subclass (``run_every`` = the
  time to T) whose ``is_due`` is true once, at T, and never again (the documented way to write
  a custom beat schedule). Beat is started once the workers answer a ping; its margin is
  T minus its start banner.
- ``celery-eta``: the same two workers; one producer calls ``crecord.apply_async(eta=T)`` K
  times (what Celery users do for a one-shot). The workers hold ETA tasks in memory until T.

    /tmp/hB-venv/bin/python bench/peers/precision.py -k 1000
    /tmp/hB-venv/bin/python bench/peers/precision.py -k 10000 --stored 1000000 --lead 600 \
        --systems tss-sqlite,tss-pg-rabbitmq --json out.json

TSS runs from the project's ``.venv`` (``--tss-venv``, default ``<repo>/.venv``); the harness,
APScheduler and Celery from the interpreter running this script (it needs redis, psycopg,
pyyaml, apscheduler<4, celery[redis]). Servers on loopback: PostgreSQL 5432, Redis 6379,
RabbitMQ 5672 (guest/guest). Every namespace (Redis keys of the run's prefix, the PostgreSQL
database, the RabbitMQ queues) and every process it started is removed on exit, failure or
Ctrl+C; a system that fails prints why and the next one runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REDIS_URL = "redis://127.0.0.1:6379/0"
PG = "postgresql://postgres@127.0.0.1:5432/"
SYSTEMS = ("tss-sqlite", "tss-pg-rabbitmq", "apscheduler-background", "apscheduler-asyncio",
           "celery-beat", "celery-eta")  # fmt: skip


class Failed(Exception):
    """A system could not be measured: the reason is printed and the harness goes on."""


class Procs:
    """Processes started by one system, each in a session of its own (so Celery's prefork
    children are stopped with their parent), stopped by their process group."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None,
              cwd: Path = HERE) -> subprocess.Popen[bytes]:  # fmt: skip
        log = (self.folder / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            ["nice", *argv], stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )  # fmt: skip
        self.procs.append((name, proc))
        return proc

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                tail = "\n    ".join(self.log(name).strip().splitlines()[-6:])
                raise Failed(f"{name} exited with {proc.returncode}:\n    {tail}")

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for _, proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def run_helper(argv: list[str], timeout: float, env: dict[str, str] | None = None) -> str:
    """A helper to its end; its output, or Failed with it."""
    done = subprocess.run(["nice", *argv], cwd=HERE, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})  # fmt: skip
    if done.returncode != 0:
        raise Failed(f"{' '.join(argv[:3])} failed:\n    " + "\n    ".join(
            (done.stdout + done.stderr).strip().splitlines()[-8:]))  # fmt: skip
    return done.stdout


def wait_for(what: str, test: Any, until: float, procs: Procs | None = None) -> None:
    while not test():
        if procs is not None:
            procs.check()
        if time.time() > until:
            raise Failed(f"timed out waiting for {what}")
        time.sleep(0.1)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tag = uuid.uuid4().hex[:8]
        self.prefix = f"peers-precision-{self.tag}"
        self.redis = redis.Redis.from_url(REDIS_URL)
        self.tss = str(Path(args.tss_venv) / "bin" / "tss")
        self.tss_python = str(Path(args.tss_venv) / "bin" / "python")

    # --- shared ---------------------------------------------------------------------

    def due_time(self) -> float:
        return float(math.ceil(time.time() + self.args.lead))

    def collect(self, key: str, due: float, k: int, procs: Procs | None,
                done: Any = None) -> dict[str, Any]:  # fmt: skip
        """Wait for K starts (or T + within, or ``done()``), then the lateness figures."""
        until = due + self.args.within
        while self.redis.llen(key) < k and time.time() < until:
            if procs is not None:
                procs.check()
            if done is not None and time.time() > due and done():
                break
            time.sleep(0.2)
        time.sleep(0.3)  # a body that read its clock may still be pushing
        items = self.redis.lrange(key, 0, -1)
        late: dict[str, float] = {}
        for item in items:
            job, _, started = item.decode().rpartition(":")
            late.setdefault(job, float(started) - due)  # the first start of each job
        values = sorted(late.values())
        if not values:
            raise Failed(f"none of the {k} jobs started within {self.args.within:g}s")

        def pct(q: float) -> float:
            return values[min(len(values) - 1, max(0, math.ceil(q * len(values)) - 1))] * 1000

        return {"k": k, "started": len(values), "repeats": len(items) - len(values),
                "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": values[-1] * 1000,
                "min_ms": values[0] * 1000,
                "within": sum(1 for v in values if v <= self.args.within)}  # fmt: skip

    def margin_ok(self, due: float, ready: float) -> float:
        margin = due - ready
        if margin < 1.0:
            raise Failed(f"set-up ended {-margin:.1f}s after T - 1s: raise --lead "
                         f"above {self.args.lead:g}")  # fmt: skip
        return margin

    # --- TSS --------------------------------------------------------------------------

    def tss_config(self, store: str, broker: str, port: int | None) -> dict[str, Any]:
        config: dict[str, Any] = {"store": {"url": store}, "broker": {"url": broker},
                                  "python_path": [str(HERE)]}  # fmt: skip
        if port is not None:
            config["server"] = {"port": port}
        return config

    def tss_store_jobs(self, store: str, due_iso: str, k: int, m: int, key: str) -> None:
        if m > 0:
            run_helper([self.tss_python, "precision_tasks.py", "tss-apply", store, due_iso,
                        str(k), str(m), key], timeout=max(600, m / 100))  # fmt: skip

    def tss_sqlite(self, folder: Path) -> dict[str, Any]:
        k, m = self.args.k, max(self.args.stored, self.args.k)
        key = f"{self.prefix}:tss-sqlite"
        store = f"sqlite:///{folder / 'tss.db'}"
        # The stored, not-due jobs first: their count must not eat the lead.
        self.tss_store_jobs(store, "2100-01-01T00:00:00+00:00", 0, m - k, key)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        due = self.due_time()
        due_iso = datetime.fromtimestamp(due, tz=UTC).isoformat()
        jobs = [{"name": f"due-{i:07d}", "type": "python",
                 "params": {"function": "precision_tasks:record",
                            "kwargs": {"key": key, "job": f"due-{i:07d}"}},
                 "schedule": {"at": due_iso}} for i in range(k)]  # fmt: skip
        (folder / "jobs.yaml").write_text(yaml.safe_dump({"jobs": jobs}))
        config = {**self.tss_config(store, "local://", port), "job_files": ["jobs.yaml"]}
        (folder / "config.yaml").write_text(yaml.safe_dump(config))
        procs = Procs(folder)
        try:
            procs.start("tss-server", [self.tss, "--config", str(folder / "config.yaml"),
                                       "server"], cwd=folder)  # fmt: skip

            def ready() -> bool:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                        return True
                except OSError:
                    return False

            wait_for("tss server /readyz", ready, due + self.args.within, procs)
            margin = self.margin_ok(due, time.time())
            result = self.collect(key, due, k, procs)
            return {**result, "stored": m, "margin_s": margin}
        finally:
            procs.stop()

    def tss_pg_rabbitmq(self, folder: Path) -> dict[str, Any]:
        import psycopg

        k, m = self.args.k, max(self.args.stored, self.args.k)
        key = f"{self.prefix}:tss-pg-rabbitmq"
        database = f"bench_precision_{self.tag}"
        rabbit = f"{self.prefix}-rmq"
        with psycopg.connect(PG + "postgres", autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{database}"')
        procs = Procs(folder)
        try:
            store = PG + database
            broker = f"amqp://guest:guest@127.0.0.1:5672/?prefix={rabbit}"
            self.tss_store_jobs(store, "2100-01-01T00:00:00+00:00", 0, m - k, key)
            due = self.due_time()
            due_iso = datetime.fromtimestamp(due, tz=UTC).isoformat()
            self.tss_store_jobs(store, due_iso, k, k, key)
            (folder / "config.yaml").write_text(
                yaml.safe_dump(self.tss_config(store, broker, None))
            )
            base = [self.tss, "--config", str(folder / "config.yaml")]
            for i in range(2):  # workers first: the burst must find them ready
                procs.start(f"worker-{i}", [*base, "worker", "--worker-id", f"prec-w{i}"],
                            cwd=folder)  # fmt: skip
            procs.start("scheduler", [*base, "scheduler"], cwd=folder)
            for name in ("worker-0", "worker-1", "scheduler"):
                wait_for(f"{name} to start", lambda n=name: "press Ctrl+C" in procs.log(n),
                         due + self.args.within, procs)  # fmt: skip
            margin = self.margin_ok(due, time.time())
            result = self.collect(key, due, k, procs)
            return {**result, "stored": m, "margin_s": margin}
        finally:
            procs.stop()
            try:
                run_helper([self.tss_python, "precision_tasks.py", "rabbit-clean", rabbit], 60)
            finally:
                with psycopg.connect(PG + "postgres", autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')

    # --- APScheduler ------------------------------------------------------------------

    def apscheduler(self, folder: Path, kind: str) -> dict[str, Any]:
        k = self.args.k
        key = f"{self.prefix}:aps-{kind}"
        procs = Procs(folder)
        try:
            due = self.due_time()
            proc = procs.start(f"aps-{kind}", [sys.executable, "precision_tasks.py", "aps",
                                               kind, repr(due), str(k), key])  # fmt: skip
            wait_for("APScheduler to add the jobs", lambda: "added" in procs.log(f"aps-{kind}"),
                     due + self.args.within, procs)  # fmt: skip
            margin = self.margin_ok(due, time.time())
            # The process ends once every job fired or was skipped (misfire) and ran.
            result = self.collect(key, due, k, None, done=lambda: proc.poll() is not None)
            if proc.poll() not in (None, 0):
                procs.check()
            skipped = procs.log(f"aps-{kind}").count("was missed by")
            return {**result, "stored": k, "margin_s": margin, "skipped": skipped}
        finally:
            procs.stop()

    # --- Celery -----------------------------------------------------------------------

    def celery(self, folder: Path, beat: bool) -> dict[str, Any]:
        k = self.args.k
        name = "beat" if beat else "eta"
        key = f"{self.prefix}:celery-{name}"
        env = {"PRECISION_BROKER": REDIS_URL, "PRECISION_PREFIX": f"{self.prefix}:celery:",
               "PYTHONPATH": str(HERE)}  # fmt: skip
        celery = [sys.executable, "-m", "celery", "-A", "precision_tasks"]
        procs = Procs(folder)
        try:
            for i in range(2):
                procs.start(f"celery-worker-{i}", [*celery, "worker", "-n", f"prec{i}@%h"],
                            env=env, cwd=folder)  # fmt: skip
            wait_for("two Celery workers to answer a ping", lambda: self.pings(env) >= 2,
                     time.time() + 60, procs)  # fmt: skip
            due = self.due_time()
            if beat:
                beat_env = {**env, "PRECISION_BEAT_DUE": repr(due), "PRECISION_KEY": key,
                            "PRECISION_BEAT_K": str(k)}  # fmt: skip
                procs.start("celery-beat", [*celery, "beat", "-s", str(folder / "beat-schedule")],
                            env=beat_env, cwd=folder)  # fmt: skip
                # Its banner ("maxinterval" its last line) is printed as the loop starts.
                wait_for("celery beat to start", lambda: "maxinterval" in procs.log("celery-beat"),
                         due, procs)  # fmt: skip
                margin = self.margin_ok(due, time.time())
            else:
                run_helper([sys.executable, "precision_tasks.py", "celery-eta", repr(due),
                            str(k), key], timeout=self.args.lead, env=env)  # fmt: skip
                margin = self.margin_ok(due, time.time())
            result = self.collect(key, due, k, procs)
            return {**result, "stored": k, "margin_s": margin}
        finally:
            procs.stop()

    def pings(self, env: dict[str, str]) -> int:
        out = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "precision_tasks", "inspect", "ping",
             "--timeout", "1", "--json"], cwd=HERE, env={**os.environ, **env},
            capture_output=True, text=True)  # fmt: skip
        try:
            return len(json.loads(out.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            return 0

    # --- all --------------------------------------------------------------------------

    def run(self, system: str) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="precision-") as tmp:
            folder = Path(tmp)
            try:
                if system == "tss-sqlite":
                    return self.tss_sqlite(folder)
                if system == "tss-pg-rabbitmq":
                    return self.tss_pg_rabbitmq(folder)
                if system.startswith("apscheduler-"):
                    return self.apscheduler(folder, system.split("-", 1)[1])
                return self.celery(folder, beat=system == "celery-beat")
            except Exception as exc:
                if self.args.keep_logs:
                    for log in folder.glob("*.log"):
                        print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
                if isinstance(exc, Failed):
                    raise
                raise Failed("".join(traceback.format_exception_only(exc)).strip()) from exc

    def cleanup(self) -> None:
        keys = list(self.redis.scan_iter(match=f"{self.prefix}*", count=1000))
        for i in range(0, len(keys), 1000):
            self.redis.unlink(*keys[i : i + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", type=int, default=1000, help="one-shots due in the same second")
    parser.add_argument("--stored", type=int, default=0,
                        help="TSS only: jobs stored in all, K of them due (default K)")  # fmt: skip
    parser.add_argument("--within", type=float, default=60, help="the window, seconds after T")
    parser.add_argument("--lead", type=float, default=20, help="seconds from set-up start to T")
    parser.add_argument("--systems", default=",".join(SYSTEMS),
                        help=f"comma-separated, of {', '.join(SYSTEMS)}")  # fmt: skip
    parser.add_argument("--tss-venv", default=str(REPO / ".venv"), help="the project's venv")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep-logs", action="store_true", help="print logs of a failure")
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in SYSTEMS:
            parser.error(f"unknown system {s!r}")
    if any(s.startswith("tss") for s in systems) and not Path(args.tss_venv, "bin", "tss").exists():
        parser.error(f"no {args.tss_venv}/bin/tss: pass --tss-venv (the project's .venv)")
    if args.stored and args.stored < args.k:
        parser.error("--stored cannot be below -k")

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, interrupted)  # even when started with SIGINT ignored
    bench = Bench(args)
    rows: list[dict[str, Any]] = []
    try:
        for system in systems:
            print(f"{system}: K={args.k} ...", flush=True)
            began = time.time()
            try:
                row = {"system": system, **bench.run(system)}
            except Failed as exc:
                row = {"system": system, "k": args.k, "error": str(exc)}
                print(f"  FAILED: {exc}", flush=True)
            finally:
                bench.cleanup()
            row["seconds"] = round(time.time() - began, 1)
            row["load1"] = round(os.getloadavg()[0], 1)  # a busy machine: every figure worse
            rows.append(row)
    except KeyboardInterrupt:
        print("interrupted: cleaned up", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        bench.cleanup()

    print(f"\nmachine: {platform.machine()} {os.cpu_count()} cores, "
          f"Python {platform.python_version()}, within {args.within:g}s")  # fmt: skip
    print(f"{'system':24} {'K':>6} {'stored':>8} {'p50 ms':>9} {'p99 ms':>9} {'max ms':>9} "
          f"{'ran within':>12} {'load1':>6}")  # fmt: skip
    for r in rows:
        if "error" in r:
            print(f"{r['system']:24} {r['k']:>6} failed: {r['error'].splitlines()[0]}")
            continue
        print(f"{r['system']:24} {r['k']:>6} {r['stored']:>8} {r['p50_ms']:>9,.0f} "
              f"{r['p99_ms']:>9,.0f} {r['max_ms']:>9,.0f} {r['within']:>6}/{r['k']:<5} "
              f"{r['load1']:>6}")  # fmt: skip
    if args.json:
        meta = {"machine": f"{platform.machine()} {os.cpu_count()} cores",
                "python": platform.python_version(), "k": args.k,
                "stored": max(args.stored, args.k), "within_s": args.within,
                "lead_s": args.lead, "at": datetime.now(UTC).isoformat()}  # fmt: skip
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
