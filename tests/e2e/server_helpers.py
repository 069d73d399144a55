"""Starting `tss server` as a subprocess and reading what it recorded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tss.core.models import Run
from tss.store.sqlite import SQLiteStore

TSS = str(Path(sys.executable).parent / "tss")


def write_config(folder: Path, jobs: list[dict[str, Any]], **sections: Any) -> Path:
    config = {
        "store": {"url": f"sqlite:///{folder / 'tss.db'}"},
        "broker": {"url": "local://"},
        "python_path": ["."],
        "logging": {"level": "INFO"},
        "server": {"port": 0},  # any free port: tests run side by side
        "jobs": jobs,
        **sections,
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def tss_ok(config: Path, *args: str, timeout: float = 60) -> str:
    """Run ``tss ARGS --config CONFIG`` in the config's folder; fail the test unless it
    succeeds (showing its stderr); its stdout."""
    done = subprocess.run(
        [TSS, *args, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=config.parent,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def start_server(
    config: Path, log: Path, command: tuple[str, ...] = ("server",)
) -> subprocess.Popen[bytes]:
    """Start ``tss <command> --config CONFIG`` with its output appended to ``log``."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [TSS, *command, "--config", str(config)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=config.parent,
            env=env,
        )


def stop_server(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout)


def read_runs(db: Path, job: str | None = None) -> list[Run]:
    async def body() -> list[Run]:
        store = SQLiteStore(f"sqlite:///{db}")
        await store.start()
        try:
            from tss.core.models import RunFilter

            page = await store.list_runs(RunFilter(job=job), limit=10_000)
            return list(page.items)
        finally:
            await store.close()

    return asyncio.run(body())


def read_attempts(db: Path, run_id: str) -> list[Any]:
    async def body() -> list[Any]:
        store = SQLiteStore(f"sqlite:///{db}")
        await store.start()
        try:
            return await store.list_attempts(run_id)
        finally:
            await store.close()

    return asyncio.run(body())


def wait_for(check: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n--- server log ---\n{tail}")
