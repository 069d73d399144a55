"""Two schedulers and two workers on one SQLite file; one of them is SIGKILLed every two
seconds and restarted. Every fire must still have exactly one run, every run must end, and
no run may be left `running` once the leases have run out."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.server_helpers import TSS, read_runs, start_server, wait_for, write_config
from tss.core.states import RunState

pytestmark = pytest.mark.slow

ROLES = {
    "s1": ("scheduler",),
    "s2": ("scheduler",),
    "w1": ("worker", "--worker-id", "w1"),
    "w2": ("worker", "--worker-id", "w2"),
}


def test_kill_any_process_every_two_seconds(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=4)
    jobs = [{"name": "tick", "type": "noop", "schedule": "* * * * * *"}]
    # 120 one-shots due over 8 seconds, each taking a moment so kills land mid-run.
    jobs += [
        {
            "name": f"shot-{n:03d}",
            "type": "shell",
            "params": {"argv": ["sleep", "1"]},
            "retries": {"max": 10, "delay": 0},
            "schedule": {"at": (start + timedelta(seconds=n / 15)).isoformat()},
        }
        for n in range(120)
    ]
    config = write_config(
        tmp_path,
        jobs,
        broker={"url": "store://"},
        worker={"concurrency": 8, "lease": 2, "heartbeat_interval": 0.5, "grace_period": 1},
        scheduler={"reap_interval": 0.5, "dead_worker_after": 3, "max_sleep": 0.5},
        logging={"level": "WARNING"},
    )
    applied = subprocess.run(
        [TSS, "job", "apply", "-f", str(config), "--config", str(config)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert applied.returncode == 0, applied.stderr
    db, log = tmp_path / "tss.db", tmp_path / "processes.log"
    procs = {name: start_server(config, log, cmd) for name, cmd in ROLES.items()}
    rng = random.Random(7)
    kills = 0
    try:
        deadline = time.monotonic() + 14
        while time.monotonic() < deadline:
            time.sleep(2)
            victim = rng.choice(sorted(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(10)
            kills += 1
            procs[victim] = start_server(config, log, ROLES[victim])

        def shots_done() -> bool:
            shots = [r for r in read_runs(db) if r.job.startswith("shot-")]
            return len(shots) == 120 and all(r.state.terminal for r in shots)

        wait_for(shots_done, 45, "every one-shot to end", log)
    finally:
        for proc in procs.values():
            proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.wait(20)

    assert kills >= 6
    runs = read_runs(db)
    per_fire = Counter((r.job, r.scheduled_for) for r in runs)
    doubled = [fire for fire, n in per_fire.items() if n > 1]
    assert not doubled, f"fires with two runs: {doubled[:5]}"
    shots = [r for r in runs if r.job.startswith("shot-")]
    assert sorted(r.job for r in shots) == [f"shot-{n:03d}" for n in range(120)]
    assert all(r.state is RunState.SUCCEEDED for r in shots), Counter(r.state for r in shots)
    # Nothing is left running: every run a killed worker held was reaped and retried.
    assert not [r for r in runs if r.state is RunState.RUNNING]
    # The kills did land on work in progress: some runs needed another attempt.
    assert sum(1 for r in shots if r.attempt > 1) >= 5
    print("retried:", sum(1 for r in runs if r.attempt > 1), "of", len(runs))
