"""Several processes running the same program on one shared store fire each run once, and a
program started again on a durable store catches up on the fires it missed, by the task's
misfire policy."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library import lib_tasks
from tests.servers import REDIS_URL, redis_prefix
from tss import Config, Run, RunState, Task, TaskScheduler, TSSApp
from tss.core.filters import Page, RunFilter
from tss.store.paging import collect

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """
import sys, time
from tss import Config, Task, TaskScheduler

config = Config(store={"url": sys.argv[1]}, scheduler={"max_sleep": 0.2})
scheduler = TaskScheduler(config)
scheduler.add_task(Task("named", "tests.library.lib_tasks:add", args=[1, 1], every=0.5))
scheduler.add_task(Task("lam", lambda: "local", every=0.5))
scheduler.start()
time.sleep(float(sys.argv[2]))
scheduler.stop()
"""


@pytest.fixture(params=["postgres", "redis"])
def shared_url(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "postgres":
        yield request.getfixturevalue("pg_url")
    else:
        with redis_prefix("tss-lib-proc") as prefix:
            yield f"{REDIS_URL}?prefix={prefix}"


async def _stored_runs(url: str, job: str) -> list[Run]:
    """Every run of ``job`` in the store at ``url``, read without serving it."""
    async with TSSApp(Config(store={"url": url})) as app:
        return await collect(lambda size, cursor: _page(app, job, size, cursor))


async def _page(app: TSSApp, job: str, size: int, cursor: str | None) -> Page:
    page, _ = await app.reports.list_runs(RunFilter(job=job), limit=size, cursor=cursor)
    return page


def _all_runs(scheduler: TaskScheduler, job: str) -> list[Run]:
    return scheduler.call(collect, lambda size, cursor: _page(scheduler.app, job, size, cursor))


def test_three_processes_of_one_program_fire_each_run_once(shared_url: str, tmp_path: Path) -> None:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    procs = [
        subprocess.Popen(
            [sys.executable, str(program), shared_url, "4"],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(3)
    ]
    outputs = [p.communicate(timeout=90)[0].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), "\n".join(outputs)
    for job in ("named", "lam"):
        runs = [r for r in asyncio.run(_stored_runs(shared_url, job)) if r.trigger == "schedule"]
        fires = Counter(r.scheduled_for for r in runs)
        assert len(fires) >= 4, f"{job}: only {len(fires)} fires"
        doubled = {when: n for when, n in fires.items() if n > 1}
        assert not doubled, f"{job}: fires with more than one run: {doubled}"
        ended = [r for r in runs if r.state.terminal]
        assert ended and all(r.state is RunState.SUCCEEDED for r in ended), [
            (r.state, r.reason) for r in ended if r.state is not RunState.SUCCEEDED
        ]


def test_starting_again_catches_up_on_missed_fires_by_the_misfire_policy(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/resume.db"
    config = Config(store={"url": url}, scheduler={"max_sleep": 0.2})
    every = {"every": 1, "misfire": "run_all", "misfire_grace": 60}
    with TaskScheduler(config) as first:
        first.add_task(Task("beat", lib_tasks.add, args=[1, 1], schedule=every))
        time.sleep(1.5)
    stopped = time.time()
    time.sleep(3.2)  # three fires fall due while nothing runs
    with TaskScheduler(config) as second:
        second.add_task(Task("beat", lib_tasks.add, args=[1, 1], schedule=every))
        time.sleep(1.5)
        runs = _all_runs(second, "beat")
    missed = [
        r
        for r in runs
        if r.scheduled_for is not None and stopped < r.scheduled_for.timestamp() < stopped + 3
    ]
    assert len(missed) >= 2, sorted(r.scheduled_for for r in runs)
    assert all(r.state is RunState.SUCCEEDED for r in missed)
    assert len(Counter(r.scheduled_for for r in runs)) == len(runs)
