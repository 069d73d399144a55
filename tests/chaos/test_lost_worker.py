"""SIGKILL a `tss worker` mid-run while another worker is idle: the run is re-queued without
spending a try and succeeds on the other worker (the job has no retries). A run that kills
every worker that takes it ends after ``max_lost`` losses, naming the workers.

The split deployments a new user starts with: one SQLite file with the store broker, and
PostgreSQL with RabbitMQ."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.chaos.deployments import FAST_REPAIR, Where, deployment
from tests.e2e.server_helpers import start_server, stop_server, tss_ok, wait_for, write_config
from tss.core.states import RunState

pytestmark = pytest.mark.slow

TASKS = '''
import os
import signal
import time
from pathlib import Path


def hang_once(marker):
    """The first call hangs (its worker is killed under it); later calls succeed at once."""
    p = Path(marker)
    if not p.exists():
        p.write_text("started")
        time.sleep(120)
    return "done"


def kill_my_worker():
    """A poison run: it takes down whatever process runs it."""
    os.kill(os.getpid(), signal.SIGKILL)
'''


@pytest.fixture(params=["sqlite", "postgres+rabbitmq"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Where]:
    with deployment(request.param, tmp_path, request.config) as place:
        yield place


def _deploy(tmp_path: Path, where: Where, job: dict[str, object]) -> tuple[Path, Path]:
    (tmp_path / "chaos_tasks.py").write_text(TASKS)
    config = write_config(tmp_path, [job], **FAST_REPAIR, **where.sections)
    tss_ok(config, "job", "apply", "-f", str(config))
    return config, tmp_path / "processes.log"


def test_a_killed_workers_run_succeeds_on_another_without_retries(
    tmp_path: Path, where: Where
) -> None:
    marker = tmp_path / "marker"
    job = {
        "name": "victim",
        "type": "python",
        "params": {"function": "chaos_tasks:hang_once", "kwargs": {"marker": str(marker)}},
        "isolation": "thread",
        "schedule": {"at": "2020-01-01T00:00:00Z"},
    }  # no retries: the default, one try
    config, log = _deploy(tmp_path, where, job)
    workers = {w: start_server(config, log, ("worker", "--worker-id", w)) for w in ("w1", "w2")}
    scheduler = start_server(config, log, ("scheduler",))
    try:
        wait_for(
            lambda: marker.exists() and any(r.worker_id for r in where.runs()),
            60, "the run to start", log,
        )  # fmt: skip
        (run,) = where.runs()
        victim = run.worker_id
        assert victim in workers and run.state is RunState.RUNNING
        workers[victim].send_signal(signal.SIGKILL)
        workers[victim].wait(10)
        wait_for(lambda: any(r.state.terminal for r in where.runs()), 60, "the run to end", log)
    finally:
        for proc in [scheduler, *workers.values()]:
            stop_server(proc)

    (done,) = where.runs()
    assert done.state is RunState.SUCCEEDED and done.result == "done"
    assert done.attempt == 2 and done.handbacks == 1
    assert done.worker_id != victim
    first, second = where.attempts(done.id)
    assert first.worker_id == victim and first.state is RunState.FAILED
    assert first.error.type == "LeaseExpired" and victim in first.error.message
    assert second.state is RunState.SUCCEEDED


def test_a_run_that_kills_its_workers_ends_naming_them(tmp_path: Path, where: Where) -> None:
    job = {
        "name": "poison",
        "type": "python",
        "params": {"function": "chaos_tasks:kill_my_worker"},
        "isolation": "thread",
        "max_lost": 1,
        "schedule": {"at": "2020-01-01T00:00:00Z"},
    }
    config, log = _deploy(tmp_path, where, job)
    workers = [start_server(config, log, ("worker", "--worker-id", w)) for w in ("w1", "w2")]
    scheduler = start_server(config, log, ("scheduler",))
    try:
        wait_for(
            lambda: any(r.state.terminal for r in where.runs()), 60, "the poison run to end", log
        )
    finally:
        for proc in [scheduler, *workers]:
            stop_server(proc)

    (run,) = where.runs()
    assert run.state is RunState.FAILED and run.attempt == 2
    assert run.error is not None and run.error.type == "LeaseExpired"
    assert "lost 2 workers, more than max_lost 1: " in run.error.message
    assert sorted(run.error.message.split("max_lost 1: ")[1][:6].split(", ")) == ["w1", "w2"]
    assert all(w.returncode == -signal.SIGKILL for w in workers)
