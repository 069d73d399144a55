"""Throughput of TSS against its peers, per backend, on this machine, one system after another.

Measures, per system (one producer, one run per call with the project's normal single-job
API; the task body is one Redis ``INCR`` of a counter key of the system's own namespace, and
the completion signal is that counter reaching N):

- submit: runs/s of the producer alone (no worker running), with p50/p99 of one submit call;
- e2e: the workers started first (and given ``--warmup`` seconds), then N submitted: runs/s
  from the first submit until the counter reaches N;
- drain: N submitted first with no worker, then the workers started: runs/s from the start of
  the worker processes until the counter reaches N ("drain*": from the first INCR instead, so
  without the workers' start-up).

Then per backend the ratio TSS / best peer for e2e and drain.

    bench/peers/setup.sh
    nice bench/peers/.venv/bin/python bench/peers/throughput.py -n 10000 --rounds 2 \
        --json peers.json [--backend redis,postgres] [--systems tss,huey]

How each system runs (their defaults unless said; "two workers" = two worker processes or the
project's idiomatic equivalent):

- TSS (every backend): one ``tss scheduler`` and two ``tss worker`` processes on one config in a
  temp folder, all defaults (worker concurrency 8, a sync function in a thread, logging INFO);
  the task is the ``python`` job ``tss_task:incr`` (this folder on ``python_path``); the producer
  calls ``await app.runs.trigger("incr")`` on a started ``TSSApp``. Redis: store and broker
  ``redis://127.0.0.1:6379/<db>?prefix=<ns>``. RabbitMQ: store PostgreSQL (a fresh database),
  broker ``amqp://...?prefix=<ns>``. PostgreSQL: a fresh database, broker ``store://``.
  SQLite: ``sqlite:///`` in the temp folder, broker ``store://``. After each e2e run the store
  is read (from the project's venv): every run ``succeeded``, one attempt each, its events.
- tss-server (SQLite): one ``tss server`` (scheduler and worker in one process, broker
  ``local://``), the producer one ``httpx.Client`` (keep-alive) POSTing
  ``/api/v1/jobs/incr/runs``; no drain phase (the worker lives in the server, and
  ``local://`` cannot be split), so its submit figures are taken in the e2e phase, with the
  server's own worker running.
- Huey: ``RedisHuey`` (blocking), two ``huey_consumer`` processes, each its default one worker
  thread; ``incr()``; results kept (the INCR value, in Redis).
- Dramatiq: two ``dramatiq --processes 1`` processes (each its default 8 threads), i.e. two
  worker processes as for TSS (Dramatiq's own default would be one process per core = 2 here);
  ``incr.send()``. Redis: ``RedisBroker`` plus the ``Results`` middleware (Redis backend,
  ``store_results=True``): results kept. RabbitMQ: ``RabbitmqBroker``, no results (Dramatiq's
  result backends are Redis/Memcached).
- RQ: two ``rq worker`` processes (default Worker: a forked work horse per job);
  ``Queue.enqueue``; job hashes and results kept (default TTLs: result 500 s).
- Celery: one ``celery worker`` with its default prefork pool, concurrency = cores = 2 child
  processes (Celery's idiomatic equivalent of two worker processes); ``incr.delay()``.
  Redis: broker and result backend Redis (results kept, 1 day). RabbitMQ: amqp broker, no
  result backend (Celery's default: nothing kept).
- arq: two ``arq`` worker processes (default max_jobs 10); ``enqueue_job``; results kept 1 h.
- taskiq: ``taskiq worker --workers 2`` (two worker processes, taskiq-redis
  ``ListQueueBroker``); ``await incr.kiq()``; results kept (``RedisAsyncResultBackend``).
- Procrastinate: two ``procrastinate worker`` processes (default concurrency 1);
  ``await incr.defer_async()``; keeps each job row (status, attempts) and its events.
- PgQueuer: two ``pgq run`` processes (defaults: batch 10); ``Queries.enqueue``; keeps a log
  of each job's states (``pgqueuer_log``), the job row itself is deleted when done.
- Oban (Python port, Python 3.12, ``bench/peers/.venv-oban``): two worker processes; skipped
  with the reason when that venv is missing.

Namespaces: Redis db ``--redis-db`` (default 13; must be empty at the start, emptied after
each system), PostgreSQL databases ``bench_ha_<tag>`` (dropped after), RabbitMQ queues named
after the namespace (deleted after). Every process runs in a session of its own and is
stopped (SIGTERM, then SIGKILL of its group) after each phase, on failure and on Ctrl+C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BIN = Path(sys.executable).parent
PG = "postgresql://postgres@127.0.0.1:5432/"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
TOKEN = "bench-peers-admin-token-0123456789"

BACKENDS = {
    "redis": ["tss", "tss-store", "huey", "dramatiq", "rq", "celery", "arq", "taskiq"],
    "rabbitmq": ["tss", "dramatiq", "celery"],
    "postgres": ["tss", "procrastinate", "pgqueuer", "oban"],
    "sqlite": ["tss-server", "tss"],
}

KEEPS = {
    "tss": "every run, its attempt (worker, times, result, stdout/stderr) and its events",
    "tss-server": "every run, its attempt (worker, times, result, stdout/stderr) and its events",
    "tss-store": "every run, its attempt (worker, times, result, stdout/stderr) and its events",
    "huey": "the return value (Redis, until read); no history",
    "dramatiq": "redis: the return value (Results middleware, 10 min); rabbitmq: nothing",
    "rq": "the job hash and result (Redis, result_ttl 500 s); no event history",
    "celery": "redis: the result meta (state, value; 1 day); rabbitmq: nothing",
    "arq": "the job result (Redis, 1 h); no history",
    "taskiq": "the result (Redis result backend, no expiry); no history",
    "procrastinate": "the job row (status, attempts) and its events (procrastinate_events)",
    "pgqueuer": "a log row per state change (pgqueuer_log); the job row is deleted",
    "oban": "the completed job row (state, attempt, attempted_at/completed_at)",
}


# --------------------------------------------------------------------------- producers
# Run as ``<python> throughput.py _produce SYSTEM N`` in the system's own venv; print JSON.


def _summary(began: float, lat: list[float], n: int, elapsed: float) -> dict[str, float]:
    lat.sort()
    return {
        "began": began,
        "submit_s": n / elapsed,
        "p50_ms": lat[len(lat) // 2] * 1000,
        "p99_ms": lat[max(0, int(len(lat) * 0.99) - 1)] * 1000,
    }


def timed(call: Any, n: int) -> dict[str, float]:
    lat = []
    began = time.time()
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        call()
        lat.append(time.perf_counter() - t)
    return _summary(began, lat, n, time.perf_counter() - start)


async def atimed(call: Any, n: int) -> dict[str, float]:
    lat = []
    began = time.time()
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        await call()
        lat.append(time.perf_counter() - t)
    return _summary(began, lat, n, time.perf_counter() - start)


def _tss_settings() -> tuple[Any, dict[str, Any]]:
    import yaml
    from tss.config import Settings

    config = yaml.safe_load(Path(os.environ["BENCH_TSS_CONFIG"]).read_text())
    return Settings(**config), config


async def _produce_tss(n: int) -> dict[str, float]:
    from tss.service import TSSApp

    settings, config = _tss_settings()
    app = TSSApp(settings)
    await app.start()
    try:
        await app.jobs.apply(config["jobs"])
        return await atimed(lambda: app.runs.trigger("incr"), n)
    finally:
        await app.close()


def _produce_tss_server(n: int) -> dict[str, float]:
    import httpx

    url = os.environ["BENCH_URL"] + "/api/v1/jobs/incr/runs"
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as client:

        def post() -> None:
            response = client.post(url)
            if response.status_code != 201:
                raise SystemExit(f"POST {url}: {response.status_code} {response.text[:200]}")

        return timed(post, n)


async def _produce_arq(n: int) -> dict[str, float]:
    from arq import create_pool

    from peer_apps.arq_app import NS, WorkerSettings

    pool = await create_pool(WorkerSettings.redis_settings)
    try:
        return await atimed(lambda: pool.enqueue_job("incr", _queue_name=NS), n)
    finally:
        await pool.aclose()


async def _produce_taskiq(n: int) -> dict[str, float]:
    from peer_apps.taskiq_app import broker, incr

    await broker.startup()
    try:
        return await atimed(incr.kiq, n)
    finally:
        await broker.shutdown()


async def _produce_procrastinate(n: int) -> dict[str, float]:
    from peer_apps.procrastinate_app import app, incr

    async with app.open_async():
        return await atimed(incr.defer_async, n)


async def _produce_pgqueuer(n: int) -> dict[str, float]:
    import psycopg
    from pgqueuer.db import PsycopgDriver
    from pgqueuer.queries import Queries

    from peer_apps import PG as url

    connection = await psycopg.AsyncConnection.connect(url, autocommit=True)
    queries = Queries(PsycopgDriver(connection))
    try:
        return await atimed(lambda: queries.enqueue("incr", None), n)
    finally:
        await connection.close()


async def _produce_oban(n: int) -> dict[str, float]:
    from peer_apps.oban_app import produce

    return await produce(n, atimed)


def produce(system: str, n: int) -> dict[str, float]:
    sys.path.insert(0, str(HERE))
    if system in ("tss", "tss-store"):
        return asyncio.run(_produce_tss(n))
    if system == "tss-server":
        return _produce_tss_server(n)
    if system == "huey":
        from peer_apps.huey_app import incr

        return timed(incr, n)
    if system == "dramatiq":
        from peer_apps.dramatiq_app import incr

        return timed(incr.send, n)
    if system == "rq":
        import redis
        from rq import Queue

        from peer_apps import NS, REDIS

        queue = Queue(NS, connection=redis.Redis.from_url(REDIS))
        return timed(lambda: queue.enqueue("peer_apps.rq_app.incr"), n)
    if system == "celery":
        from peer_apps.celery_app import incr

        return timed(incr.delay, n)
    coroutine = {
        "arq": _produce_arq,
        "taskiq": _produce_taskiq,
        "procrastinate": _produce_procrastinate,
        "pgqueuer": _produce_pgqueuer,
        "oban": _produce_oban,
    }[system]
    return asyncio.run(coroutine(n))


async def verify_tss(n: int) -> dict[str, Any]:
    """In the project's venv: every run succeeded, one attempt each, and its events."""
    from tss.core.models import RunFilter
    from tss.core.states import RunState
    from tss.service import TSSApp
    from tss.store.paging import collect

    settings, _ = _tss_settings()
    app = TSSApp(settings)
    await app.start()
    try:
        store = app.store
        runs = await collect(
            lambda size, cursor: store.list_runs(RunFilter(job="incr"), limit=size, cursor=cursor),
            page_size=5000,
        )
        states: dict[str, int] = {}
        for run in runs:
            states[str(run.state.value)] = states.get(str(run.state.value), 0) + 1
        attempts = events = logs = 0
        bad: list[str] = []
        for run in runs:
            tries = await store.list_attempts(run.id)
            trail = await store.list_events(run_id=run.id)
            attempts += len(tries)
            events += len(trail)
            logs += sum(1 for a in tries if a.stdout or a.stderr)
            if run.state != RunState.SUCCEEDED or run.attempt != 1 or len(tries) != 1:
                bad.append(
                    f"{run.id}: {run.state.value}, attempt {run.attempt}, {len(tries)} tries"
                )
            elif not trail or trail[-1].target != RunState.SUCCEEDED:
                bad.append(f"{run.id}: events end in {trail[-1].target.value if trail else None}")
        return {"runs": len(runs), "states": states, "attempts": attempts, "events": events,
                "attempts_with_output": logs, "ok": len(runs) == n and not bad, "bad": bad[:5]}  # fmt: skip
    finally:
        await app.close()


# --------------------------------------------------------------------------- processes

PROCS: list[subprocess.Popen[bytes]] = []


def spawn(cmd: list[str], env: dict[str, str], folder: Path, name: str) -> subprocess.Popen[bytes]:
    log = (folder / f"{name}.log").open("ab")
    proc = subprocess.Popen(cmd, env=env, cwd=folder, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    proc.name = name  # type: ignore[attr-defined]
    PROCS.append(proc)
    return proc


def stop(procs: list[subprocess.Popen[bytes]], grace: float = 20) -> None:
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:  # the group too: children a worker forked (RQ horses, Celery's pool)
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc in PROCS:
            PROCS.remove(proc)


def tail(folder: Path, lines: int = 12) -> str:
    out = []
    for log in sorted(folder.glob("*.log")):
        text = log.read_text(errors="replace").strip().splitlines()[-lines:]
        if text:
            out.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(out)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------- systems


class Failed(Exception):
    pass


class System:
    """One system on one backend in a namespace of its own (one per phase)."""

    def __init__(self, name: str, backend: str, args: argparse.Namespace, folder: Path) -> None:
        self.name, self.backend, self.args, self.folder = name, backend, args, folder
        self.tag = uuid.uuid4().hex[:8]
        self.ns = f"bench-ha-{name}-{self.tag}"
        self.redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
        self.key = f"{self.ns}:counter"
        self.database = f"bench_ha_{self.tag}"
        self.uses_pg = backend == "postgres" or (backend == "rabbitmq" and name == "tss")
        self.python = str(BIN / "python")
        self.env = dict(os.environ)
        self.env.update(
            PYTHONPATH=str(HERE), BENCH_NS=self.ns, BENCH_KEY=self.key, BENCH_REDIS=self.redis_url,
            BENCH_AMQP=AMQP, BENCH_PG=PG + self.database, BENCH_BACKEND=backend,
        )  # fmt: skip
        self.rabbit_queues: list[str] = []
        self.rabbit_exchanges: list[str] = []

    # namespace --------------------------------------------------------------
    def create(self) -> None:
        if self.uses_pg:
            psql(f'CREATE DATABASE "{self.database}"')
        self.prepare()

    def prepare(self) -> None:
        """Schemas, configs: before any process starts."""

    def drop(self) -> None:
        errors = []
        if self.uses_pg:
            try:
                psql(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            except Exception as e:  # noqa: BLE001
                errors.append(f"drop database: {e}")
        try:
            empty_redis(self.redis_url)
        except Exception as e:  # noqa: BLE001
            errors.append(f"redis cleanup: {e}")
        if self.backend == "rabbitmq":
            try:
                delete_rabbit(self.rabbit_queues, self.rabbit_exchanges)
            except Exception as e:  # noqa: BLE001
                errors.append(f"rabbitmq cleanup: {e}")
        if errors:
            print(f"    cleanup of {self.name}: {'; '.join(errors)}", flush=True)

    # processes --------------------------------------------------------------
    def services(self, phase: str) -> list[tuple[str, list[str]]]:
        """Processes that run from before the first submit (TSS's scheduler, tss server)."""
        return []

    def workers(self) -> list[tuple[str, list[str]]]:
        raise NotImplementedError

    def producer_python(self) -> str:
        return self.python

    def ready(self, procs: list[subprocess.Popen[bytes]]) -> None:
        time.sleep(self.args.warmup)
        check_alive(procs, self.folder)

    def verify(self, n: int) -> dict[str, Any] | None:
        return None

    def has_drain(self) -> bool:
        return True


class TSS(System):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.python = self.args.tss_python
        self.tss = str(Path(self.args.tss_python).parent / "tss")
        self.config = self.folder / f"tss-{self.tag}.yaml"
        self.env["BENCH_TSS_CONFIG"] = str(self.config)
        self.rabbit_queues = [f"{self.ns}.pool.default", f"{self.ns}.dead-letter"]
        self.rabbit_exchanges = [f"{self.ns}.dead-letter"]

    def urls(self) -> dict[str, Any]:
        prefixed = f"{self.redis_url}?prefix={self.ns}"
        if self.backend == "redis":
            return {"store": {"url": prefixed}, "broker": {"url": prefixed}}
        if self.backend == "rabbitmq":
            return {"store": {"url": PG + self.database},
                    "broker": {"url": f"{AMQP}?prefix={self.ns}"}}  # fmt: skip
        if self.backend == "postgres":
            return {"store": {"url": PG + self.database}, "broker": {"url": "store://"}}
        return {"store": {"url": f"sqlite:///{self.folder / (self.tag + '.db')}"},
                "broker": {"url": "store://"}}  # fmt: skip

    def write_config(self, **extra: Any) -> None:
        job = {"name": "incr", "type": "python",
               "params": {"function": "tss_task:incr", "kwargs": {"key": self.key, "url": self.redis_url}}}  # fmt: skip
        config = {**self.urls(), "python_path": [str(HERE)], "jobs": [job], **extra}
        self.config.write_text(json.dumps(config, indent=1))  # JSON is YAML

    def prepare(self) -> None:
        self.write_config()

    def services(self, phase: str) -> list[tuple[str, list[str]]]:
        return [("scheduler", [self.tss, "--config", str(self.config), "scheduler"])]

    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"worker{i}", [self.tss, "--config", str(self.config), "worker",
                                "--worker-id", f"{self.ns}-w{i}"]) for i in range(2)]  # fmt: skip

    def verify(self, n: int) -> dict[str, Any] | None:
        return run_json([self.python, __file__, "_verify-tss", str(n)], self.env, 600)


class TSSStore(TSS):
    """TSS on Redis with the store broker: workers claim from the Redis store in one script,
    woken by its notices, instead of reading the Redis broker's streams."""

    def urls(self) -> dict[str, Any]:
        return {"store": {"url": f"{self.redis_url}?prefix={self.ns}"},
                "broker": {"url": "store://"}}  # fmt: skip


class TSSServer(TSS):
    def prepare(self) -> None:
        self.port = free_port()
        self.env["BENCH_URL"] = f"http://127.0.0.1:{self.port}"
        self.env["TSS_ADMIN_TOKEN"] = TOKEN

    def urls(self) -> dict[str, Any]:
        return {"store": {"url": f"sqlite:///{self.folder / (self.tag + '.db')}"}}

    def services(self, phase: str) -> list[tuple[str, list[str]]]:
        self.write_config(server={"port": self.port})
        return [("server", [self.tss, "--config", str(self.config), "server"])]

    def workers(self) -> list[tuple[str, list[str]]]:
        return []

    def has_drain(self) -> bool:
        return False

    def ready(self, procs: list[subprocess.Popen[bytes]]) -> None:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            check_alive(procs, self.folder)
            try:
                if httpx.get(self.env["BENCH_URL"] + "/readyz", timeout=2).status_code == 200:
                    time.sleep(1)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise Failed("tss server not ready within 60 s\n" + tail(self.folder))


class Huey(System):
    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"huey{i}", [str(BIN / "huey_consumer"), "peer_apps.huey_app.huey"])
                for i in range(2)]  # fmt: skip


class Dramatiq(System):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.rabbit_queues = [self.ns, f"{self.ns}.DQ", f"{self.ns}.XQ"]

    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"dramatiq{i}", [str(BIN / "dramatiq"), "peer_apps.dramatiq_app",
                                  "--processes", "1"]) for i in range(2)]  # fmt: skip


class RQ(System):
    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"rq{i}", [str(BIN / "rq"), "worker", "--url", self.redis_url,
                            "--name", f"{self.ns}-w{i}", self.ns]) for i in range(2)]  # fmt: skip


class Celery(System):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.rabbit_queues = [self.ns]
        self.rabbit_exchanges = [self.ns]

    def workers(self) -> list[tuple[str, list[str]]]:
        return [("celery", [str(BIN / "celery"), "-A", "peer_apps.celery_app", "worker",
                            "--loglevel", "WARNING", "-n", f"{self.ns}@%h"])]  # fmt: skip


class Arq(System):
    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"arq{i}", [str(BIN / "arq"), "peer_apps.arq_app.WorkerSettings"])
                for i in range(2)]  # fmt: skip


class Taskiq(System):
    def workers(self) -> list[tuple[str, list[str]]]:
        return [("taskiq", [str(BIN / "taskiq"), "worker", "peer_apps.taskiq_app:broker",
                            "--workers", "2"])]  # fmt: skip


class Procrastinate(System):
    def prepare(self) -> None:
        run_checked([str(BIN / "procrastinate"), "--app", "peer_apps.procrastinate_app.app",
                     "schema", "--apply"], self.env)  # fmt: skip

    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"procrastinate{i}", [str(BIN / "procrastinate"), "--app",
                 "peer_apps.procrastinate_app.app", "worker"]) for i in range(2)]  # fmt: skip


class PgQueuer(System):
    def prepare(self) -> None:
        run_checked([str(BIN / "pgq"), "--pg-dsn", PG + self.database, "install"], self.env)

    def workers(self) -> list[tuple[str, list[str]]]:
        # peer_apps.pgq_cli is `pgq` with its run --log-level bug fixed (see there).
        return [(f"pgq{i}", [str(BIN / "python"), "-m", "peer_apps.pgq_cli", "--pg-dsn",
                             PG + self.database, "run", "peer_apps.pgqueuer_app:main"])
                for i in range(2)]  # fmt: skip


class Oban(System):
    def __init__(self, *a: Any) -> None:
        super().__init__(*a)
        self.python = str(HERE / ".venv-oban" / "bin" / "python")

    def prepare(self) -> None:
        if not Path(self.python).exists():
            raise Failed(f"skipped: {self.python} is missing (bench/peers/setup.sh builds it "
                         "with Python 3.12)")  # fmt: skip
        self.oban = str(Path(self.python).parent / "oban")
        run_checked([self.oban, "install", "--dsn", PG + self.database], self.env)

    def workers(self) -> list[tuple[str, list[str]]]:
        return [(f"oban{i}", [self.oban, "start", "--dsn", PG + self.database, "--queues",
                              "default:10", "--cron-modules", "peer_apps.oban_app"])
                for i in range(2)]  # fmt: skip


CLASSES: dict[str, type[System]] = {
    "tss": TSS, "tss-store": TSSStore, "tss-server": TSSServer, "huey": Huey,
    "dramatiq": Dramatiq, "rq": RQ,
    "celery": Celery, "arq": Arq, "taskiq": Taskiq, "procrastinate": Procrastinate,
    "pgqueuer": PgQueuer, "oban": Oban,
}  # fmt: skip


# --------------------------------------------------------------------------- helpers


def psql(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        conn.execute(sql)


def empty_redis(url: str) -> None:
    """Deletes every key of the bench's own Redis db (never db 0: refused)."""
    import redis

    client = redis.Redis.from_url(url)
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        raise Failed("refusing to empty Redis db 0")
    batch = []
    for key in client.scan_iter(count=1000):
        batch.append(key)
        if len(batch) == 1000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
    client.close()


def delete_rabbit(queues: list[str], exchanges: list[str]) -> None:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(AMQP))
    for queue in queues:
        channel = conn.channel()
        try:
            channel.queue_delete(queue)
        except Exception:  # noqa: BLE001 (a queue never declared closes the channel)
            pass
    for exchange in exchanges:
        channel = conn.channel()
        try:
            channel.exchange_delete(exchange)
        except Exception:  # noqa: BLE001
            pass
    conn.close()


def run_checked(cmd: list[str], env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise Failed(f"{' '.join(cmd[:4])}...: exit {done.returncode}\n"
                     f"{(done.stdout + done.stderr)[-1500:]}")  # fmt: skip
    return done.stdout


def run_json(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    out = run_checked(cmd, env, timeout)
    return json.loads(out.strip().splitlines()[-1])


def check_alive(procs: list[subprocess.Popen[bytes]], folder: Path) -> None:
    for proc in procs:
        if proc.poll() is not None:
            raise Failed(f"{proc.name} exited with {proc.returncode}\n" + tail(folder))  # type: ignore[attr-defined]


def wait_counter(system: System, n: int, procs: list[subprocess.Popen[bytes]],
                 stall: float) -> tuple[float, float]:  # fmt: skip
    """Wall times of the first INCR and of the counter reaching n."""
    import redis

    client = redis.Redis.from_url(system.redis_url)
    first = None
    last_value, last_change = 0, time.monotonic()
    try:
        while True:
            value = int(client.get(system.key) or 0)
            now = time.time()
            if value and first is None:
                first = now
            if value >= n:
                if value > n:
                    raise Failed(f"counter {value} > {n}: a task ran twice")
                return first or now, now
            if value != last_value:
                last_value, last_change = value, time.monotonic()
            elif time.monotonic() - last_change > stall:
                raise Failed(f"stalled at {value}/{n} for {stall:.0f} s\n" + tail(system.folder))
            check_alive(procs, system.folder)
            time.sleep(0.005)
    finally:
        client.close()


def produce_in(system: System, n: int) -> dict[str, float]:
    return run_json([system.producer_python(), __file__, "_produce", system.name, str(n)],
                    system.env, 3600)  # fmt: skip


def phase(system: System, which: str, n: int) -> dict[str, Any]:
    """One namespace, one phase: ``drain`` (submit alone, then workers) or ``e2e``."""
    system.create()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for name, cmd in system.services(which):
            procs.append(spawn(cmd, system.env, system.folder, f"{which}-{name}"))
        if which == "e2e":
            for name, cmd in system.workers():
                procs.append(spawn(cmd, system.env, system.folder, f"{which}-{name}"))
        if procs:
            system.ready(procs)
        result: dict[str, Any] = {}
        produced = produce_in(system, n)
        if which == "e2e":
            first, done = wait_counter(system, n, procs, system.args.stall)
            result["e2e"] = n / (done - produced["began"])
            result["e2e_submit"] = produced["submit_s"]
            if not system.has_drain():  # submit is measured here, workers running
                result.update(submit=produced["submit_s"], p50_ms=produced["p50_ms"],
                              p99_ms=produced["p99_ms"])  # fmt: skip
            result["verify"] = system.verify(n)
        else:
            result.update(submit=produced["submit_s"], p50_ms=produced["p50_ms"],
                          p99_ms=produced["p99_ms"])  # fmt: skip
            if system.has_drain():
                began = time.time()
                for name, cmd in system.workers():
                    procs.append(spawn(cmd, system.env, system.folder, f"{which}-{name}"))
                first, done = wait_counter(system, n, procs, system.args.stall)
                result["drain"] = n / (done - began)
                result["drain_first"] = n / (done - first) if done > first else float("nan")
        return result
    finally:
        stop(procs)
        system.drop()


def run_system(name: str, backend: str, args: argparse.Namespace) -> dict[str, Any]:
    rounds: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix=f"bench-ha-{name}-") as tmp:
        folder = Path(tmp)
        try:
            for _ in range(args.rounds):
                row: dict[str, Any] = {}
                if CLASSES[name].has_drain(None):  # type: ignore[arg-type]
                    row.update(phase(CLASSES[name](name, backend, args, folder), "drain", args.n))
                row.update(phase(CLASSES[name](name, backend, args, folder), "e2e", args.n))
                rounds.append(row)
        except Failed as e:
            return {"error": str(e)}
        except (Exception, subprocess.TimeoutExpired) as e:  # noqa: BLE001
            return {"error": f"{type(e).__name__}: {e}\n{tail(folder)}"}
    out: dict[str, Any] = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds if isinstance(r.get(key), (int, float))]
        out[key] = statistics.median(values) if values else rounds[-1][key]
    out["rounds"] = rounds
    return out


def fmt(value: Any, spec: str = ",.0f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "—"


def report(backend: str, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    print(f"\n== {backend} (n={ARGS.n}, rounds={ARGS.rounds}, medians) ==")
    print(f"{'system':14} {'submit/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'e2e/s':>8} "
          f"{'drain/s':>8} {'drain*/s':>9}")  # fmt: skip
    for name, r in results.items():
        if "error" in r:
            print(f"{name:14} failed: {r['error'].splitlines()[0]}")
            continue
        print(f"{name:14} {fmt(r.get('submit')):>9} {fmt(r.get('p50_ms'), '.2f'):>7} "
              f"{fmt(r.get('p99_ms'), '.2f'):>7} {fmt(r.get('e2e')):>8} "
              f"{fmt(r.get('drain')):>8} {fmt(r.get('drain_first')):>9}")  # fmt: skip
    ratios: dict[str, Any] = {}
    peers = {k: v for k, v in results.items() if not k.startswith("tss") and "error" not in v}
    for name, tss in results.items():
        if not name.startswith("tss"):
            continue
        for metric in ("e2e", "drain"):
            best = max(peers.items(), key=lambda kv: kv[1].get(metric, 0), default=None)
            if best and isinstance(tss.get(metric), float) and best[1].get(metric):
                ratio = {"best": best[0], "ratio": tss[metric] / best[1][metric]}
                ratios.setdefault(name, {})[metric] = ratio
    for name, by_metric in ratios.items():
        print(f"{name} / best peer: " + ", ".join(
            f"{m} {v['ratio']:.2f} (best {v['best']})" for m, v in by_metric.items()))  # fmt: skip
    for name, r in results.items():
        v = r.get("verify")
        if v:
            status = "ok" if v["ok"] else f"FAILED {v['bad']}"
            print(f"{name} keeps: {v['runs']} runs {v['states']}, {v['attempts']} attempts, "
                  f"{v['events']} events, {v['attempts_with_output']} attempts with output: "
                  f"{status}")  # fmt: skip
    for name in results:
        print(f"  {name}: keeps {KEEPS[name]}")
    for name, r in results.items():
        if "error" in r and "\n" in r["error"]:
            print(f"--- {name} failure:\n{r['error'][-2500:]}")
    return ratios


ARGS: argparse.Namespace


def main() -> None:
    global ARGS
    if len(sys.argv) > 1 and sys.argv[1] == "_produce":
        print(json.dumps(produce(sys.argv[2], int(sys.argv[3]))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_verify-tss":
        print(json.dumps(asyncio.run(verify_tss(int(sys.argv[2])))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", default="redis,rabbitmq,postgres,sqlite")
    parser.add_argument("--systems", default="", help="comma-separated filter, e.g. tss,huey")
    parser.add_argument("-n", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--warmup", type=float, default=4, help="seconds for workers to start")
    parser.add_argument("--stall", type=float, default=60, help="fail after this long idle")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--tss-python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="the project's venv python (TSS runs from there)")  # fmt: skip
    ARGS = args = parser.parse_args()
    # Ctrl+C, and SIGTERM too, end the run through the same cleanup (even when started in the
    # background of a shell that ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if args.redis_db == 0:
        parser.error("--redis-db 0 is shared: pick a db of the bench's own")
    import redis

    if redis.Redis.from_url(f"redis://127.0.0.1:6379/{args.redis_db}").dbsize():
        parser.error(f"Redis db {args.redis_db} is not empty: pick another --redis-db")
    wanted = {s for s in args.systems.split(",") if s}
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()} (peers), TSS from {args.tss_python}")  # fmt: skip
    everything: dict[str, Any] = {"n": args.n, "rounds": args.rounds, "backends": {}}
    try:
        for backend in args.backend.split(","):
            results: dict[str, dict[str, Any]] = {}
            for name in BACKENDS[backend]:
                if wanted and name not in wanted:
                    continue
                print(f"[{backend}] {name} ...", flush=True)
                results[name] = run_system(name, backend, args)
                if "error" in results[name]:
                    print(f"  failed: {results[name]['error'].splitlines()[0]}", flush=True)
            ratios = report(backend, results)
            everything["backends"][backend] = {"systems": results, "ratios": ratios}
    except KeyboardInterrupt:
        print("\ninterrupted: processes stopped, namespaces removed", flush=True)
        sys.exit(130)
    finally:
        stop(list(PROCS), grace=5)
        if args.json:
            Path(args.json).write_text(json.dumps(everything, indent=2, default=str))


if __name__ == "__main__":
    main()
