"""`tss server` as a user runs it: a config with jobs, a subprocess, the recorded runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tss.core.states import RunState

from .server_helpers import (
    read_attempts,
    read_runs,
    start_server,
    stop_server,
    wait_for,
    write_config,
)

pytestmark = pytest.mark.slow

TASKS = """
import time

def flaky(path):
    from pathlib import Path
    p = Path(path)
    n = int(p.read_text()) + 1 if p.exists() else 1
    p.write_text(str(n))
    if n < 3:
        raise RuntimeError(f"flaky call {n}")
    return n

def forever():
    time.sleep(60)
"""


def test_server_fires_runs_retries_and_times_out(tmp_path: Path) -> None:
    (tmp_path / "e2e_tasks.py").write_text(TASKS)
    jobs = [
        {"name": "every-second", "type": "noop", "schedule": "* * * * * *"},
        {
            "name": "flaky",
            "type": "python",
            "params": {"function": "e2e_tasks:flaky", "kwargs": {"path": str(tmp_path / "n")}},
            "schedule": {"at": "2020-01-01T00:00:00Z"},
            "retries": {"max": 3, "delay": 0.2, "backoff": "fixed"},
        },
        {
            "name": "hello",
            "type": "shell",
            "params": {"argv": ["sh", "-c", "echo hello from shell; echo warn >&2"]},
            "schedule": "*/2 * * * * *",
        },
        {
            "name": "stuck",
            "type": "python",
            "params": {"function": "e2e_tasks:forever"},
            "isolation": "process",
            "timeout": 1,
            "schedule": {"at": "2020-01-01T00:00:00Z"},
        },
    ]
    config = write_config(tmp_path, jobs)
    log = tmp_path / "server.log"
    server = start_server(config, log)
    db = tmp_path / "tss.db"
    try:

        def settled() -> bool:
            if not db.exists():
                return False
            runs = read_runs(db)
            by_job = {r.job: r for r in runs}
            return (
                len([r for r in runs if r.job == "every-second" and r.state.terminal]) >= 3
                and by_job.get("flaky") is not None
                and by_job["flaky"].state.terminal
                and by_job.get("stuck") is not None
                and by_job["stuck"].state.terminal
                and by_job.get("hello") is not None
                and by_job["hello"].state.terminal
            )

        wait_for(settled, 30, "the runs to settle", log)
    finally:
        assert stop_server(server) == 0, log.read_text()[-2000:]

    ticks = read_runs(db, "every-second")
    fires = sorted(r.scheduled_for for r in ticks if r.scheduled_for)
    assert len(fires) == len(set(fires)), "a fire produced two runs"
    # Every fire ended, is under way, or (the lookahead) waits for its time.
    assert all(r.state is RunState.SUCCEEDED or not r.state.terminal for r in ticks)
    succeeded = [r for r in ticks if r.state is RunState.SUCCEEDED]
    assert len(succeeded) >= 3
    for r in succeeded:
        assert r.scheduled_for is not None and r.started_at is not None
        assert 0 <= (r.started_at - r.scheduled_for).total_seconds() < 1.0

    (flaky,) = read_runs(db, "flaky")
    assert flaky.state is RunState.SUCCEEDED
    assert flaky.attempt == 3 and flaky.result == 3
    attempts = read_attempts(db, flaky.id)
    assert [a.state for a in attempts] == [RunState.FAILED, RunState.FAILED, RunState.SUCCEEDED]
    assert attempts[0].error.message == "flaky call 1"

    hello = next(r for r in read_runs(db, "hello") if r.state.terminal)
    assert hello.state is RunState.SUCCEEDED
    (attempt,) = read_attempts(db, hello.id)
    assert attempt.stdout == "hello from shell\n"
    assert attempt.stderr == "warn\n"

    (stuck,) = read_runs(db, "stuck")
    assert stuck.state is RunState.TIMED_OUT
    assert stuck.error is not None and "timeout of 1s" in stuck.error.message


def test_server_refuses_a_bad_config_without_storing_anything(tmp_path: Path) -> None:
    jobs = [
        {"name": "good", "type": "noop", "schedule": "* * * * *"},
        {"name": "bad", "type": "noop", "schedule": {"cron": "61 * * * *"}},
    ]
    config = write_config(tmp_path, jobs)
    log = tmp_path / "server.log"
    server = start_server(config, log)
    code = server.wait(30)
    output = log.read_text()
    assert code == 2, output
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, output
    assert "config.yaml" in error_lines[0]
    assert "'bad'" in error_lines[0] and "schedule.cron" in error_lines[0]
    db = tmp_path / "tss.db"
    if db.exists():
        import asyncio

        from tss.store.sqlite import SQLiteStore

        async def jobs_stored() -> int:
            store = SQLiteStore(f"sqlite:///{db}")
            await store.start()
            try:
                return len((await store.list_jobs()).items)
            finally:
                await store.close()

        assert asyncio.run(jobs_stored()) == 0
