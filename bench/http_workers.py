"""Workers over the worker protocol: no-op runs per second, end to end, with W worker
processes (``tss worker --url URL --token T``) taking and reporting runs through
``tss server``'s API on SQLite.

N runs are queued first; the workers start; the figure is N over the time from the first
run's start to the last run's end, as the store recorded them (so worker start-up is not
counted, and every run is checked ``succeeded`` with its attempt).

    .venv/bin/python bench/http_workers.py -n 10000 -w 2 --concurrency 100
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ADMIN = "bench-admin-token-0123456789abcdef"
TSS = [str(Path(sys.executable).parent / "tss")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready")


def one_round(n: int, workers: int, concurrency: int, folder: Path) -> dict[str, float]:
    db = folder / "tss.db"
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    config = {
        "store": {"url": f"sqlite:///{db}"},
        "broker": {"url": "store://"},
        "server": {"host": "127.0.0.1", "port": port},
        "api": {"admin_token": ADMIN},
        "worker": {"enabled": False},
        "logging": {"level": "WARNING"},
        "dashboard": {"enabled": False},
    }
    (folder / "tss.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = (folder / "server.log").open("w")
    server = subprocess.Popen([*TSS, "-c", str(folder / "tss.yaml"), "server"], env=env,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        _wait_ready(url, time.monotonic() + 60)
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {ADMIN}"})
        made = admin.post("/api/v1/tokens", json={"name": "bench-worker", "role": "worker"})
        token = made.json()["token"]
        admin.post("/api/v1/jobs", json={"name": "noop", "type": "noop", "pool": "remote"})
        for start in range(0, n, 10000):
            count = min(10000, n - start)
            answer = admin.post("/api/v1/jobs/noop/runs", json={"count": count}, timeout=120)
            assert answer.status_code == 201, answer.text
        for i in range(workers):
            wlog = (folder / f"worker-{i}.log").open("w")
            cmd = [*TSS, "worker", "--url", url, "--token", token, "--pool", "remote",
                   "--worker-id", f"bench-{i}", "--concurrency", str(concurrency)]  # fmt: skip
            procs.append(subprocess.Popen(cmd, env=env, stdout=wlog, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with sqlite3.connect(db) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM runs WHERE job = 'noop' AND state = 'succeeded'"
                ).fetchone()[0]
            if done == n:
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    with sqlite3.connect(db) as conn:
        done, first, last = conn.execute(
            "SELECT count(*), min(started_at), max(finished_at) FROM runs"
            " WHERE job = 'noop' AND state = 'succeeded' AND attempt = 1"
        ).fetchone()
        attempts = conn.execute("SELECT count(*) FROM attempts").fetchone()[0]
    assert done == n and attempts == n, (done, attempts)
    seconds = (last - first) / 1e6
    return {"runs": n, "seconds": seconds, "per_s": n / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=10000, help="runs")
    parser.add_argument("-w", "--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=100, help="runs at once per worker")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"Python {platform.python_version()}")  # fmt: skip
    rates = []
    for i in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            out = one_round(args.n, args.workers, args.concurrency, Path(tmp))
        rates.append(out["per_s"])
        print(f"round {i + 1}: {out['runs']} runs in {out['seconds']:.2f}s = "
              f"{out['per_s']:,.0f} runs/s")  # fmt: skip
    print(f"median {statistics.median(rates):,.0f} runs/s over {len(rates)} rounds "
          f"(W={args.workers}, concurrency {args.concurrency})")  # fmt: skip


if __name__ == "__main__":
    main()
