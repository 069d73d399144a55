"""`tss scheduler` and `tss worker` as separate processes sharing one SQLite file through
the store broker: every fire runs exactly once, spread over the workers."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from tss.core.states import RunState
from tss.store.postgres import PostgresStore

from .server_helpers import (
    TSS,
    read_runs,
    start_server,
    stop_server,
    tss_ok,
    wait_for,
    write_config,
)

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
    tss_ok(config, "job", "apply", "-f", str(config))
    db = tmp_path / "tss.db"
    log = tmp_path / "processes.log"
    # The workers first: the one-shots are due at once, and a worker that started
    # seconds after the other (a loaded machine) would find them all taken.
    procs = [
        start_server(config, log, ("worker", "--worker-id", "w1")),
        start_server(config, log, ("worker", "--worker-id", "w2")),
    ]
    try:
        wait_for(
            lambda: all(f"worker {w} serving" in log.read_text() for w in ("w1", "w2")),
            30,
            "both workers to serve",
            log,
        )
        procs.insert(0, start_server(config, log, ("scheduler",)))

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


def test_a_lone_scheduler_applies_the_configs_jobs_and_a_worker_runs_them(
    tmp_path: Path,
) -> None:
    # Nothing applied beforehand: the scheduler alone must store the config's jobs.
    jobs = [{"name": "tick", "type": "noop", "schedule": "* * * * * *"}]
    config = write_config(tmp_path, jobs, broker={"url": "store://"})
    db = tmp_path / "tss.db"
    log = tmp_path / "processes.log"
    procs = [
        start_server(config, log, ("scheduler",)),
        start_server(config, log, ("worker", "--worker-id", "w1")),
    ]
    try:

        def ran() -> bool:
            return any(r.state is RunState.SUCCEEDED for r in read_runs(db, "tick"))

        wait_for(ran, 30, "a run of the config's job to succeed", log)
    finally:
        codes = [stop_server(p) for p in procs]
    assert codes == [0, 0], log.read_text()[-3000:]
    assert "applied 1 job from config.yaml: 1 created" in log.read_text()
    assert {r.worker_id for r in read_runs(db, "tick") if r.state.terminal} == {"w1"}


def test_two_schedulers_starting_at_once_on_postgres_apply_each_job_once(
    tmp_path: Path, pg_url: str
) -> None:
    jobs = [
        {"name": f"job-{n:03d}", "type": "noop", "schedule": {"every": "1h"}} for n in range(100)
    ]
    config = write_config(tmp_path, jobs, store={"url": pg_url}, broker={"url": "store://"})
    logs = [tmp_path / "scheduler-1.log", tmp_path / "scheduler-2.log"]
    procs = [start_server(config, log, ("scheduler",)) for log in logs]
    said = re.compile(r"applied 100 jobs from config.yaml: (.*)")
    try:
        for log in logs:
            wait_for(lambda log=log: bool(said.search(log.read_text())), 30, "the banner", log)
        assert [p.poll() for p in procs] == [None, None], "a scheduler exited"
    finally:
        codes = [stop_server(p) for p in procs]
    assert codes == [0, 0], "\n".join(log.read_text()[-2000:] for log in logs)
    created = 0
    for log in logs:
        found = said.search(log.read_text())
        assert found is not None
        counts = dict(part.split(" ")[::-1] for part in found.group(1).split(", "))
        assert set(counts) <= {"created", "unchanged"}, found.group(0)
        created += int(counts.get("created", 0))
    assert created == 100, "a job was created twice, or by neither"

    async def stored() -> int:
        store = PostgresStore(pg_url)
        await store.start()
        try:
            return (await store.list_jobs(limit=1)).total
        finally:
            await store.close()

    assert asyncio.run(stored()) == 100
