"""A worker frozen (SIGSTOP) beyond its lease on PostgreSQL: the reaper retries its run, another
worker runs it; when the frozen one wakes (SIGCONT) its stale report is refused."""

from __future__ import annotations

import asyncio
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.server_helpers import start_server, stop_server, tss_ok, wait_for, write_config
from tss.core.models import Attempt, Event, Run
from tss.core.states import RunState
from tss.store.postgres import PostgresStore

pytestmark = pytest.mark.slow


async def _read(url: str) -> tuple[list[Run], list[Attempt], list[Event]]:
    store = PostgresStore(url)
    await store.start()
    try:
        runs = list((await store.list_runs(limit=100)).items)
        attempts = await store.list_attempts(runs[0].id) if runs else []
        return runs, attempts, await store.list_events(limit=1000)
    finally:
        await store.close()


def test_a_frozen_workers_late_outcome_is_refused(pg_url: str, tmp_path: Path) -> None:
    at = datetime.now(UTC) + timedelta(seconds=3)
    job = {
        "name": "slow",
        "type": "shell",
        "params": {"argv": ["sleep", "2"]},
        "retries": {"max": 3, "delay": 0},
        "schedule": {"at": at.isoformat()},
    }
    config = write_config(
        tmp_path,
        [job],
        store={"url": pg_url},
        broker={"url": "store://"},
        worker={"lease": 1, "heartbeat_interval": 0.3, "grace_period": 1},
        scheduler={"reap_interval": 0.3, "dead_worker_after": 30, "max_sleep": 0.3},
    )
    tss_ok(config, "job", "apply", "-f", str(config))
    # The worker to freeze beats less often than the test lasts: when it wakes, its first
    # write is the outcome of attempt 1 (and not a heartbeat, which would be refused too).
    (tmp_path / "w1").mkdir()
    quiet = write_config(
        tmp_path / "w1",
        [],
        store={"url": pg_url},
        broker={"url": "store://"},
        worker={"lease": 1, "heartbeat_interval": 120, "grace_period": 1},
    )
    log = tmp_path / "processes.log"
    read = lambda: asyncio.run(_read(pg_url))  # noqa: E731
    scheduler = start_server(config, log, ("scheduler",))
    frozen = start_server(quiet, log, ("worker", "--worker-id", "w1"))
    other = None
    try:
        wait_for(lambda: any(r.state is RunState.RUNNING for r in read()[0]), 30, "a run", log)
        frozen.send_signal(signal.SIGSTOP)
        other = start_server(config, log, ("worker", "--worker-id", "w2"))

        def taken_over() -> bool:
            runs = read()[0]
            return bool(runs) and runs[0].attempt == 2 and runs[0].worker_id == "w2"

        wait_for(taken_over, 30, "the run reaped and claimed again", log)
        frozen.send_signal(signal.SIGCONT)  # it reports attempt 1 now, or at least tries
        wait_for(lambda: read()[0][0].state.terminal, 30, "the run to end", log)
        wait_for(lambda: "refused (fenced)" in log.read_text(), 10, "w1's report", log)
    finally:
        frozen.send_signal(signal.SIGCONT)
        for proc in (scheduler, frozen, other):
            if proc is not None:
                stop_server(proc, 20)

    [run], attempts, events = read()
    assert (run.state, run.attempt, run.worker_id) == (RunState.SUCCEEDED, 2, "w2")
    assert [(a.number, a.worker_id, a.state) for a in attempts] == [
        (1, "w1", RunState.FAILED),
        (2, "w2", RunState.SUCCEEDED),
    ]
    assert attempts[0].error is not None and "lease expired" in attempts[0].error.message
    ends = [e for e in events if e.run_id == run.id and e.target.terminal]
    assert [(e.target, e.attempt) for e in ends] == [(RunState.SUCCEEDED, 2)]
