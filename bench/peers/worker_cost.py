"""What one run costs a TSS worker and the server behind it: N runs queued first, then K
``tss worker`` processes drain them; prints the drain rate and the CPU per run of the
workers and of the server (Redis, or every PostgreSQL process), read from ``/proc``.

This is the back-to-back measure of ``docs/performance.md`` (issue 14): run it for two
checkouts one after the other (``--tss-python`` of each, or ``PYTHONPATH=<checkout>/src``),
alternating, several rounds, and compare medians. Linux only (``/proc``). The task body is
``tss_task:incr`` (one Redis ``INCR``), as in ``throughput.py``.

    bench/peers/.venv/bin/python bench/peers/worker_cost.py --backend postgres -n 5000 \\
        --rounds 3 --tss-python .venv/bin/python

Backends: ``redis`` (store and broker on Redis), ``redis-store`` (Redis store, ``store://``),
``postgres`` (``store://``), ``rabbitmq`` (PostgreSQL store, RabbitMQ broker), ``sqlite``
(``store://``). Uses Redis db 12 and a PostgreSQL database ``bench_cost`` (dropped after),
RabbitMQ queues ``bench-cost.*`` (deleted after).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

HERE = Path(__file__).resolve().parent
REDIS = "redis://127.0.0.1:6379/12"
PG = "postgresql://postgres@127.0.0.1:5432/"
AMQP = "amqp://guest:guest@127.0.0.1:5672/"
NS = "bench-cost"
DB = "bench_cost"
KEY = "bench-cost-counter"
_CLOCK = os.sysconf("SC_CLK_TCK")


def cpu(pid: int) -> float:
    """Seconds of CPU (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK


def pids(*command: str) -> list[int]:
    found = subprocess.run(["pgrep", *command], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def server_cpu(backend: str) -> float:
    if backend in ("postgres", "rabbitmq"):
        return sum(cpu(p) for p in pids("-u", "postgres") if Path(f"/proc/{p}").exists())
    if backend.startswith("redis"):
        return sum(cpu(p) for p in pids("-x", "redis-server"))
    return 0.0


def urls(backend: str, folder: Path) -> dict[str, dict[str, str]]:
    if backend == "redis":
        prefixed = f"{REDIS}?prefix={NS}"
        return {"store": {"url": prefixed}, "broker": {"url": prefixed}}
    if backend == "redis-store":
        return {"store": {"url": f"{REDIS}?prefix={NS}"}, "broker": {"url": "store://"}}
    if backend == "postgres":
        return {"store": {"url": PG + DB}, "broker": {"url": "store://"}}
    if backend == "rabbitmq":
        return {"store": {"url": PG + DB}, "broker": {"url": f"{AMQP}?prefix={NS}"}}
    return {"store": {"url": f"sqlite:///{folder / 'cost.db'}"}, "broker": {"url": "store://"}}


def reset(backend: str) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    if backend in ("postgres", "rabbitmq"):
        for sql in (f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)', f'CREATE DATABASE "{DB}"'):
            subprocess.run(["psql", PG + "postgres", "-qc", sql], check=True, capture_output=True)
    if backend == "rabbitmq":
        import pika  # the peers' venv has it

        conn = pika.BlockingConnection(pika.URLParameters(AMQP))
        for queue in (f"{NS}.pool.default", f"{NS}.dead-letter"):
            conn.channel().queue_delete(queue)
        conn.close()


SUBMIT = """
import asyncio, json, sys
from tss.config import Settings
from tss.service import TSSApp
config = json.loads(open(sys.argv[1]).read())
async def main():
    app = TSSApp(Settings(**config))
    await app.start()
    try:
        await app.jobs.apply(config["jobs"])
        for _ in range(int(sys.argv[2])):
            await app.runs.trigger("incr")
    finally:
        await app.close()
asyncio.run(main())
"""


def one(args: argparse.Namespace, folder: Path) -> dict[str, float]:
    reset(args.backend)
    params = {"function": "tss_task:incr", "kwargs": {"key": KEY, "url": REDIS}}
    job = {"name": "incr", "type": "python", "params": params}
    config = {**urls(args.backend, folder), "python_path": [str(HERE)], "jobs": [job]}
    if args.concurrency:
        config["worker"] = {"concurrency": args.concurrency}
    path = folder / "config.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    for stale in folder.glob("cost.db*"):
        stale.unlink()
    subprocess.run([args.tss_python, "-c", SUBMIT, str(path), str(args.n)], check=True)
    counter = redis.Redis.from_url(REDIS)
    counter.delete(KEY)
    tss = str(Path(args.tss_python).parent / "tss")
    server_before = server_cpu(args.backend)
    command = [tss, "--config", str(path), "worker", "--worker-id"]
    workers = [
        subprocess.Popen(
            [*command, f"cost-w{i}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for i in range(args.workers)
    ]
    began = time.perf_counter()
    try:
        deadline = began + 600
        while int(counter.get(KEY) or 0) < args.n:
            if time.perf_counter() > deadline:
                raise SystemExit("the workers did not finish within 600 s")
            time.sleep(0.01)
        elapsed = time.perf_counter() - began
        worker_cpu = sum(cpu(w.pid) for w in workers)
        server = server_cpu(args.backend) - server_before
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
    return {
        "rate": args.n / elapsed,
        # start-up (imports, connecting) is counted in: compare like with like
        "worker_us": worker_cpu * 1e6 / args.n,
        "server_us": server * 1e6 / args.n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    backends = ["redis", "redis-store", "postgres", "rabbitmq", "sqlite"]
    parser.add_argument("--backend", default="postgres", choices=backends)
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--concurrency", type=int, default=0, help="worker.concurrency (0: the default)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tss-python", default=str(HERE.parent.parent / ".venv/bin/python"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="tss-cost-") as tmp:
        for _ in range(args.rounds):
            results.append(one(args, Path(tmp)))
            r = results[-1]
            print(
                f"{args.backend}: {r['rate']:,.0f} runs/s, worker CPU {r['worker_us']:.0f}"
                f" us/run, server CPU {r['server_us']:.0f} us/run",
                flush=True,
            )
    reset(args.backend)
    if args.backend in ("postgres", "rabbitmq"):
        drop = f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'
        subprocess.run(["psql", PG + "postgres", "-qc", drop], check=True, capture_output=True)
    if len(results) > 1:
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(
            f"median of {len(results)}: {medians['rate']:,.0f} runs/s, worker CPU"
            f" {medians['worker_us']:.0f} us/run, server CPU {medians['server_us']:.0f} us/run"
        )


if __name__ == "__main__":
    sys.exit(main())
