"""SIGKILL the server while a run is running; a restarted server repairs it."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.chaos.deployments import FAST_REPAIR
from tests.e2e.server_helpers import (
    read_attempts,
    read_runs,
    start_server,
    stop_server,
    wait_for,
    write_config,
)
from tss.core.states import RunState

pytestmark = pytest.mark.slow

TASKS = '''
import time
from pathlib import Path

def slow_once(marker):
    """First call hangs (and is killed with the server); later calls succeed at once."""
    p = Path(marker)
    if not p.exists():
        p.write_text("started")
        time.sleep(60)
    return "done"
'''


@pytest.mark.parametrize(
    ("retries", "max_lost", "final"),
    [
        (0, None, RunState.SUCCEEDED),  # a dead worker does not spend the one try
        (1, 0, RunState.SUCCEEDED),  # max_lost 0: the loss spends a try, and one is left
        (0, 0, RunState.FAILED),  # max_lost 0 and no retries: the loss ends the run
    ],
)
def test_sigkill_during_a_run_is_repaired(
    tmp_path: Path, retries: int, max_lost: int | None, final: RunState
) -> None:
    (tmp_path / "chaos_tasks.py").write_text(TASKS)
    marker = tmp_path / "marker"
    jobs = [
        {
            "name": "victim",
            "type": "python",
            "params": {"function": "chaos_tasks:slow_once", "kwargs": {"marker": str(marker)}},
            "isolation": "thread",
            "retries": {"max": retries, "delay": 0},
            "schedule": {"at": "2020-01-01T00:00:00Z"},
            **({} if max_lost is None else {"max_lost": max_lost}),
        }
    ]
    config = write_config(tmp_path, jobs, **FAST_REPAIR)
    db = tmp_path / "tss.db"
    log = tmp_path / "server.log"

    first = start_server(config, log)

    def running() -> bool:
        return (
            db.exists()
            and marker.exists()
            and any(r.state is RunState.RUNNING for r in read_runs(db, "victim"))
        )

    try:
        wait_for(running, 20, "the run to start", log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    (run,) = read_runs(db, "victim")
    assert run.state is RunState.RUNNING  # what the crash left behind

    second = start_server(config, log)
    try:
        wait_for(lambda: read_runs(db, "victim")[0].state.terminal, 30, "the repair", log)
    finally:
        assert stop_server(second) == 0

    runs = read_runs(db, "victim")
    assert len(runs) == 1, "the restart must not fire the job again"
    (repaired,) = runs
    assert repaired.state is final
    attempts = read_attempts(db, repaired.id)
    assert attempts[0].state is RunState.FAILED
    assert attempts[0].error is not None and attempts[0].error.type == "LeaseExpired"
    assert "stopped heartbeating" in attempts[0].error.message
    if final is RunState.SUCCEEDED:
        assert repaired.attempt == 2 and repaired.result == "done"
        assert repaired.handbacks == (1 if max_lost is None else 0)
    else:
        assert repaired.attempt == 1
    assert not [r for r in read_runs(db) if r.state is RunState.RUNNING]


SLEEPY = """
import time

def nap(seconds):
    time.sleep(seconds)
    return "rested"
"""


def test_runs_queued_in_a_killed_brokers_memory_are_not_lost(tmp_path: Path) -> None:
    """The in-process broker dies with the server: every queued run it held must still run,
    once, after a restart (the store is the truth; the broker a hint)."""
    (tmp_path / "chaos_sleepy.py").write_text(SLEEPY)
    jobs = [
        {
            "name": f"nap-{n}",
            "type": "python",
            "params": {"function": "chaos_sleepy:nap", "kwargs": {"seconds": 1}},
            "isolation": "thread",
            "retries": {"max": 1, "delay": 0},
            "schedule": {"at": "2020-01-01T00:00:00Z"},
        }
        for n in range(5)
    ]
    sections = {**FAST_REPAIR, "worker": {**FAST_REPAIR["worker"], "concurrency": 1}}
    config = write_config(tmp_path, jobs, **sections)
    db = tmp_path / "tss.db"
    log = tmp_path / "server.log"

    first = start_server(config, log)

    def one_running_rest_queued() -> bool:
        if not db.exists():
            return False
        states = sorted(r.state.value for r in read_runs(db))
        return states == ["queued"] * 4 + ["running"]

    try:
        wait_for(one_running_rest_queued, 20, "one run running and four queued", log)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)

    second = start_server(config, log)
    try:
        wait_for(
            lambda: all(r.state.terminal for r in read_runs(db)) and len(read_runs(db)) == 5,
            40,
            "every run to end",
            log,
        )
    finally:
        assert stop_server(second) == 0

    runs = read_runs(db)
    assert sorted(r.job for r in runs) == [f"nap-{n}" for n in range(5)]  # one run per fire
    for run in runs:
        assert run.state is RunState.SUCCEEDED, (run.job, run.state, run.error)
        attempts = read_attempts(db, run.id)
        assert [a.state for a in attempts].count(RunState.SUCCEEDED) == 1
