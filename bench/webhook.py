"""Benchmark of the ``http`` task type: webhook calls per second, end to end through TSS.

N runs of one ``type: http`` job (a POST with a small JSON body) are submitted in bulk to
an embedded node (SQLite store by default, in-process broker, scheduler + worker in this
process); the figure counts until every run is recorded ``succeeded`` with its result
(status, headers, parsed body) and its log line. The receiver is its own process: a
minimal asyncio HTTP/1.1 server with keep-alive that answers ``{"ok":true}``, so the
figure is about TSS, not a web framework. The SSRF guard is on: the node's config allows
``127.0.0.1/32`` only.

    .venv/bin/python bench/webhook.py -n 20000
    .venv/bin/python bench/webhook.py -n 20000 --store memory
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tss.config import Settings
from tss.core.ids import new_id
from tss.core.models import NewRun, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.service import TSSApp

_ANSWER = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


class _Receiver(asyncio.Protocol):
    """Reads each request's head and body (by Content-Length) and answers at once."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            for line in self.buffer[:end].split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_ANSWER)


async def _receive() -> None:
    server = await asyncio.get_running_loop().create_server(_Receiver, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


async def calls(n: int, concurrency: int, store: str, port: int, folder: Path) -> dict[str, float]:
    url = "memory://" if store == "memory" else f"sqlite:///{folder / 'tss.db'}"
    app = TSSApp(
        Settings(
            store={"url": url},
            broker={"url": "local://"},
            worker={"concurrency": concurrency, "heartbeat_interval": 5},
            logging={"level": "WARNING"},
            http={"allow": ["127.0.0.1/32"], "max_connections": concurrency},
        )
    )
    await app.start()
    hook = {"url": f"http://127.0.0.1:{port}/hook", "json": {"event": "bench"}}
    await app.jobs.apply([{"name": "hook", "type": "http", "params": hook}])
    spec = (await app.store.get_job("hook")).spec
    policy = RunPolicy.of(spec)
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    while app.scheduler is None or app.worker is None:
        await asyncio.sleep(0.01)
    started, cpu = time.perf_counter(), time.process_time()
    for i in range(0, n, 1000):
        runs = [
            NewRun(new_id(), "hook", RunState.QUEUED, "manual", spec.params, 0, "default", policy)
            for _ in range(min(1000, n - i))
        ]
        created = await app.store.create_runs(runs, actor="bench")
        await app.scheduler.publish([r for r, _ in created])
    while app.worker.completed < n:
        await asyncio.sleep(0.01)
    finished, cpu = time.perf_counter(), time.process_time() - cpu
    stop.set()
    await task
    counts = await app.store.count_runs(RunFilter(job="hook"))
    sample = (await app.store.list_runs(RunFilter(job="hook"), limit=1)).items[0]
    await app.close()
    assert counts.get(RunState.SUCCEEDED, 0) == n, (counts, sample.error)
    assert sample.result["status"] == 200 and sample.result["body"] == {"ok": True}
    return {
        "calls": n,
        "calls_per_s": n / (finished - started),
        "seconds": finished - started,
        # TSS's own process (the receiver is another): what a call costs whatever else
        # runs on the machine
        "calls_per_cpu_s": n / cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("-n", type=int, default=20_000, help="webhook calls (runs)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        asyncio.run(_receive())
        return
    print(
        f"machine: {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    receiver = subprocess.Popen(
        [sys.executable, __file__, "--receiver"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="tss-bench-") as tmp:
            result = asyncio.run(calls(args.n, args.concurrency, args.store, port, Path(tmp)))
    finally:
        receiver.terminate()
        receiver.wait(10)
    print(f"{'store':>18}: {args.store}")
    for key, value in result.items():
        print(f"{key:>18}: {value:,.1f}")


if __name__ == "__main__":
    main()
