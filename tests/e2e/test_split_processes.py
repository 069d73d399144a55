"""`tss scheduler` and `tss worker` as separate processes sharing one SQLite file through
the store broker: every fire runs exactly once, spread over the workers."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tss.core.states import RunState

from .server_helpers import TSS, read_runs, start_server, stop_server, wait_for, write_config

pytestmark = pytest.mark.slow


def test_one_scheduler_and_two_workers_run_every_fire_once(tmp_path: Path) -> None:
    jobs = [{"name": "tick", "type": "noop", "schedule": "* * * * * *"}] + [
        {
            "name": f"once-{n:02d}",
            "type": "shell",
            "params": {"argv": ["sleep", "0.2"]},
            "schedule": {"at": "2020-01-01T00:00:00Z"},
        }
        for n in range(30)
    ]
    config = write_config(
        tmp_path,
        jobs,
        broker={"url": "store://"},
        worker={"concurrency": 4, "heartbeat_interval": 0.5},
    )
    applied = subprocess.run(
        [TSS, "job", "apply", "-f", str(config), "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert applied.returncode == 0, applied.stderr
    db = tmp_path / "tss.db"
    log = tmp_path / "processes.log"
    procs = [
        start_server(config, log, ("scheduler",)),
        start_server(config, log, ("worker", "--worker-id", "w1")),
        start_server(config, log, ("worker", "--worker-id", "w2")),
    ]
    try:

        def settled() -> bool:
            runs = read_runs(db)
            once = [r for r in runs if r.job.startswith("once-")]
            ticks = [r for r in runs if r.job == "tick" and r.state.terminal]
            return len(once) == 30 and all(r.state.terminal for r in once) and len(ticks) >= 3

        wait_for(settled, 40, "every one-shot and three ticks to end", log)
    finally:
        codes = [stop_server(p) for p in procs]
    assert codes == [0, 0, 0], log.read_text()[-3000:]

    runs = read_runs(db)
    per_fire = Counter((r.job, r.scheduled_for) for r in runs)
    assert max(per_fire.values()) == 1, "a fire produced two runs"
    once = [r for r in runs if r.job.startswith("once-")]
    assert all(r.state is RunState.SUCCEEDED and r.attempt == 1 for r in once)
    # Both workers took a share (each runs at most 4 at once; 30 runs of 0.2 s).
    assert {r.worker_id for r in once} == {"w1", "w2"}
    ticks = [r for r in runs if r.job == "tick" and r.state.terminal]
    assert all(r.state is RunState.SUCCEEDED for r in ticks)


def test_a_lone_scheduler_refuses_the_in_process_broker(tmp_path: Path) -> None:
    config = write_config(tmp_path, [], broker={"url": "local://"})
    done = subprocess.run(
        [TSS, "scheduler", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert "broker.url" in done.stderr and "store://" in done.stderr
