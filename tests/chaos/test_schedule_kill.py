"""Kills around the schedule's own changes (issue 12, items 3 and 4):

- a job paused and resumed inside the lookahead window, with the scheduler that made its
  fire ahead SIGKILLed in between: the fire still runs once, on time;
- a `tss scheduler` SIGKILLed while it applies the config's jobs, next to another one
  starting at the same moment: every job exists once and each of its fires runs once."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.chaos.deployments import Where, deployment
from tests.e2e.server_helpers import start_server, stop_server, tss_ok, wait_for, write_config
from tss.core.states import RunState

pytestmark = pytest.mark.slow


def test_pause_kill_resume_inside_the_lookahead_fires_once_on_time(tmp_path: Path) -> None:
    def configure(jobs: list[dict[str, object]]) -> Path:
        return write_config(
            tmp_path,
            jobs,
            broker={"url": "store://"},
            # A long lookahead leaves a loaded machine room for pause, kill and resume
            # between the fire made ahead and its time.
            scheduler={"lookahead": 20, "max_sleep": 0.5},
            worker={"heartbeat_interval": 0.5},
        )

    log = tmp_path / "processes.log"
    where = Where(f"sqlite:///{tmp_path / 'tss.db'}", "store://")
    worker = start_server(configure([]), log, ("worker", "--worker-id", "w1"))
    wait_for(lambda: "press Ctrl+C" in log.read_text(), 30, "the worker", log)
    due = (datetime.now(UTC) + timedelta(seconds=24)).replace(microsecond=0)
    config = configure([{"name": "soon", "type": "noop", "schedule": {"at": due.isoformat()}}])
    scheduler = start_server(config, log, ("scheduler",))
    try:
        # The scheduler fires the job ahead of its time, as a `scheduled` run.
        wait_for(
            lambda: any(r.state is RunState.SCHEDULED for r in where.runs()),
            20, "the fire made ahead", log,
        )  # fmt: skip
        tss_ok(config, "job", "pause", "soon")
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(10)
        tss_ok(config, "job", "resume", "soon")
        assert datetime.now(UTC) < due - timedelta(seconds=4), "too slow to test the window"
        scheduler = start_server(config, log, ("scheduler",))
        wait_for(
            lambda: any(r.state is RunState.SUCCEEDED for r in where.runs()),
            30, "the fire to run", log,
        )  # fmt: skip
        time.sleep(1)  # room for a second (wrong) run of the same fire to show up
    finally:
        codes = [stop_server(scheduler), stop_server(worker)]
    assert codes == [0, 0], log.read_text()[-3000:]

    runs = where.runs()
    ran = [r for r in runs if r.state is not RunState.CANCELLED]
    assert len(ran) == 1, [(r.state, r.scheduled_for, r.reason) for r in runs]
    (fire,) = ran
    assert fire.state is RunState.SUCCEEDED and fire.scheduled_for == due
    assert fire.started_at is not None and fire.started_at >= due  # never early
    assert (fire.started_at - due).total_seconds() < 3, "the fire ran late"
    withdrawn = [r for r in runs if r.state is RunState.CANCELLED]
    assert [r.reason for r in withdrawn] == ["job paused"]


@pytest.fixture
def postgres(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Where]:
    with deployment("postgres+store", tmp_path, request.config) as where:
        yield where


def test_a_scheduler_killed_while_applying_leaves_each_job_once(
    tmp_path: Path, postgres: Where
) -> None:
    start = datetime.now(UTC) + timedelta(seconds=12)
    jobs = [
        {
            "name": f"shot-{n:03d}",
            "type": "noop",
            "schedule": {"at": (start + timedelta(milliseconds=10 * n)).isoformat()},
        }
        for n in range(300)
    ]
    config = write_config(
        tmp_path, jobs, scheduler={"max_sleep": 0.5}, logging={"level": "INFO"},
        **postgres.sections,
    )  # fmt: skip
    log = tmp_path / "processes.log"
    first = start_server(config, log, ("scheduler",))
    second = start_server(config, log, ("scheduler",))
    worker = start_server(config, log, ("worker", "--worker-id", "w1"))
    try:
        # Kill the first as soon as any job is stored: it is applying, or the other is.
        wait_for(lambda: "applied 300 jobs" in log.read_text() or _any_job(postgres), 30,
                 "the apply to begin", log)  # fmt: skip
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        first = start_server(config, log, ("scheduler",))
        wait_for(lambda: log.read_text().count("applied 300 jobs") >= 2, 60, "both applied", log)

        def all_ran() -> bool:
            runs = postgres.runs()
            return len(runs) >= 300 and all(r.state.terminal for r in runs)

        wait_for(all_ran, 60, "every shot to run", log)
    finally:
        codes = [stop_server(p) for p in (first, second, worker)]
    assert codes == [0, 0, 0], log.read_text()[-3000:]
    runs = postgres.runs()
    assert Counter(r.job for r in runs) == {f"shot-{n:03d}": 1 for n in range(300)}
    assert all(r.state is RunState.SUCCEEDED for r in runs)


def _any_job(where: Where) -> bool:
    import asyncio

    from tss.service import open_store

    async def body() -> bool:
        store = open_store(where.store_url)
        await store.start()
        try:
            return (await store.list_jobs(limit=1)).total > 0
        finally:
            await store.close()

    return asyncio.run(body())
