"""The scheduler, worker and task types working together in one process, on each store."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.servers import run
from tss.config import Settings
from tss.core.models import Run
from tss.core.states import RunState
from tss.errors import NotFound
from tss.service import TSSApp

T = "tasks_for_tests"


@pytest.fixture(params=["memory", "sqlite"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/tss.db"
    return Settings(
        store={"url": url},
        worker={"heartbeat_interval": 0.2, "lease": 5, "grace_period": 1, "concurrency": 4},
        scheduler={"max_sleep": 0.2},
    )


def alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie (an orphan may wait for a reaper)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@asynccontextmanager
async def serving(settings: Settings, jobs: list[dict[str, Any]]) -> AsyncIterator[TSSApp]:
    app = TSSApp(settings)
    await app.start()
    await app.jobs.apply(jobs)
    stop = asyncio.Event()
    task = asyncio.create_task(app.serve(stop))
    try:
        yield app
    finally:
        stop.set()
        await task
        await app.close()


async def one(app: TSSApp, job: str, timeout: float = 20, **kw: Any) -> Run:
    ((created, _),) = await app.runs.trigger(job, **kw)
    (done,) = await app.runs.wait([created.id], timeout=timeout, poll=0.05)
    return done


async def until(check: Callable[[], Coroutine[Any, Any, bool]], timeout: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def test_sync_and_async_functions_capture_output(settings: Settings) -> None:
    async def body() -> None:
        jobs = [
            {"name": "add", "params": {"function": f"{T}:add", "kwargs": {"a": 2, "b": 3}}},
            {"name": "aadd", "params": {"function": f"{T}:async_add", "args": [4, 5]}},
            {"name": "ctx", "params": {"function": f"{T}:with_context"}},
        ]
        async with serving(settings, jobs) as app:
            add = await one(app, "add")
            assert (add.state, add.result) == (RunState.SUCCEEDED, 5)
            assert (await app.store.get_logs(add.id))[0] == "adding 2 and 3\n"
            aadd = await one(app, "aadd")
            assert (aadd.state, aadd.result) == (RunState.SUCCEEDED, 9)
            assert "async says hi" in (await app.store.get_logs(aadd.id))[0]
            ctx = await one(app, "ctx")
            assert ctx.result == {"run_id": ctx.id, "attempt": 1, "job": "ctx"}
            assert "hello from the run logger" in (await app.store.get_logs(ctx.id))[1]

    run(body())


def test_params_override_per_run(settings: Settings) -> None:
    async def body() -> None:
        jobs = [
            {
                "name": "add",
                "params": {"function": f"{T}:add", "kwargs": {"a": 1, "b": 1}},
                "overridable": ["kwargs"],
            }
        ]
        async with serving(settings, jobs) as app:
            done = await one(app, "add", params={"kwargs": {"a": 10, "b": 20}})
            assert done.result == 30

    run(body())


def test_retries_then_success_records_every_attempt(settings: Settings, tmp_path: Path) -> None:
    async def body() -> None:
        counter = tmp_path / "count"
        jobs = [
            {
                "name": "flaky",
                "params": {
                    "function": f"{T}:fail_until",
                    "kwargs": {"path": str(counter), "succeed_on": 3},
                },
                "retries": {"max": 3, "delay": 0.1, "backoff": "fixed"},
            }
        ]
        async with serving(settings, jobs) as app:
            done = await one(app, "flaky")
            assert done.state is RunState.SUCCEEDED
            assert done.attempt == 3
            assert done.result == "ok on call 3"
            attempts = await app.store.list_attempts(done.id)
            assert [a.state for a in attempts] == [
                RunState.FAILED,
                RunState.FAILED,
                RunState.SUCCEEDED,
            ]
            assert attempts[0].error is not None
            assert attempts[0].error.type == "ConnectionError"
            assert "call 1 fails" in attempts[0].error.message
            events = await app.store.list_events(run_id=done.id, limit=100)
            assert [e.target for e in events] == [
                RunState.QUEUED,
                RunState.RUNNING,
                RunState.RETRYING,
                RunState.QUEUED,
                RunState.RUNNING,
                RunState.RETRYING,
                RunState.QUEUED,
                RunState.RUNNING,
                RunState.SUCCEEDED,
            ]

    run(body())


def test_failure_without_retries_keeps_the_reason(settings: Settings) -> None:
    async def body() -> None:
        jobs = [{"name": "bad", "params": {"function": f"{T}:always_fail"}}]
        async with serving(settings, jobs) as app:
            done = await one(app, "bad")
            assert done.state is RunState.FAILED
            assert done.error is not None
            assert (done.error.type, done.error.message) == ("ValueError", "bad things happened")
            assert done.error.traceback and "always_fail" in done.error.traceback

    run(body())


def test_shell_exit_code_and_stderr_tail(settings: Settings) -> None:
    async def body() -> None:
        jobs = [
            {"name": "ok", "type": "shell", "params": {"argv": ["echo", "hello"]}},
            {
                "name": "bad",
                "type": "shell",
                "params": {"argv": ["sh", "-c", "echo to-out; echo broken pipe >&2; exit 7"]},
                "retries": {"max": 2, "delay": 0, "retry_on": [9]},
            },
        ]
        async with serving(settings, jobs) as app:
            ok = await one(app, "ok")
            assert ok.state is RunState.SUCCEEDED
            assert (await app.store.get_logs(ok.id))[0] == "hello\n"
            bad = await one(app, "bad")
            assert bad.state is RunState.FAILED
            assert bad.attempt == 1  # exit code 7 is not in retry_on
            assert bad.error is not None and bad.error.exit_code == 7
            assert "broken pipe" in bad.error.message

    run(body())


def test_process_isolation_hard_timeout_kills_the_child(settings: Settings, tmp_path: Path) -> None:
    async def body() -> None:
        pid_file = tmp_path / "pid"
        jobs = [
            {
                "name": "slow",
                "params": {
                    "function": f"{T}:write_pid_and_sleep",
                    "kwargs": {"path": str(pid_file), "seconds": 30},
                },
                "isolation": "process",
                "timeout": 1,
            }
        ]
        async with serving(settings, jobs) as app:
            done = await one(app, "slow")
            assert done.state is RunState.TIMED_OUT
            assert done.error is not None and done.error.type == "TimeoutError"
            pid = int(pid_file.read_text())
            await asyncio.sleep(0.2)
            assert not alive(pid)

    run(body())


def test_process_isolation_returns_results_and_errors(settings: Settings) -> None:
    async def body() -> None:
        jobs = [
            {
                "name": "add",
                "params": {"function": f"{T}:add", "args": [20, 22]},
                "isolation": "process",
            },
            {"name": "bad", "params": {"function": f"{T}:always_fail"}, "isolation": "process"},
        ]
        async with serving(settings, jobs) as app:
            add = await one(app, "add")
            assert (add.state, add.result) == (RunState.SUCCEEDED, 42)
            assert "adding 20 and 22" in (await app.store.get_logs(add.id))[0]
            bad = await one(app, "bad")
            assert bad.error is not None
            assert (bad.error.type, bad.error.message) == ("ValueError", "bad things happened")
            assert bad.error.traceback and "always_fail" in bad.error.traceback

    run(body())


def test_shell_timeout_kills_the_process_group(settings: Settings, tmp_path: Path) -> None:
    async def body() -> None:
        pid_file = tmp_path / "grandchild"
        script = f"sleep 60 & echo $! > {pid_file}; wait"
        jobs = [
            {
                "name": "hang",
                "type": "shell",
                "params": {"argv": ["sh", "-c", script]},
                "timeout": 1,
            }
        ]
        async with serving(settings, jobs) as app:
            done = await one(app, "hang")
            assert done.state is RunState.TIMED_OUT
            await asyncio.sleep(0.3)
            assert not alive(int(pid_file.read_text()))

    run(body())


def test_cancel_a_running_shell_run_kills_it(settings: Settings, tmp_path: Path) -> None:
    async def body() -> None:
        pid_file = tmp_path / "pid"
        jobs = [
            {
                "name": "hang",
                "type": "shell",
                "params": {"argv": ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"]},
            }
        ]
        async with serving(settings, jobs) as app:
            ((created, _),) = await app.runs.trigger("hang")

            async def running() -> bool:
                return (
                    pid_file.exists()
                    and (await app.reports.get_run(created.id)).state is RunState.RUNNING
                )

            await until(running)
            cancelled = await app.runs.cancel(created.id)
            assert cancelled.state is RunState.CANCELLED
            pid = int(pid_file.read_text())

            async def gone() -> bool:
                return not alive(pid)

            await until(gone, timeout=5)
            assert (await app.reports.get_run(created.id)).state is RunState.CANCELLED

    run(body())


def test_output_and_result_are_capped(settings: Settings) -> None:
    settings.worker.log_limit = 4096
    settings.worker.result_limit = 1024

    async def body() -> None:
        jobs = [
            {"name": "loud", "params": {"function": f"{T}:shout", "args": [100_000]}},
            {"name": "big", "params": {"function": f"{T}:big_result", "args": [10_000]}},
            {"name": "set", "params": {"function": f"{T}:not_json"}},
        ]
        async with serving(settings, jobs) as app:
            loud = await one(app, "loud")
            out, _ = await app.store.get_logs(loud.id)
            assert len(out) < 5000
            assert "truncated by TSS" in out
            big = await one(app, "big")
            assert big.state is RunState.SUCCEEDED
            assert big.result["truncated"] is True and big.result["size"] > 10_000
            odd = await one(app, "set")
            assert odd.state is RunState.SUCCEEDED
            assert isinstance(odd.result, str)

    run(body())


def test_graceful_shutdown_hands_back_what_outlives_the_grace(settings: Settings) -> None:
    async def body() -> None:
        app = TSSApp(settings)
        await app.start()
        await app.jobs.apply(
            [
                {"name": "slow", "type": "shell", "params": {"argv": ["sleep", "30"]}},
                {"name": "quick", "type": "shell", "params": {"argv": ["sleep", "0.5"]}},
            ]
        )
        stop = asyncio.Event()
        task = asyncio.create_task(app.serve(stop))
        ((slow, _),) = await app.runs.trigger("slow")
        ((quick, _),) = await app.runs.trigger("quick")

        async def both_running() -> bool:
            states = {(await app.reports.get_run(r.id)).state for r in (slow, quick)}
            return states == {RunState.RUNNING}

        await until(both_running)
        stop.set()
        await asyncio.wait_for(task, 10)
        assert (await app.reports.get_run(quick.id)).state is RunState.SUCCEEDED
        handed = await app.reports.get_run(slow.id)
        assert handed.state is RunState.QUEUED
        assert handed.reason and "handed back" in handed.reason
        workers = await app.store.list_workers()
        assert [w.state for w in workers] == ["down"]
        await app.close()

    run(body())


def test_scheduled_jobs_fire_on_time(settings: Settings) -> None:
    async def body() -> None:
        jobs = [{"name": "tick", "type": "noop", "schedule": "* * * * * *"}]
        async with serving(settings, jobs) as app:
            await asyncio.sleep(2.6)
            page = await app.store.list_runs(limit=50)
        # Fires within the scheduler's lookahead wait as `scheduled` runs for their time; the
        # last `announce_ahead` seconds of them are queued and announced already, and the
        # worker holds them until their time.
        lookahead = settings.scheduler.lookahead
        announce = settings.scheduler.announce_ahead
        ahead = [r for r in page.items if r.state is RunState.SCHEDULED]
        assert lookahead - announce - 1 <= len(ahead) <= lookahead - announce + 1
        announced = [r for r in page.items if r.state is RunState.QUEUED]
        assert announce - 1 <= len(announced) <= announce + 1
        for r in ahead + announced:
            assert r.not_before == r.scheduled_for
            assert r.started_at is None
        started = [r for r in page.items if r.started_at is not None]
        assert len(started) + len(ahead) + len(announced) == len(page.items)
        assert 2 <= len(started) <= 4
        for r in started:
            assert r.trigger == "schedule"
            assert r.scheduled_for is not None and r.scheduled_for.microsecond == 0
            # never before its time, and on time
            assert 0 <= (r.started_at - r.scheduled_for).total_seconds() < 0.5
        fires = sorted(r.scheduled_for for r in started if r.scheduled_for)
        assert all((b - a).total_seconds() == 1 for a, b in itertools.pairwise(fires))

    run(body())


def test_a_run_triggered_for_later_wakes_the_scheduler_and_one_for_now_does_not(
    settings: Settings,
) -> None:
    """A run due later moves the in-process scheduler's next wake-up, so it is woken to plan
    again; a run queued now goes to the workers and leaves the scheduler asleep (a pass of it
    per trigger cost three store transactions and most of ``tss server``'s time)."""

    async def body() -> None:
        slow = settings.model_copy(
            update={"scheduler": settings.scheduler.model_copy(update={"max_sleep": 30.0})}
        )
        async with serving(slow, [{"name": "n", "type": "noop"}]) as app:
            while app.scheduler is None or app.scheduler.ticks == 0:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)  # the start-up passes are over: it sleeps for 30 s
            asleep = app.scheduler.ticks
            for _ in range(20):
                assert (await one(app, "n")).state is RunState.SUCCEEDED
            assert app.scheduler.ticks == asleep
            now = await app.store.now()
            ((later, _),) = await app.runs.trigger("n", run_at=now + timedelta(seconds=0.5))
            assert later.state is RunState.SCHEDULED
            (done,) = await app.runs.wait([later.id], timeout=10, poll=0.05)
            assert done.state is RunState.SUCCEEDED
            assert done.started_at is not None and done.started_at - later.not_before < timedelta(
                seconds=3
            )
            assert app.scheduler.ticks > asleep

    run(body())


def test_sigterm_of_a_shell_job_is_its_failure(settings: Settings) -> None:
    async def body() -> None:
        argv = ["sh", "-c", "kill -TERM $$"]
        jobs = [{"name": "killed", "type": "shell", "params": {"argv": argv}}]
        async with serving(settings, jobs) as app:
            done = await one(app, "killed")
            assert done.state is RunState.FAILED
            assert done.error is not None and done.error.exit_code == -signal.SIGTERM
            assert "signal 15" in done.error.message

    run(body())


def test_a_worker_only_takes_runs_it_has_room_for(settings: Settings) -> None:
    settings.worker.cores = 2
    settings.worker.concurrency = 4

    async def body() -> None:
        jobs = [
            {
                "name": "heavy",
                "type": "shell",
                "params": {"argv": ["sleep", "0.4"]},
                "resources": {"cores": 2},
            },
            {"name": "light", "type": "noop", "resources": {"cores": 0}},
        ]
        async with serving(settings, jobs) as app:
            created = await app.runs.trigger("heavy", count=2)
            ((light, _),) = await app.runs.trigger("light")
            done = await app.runs.wait(
                [r.id for r, _ in created] + [light.id], timeout=20, poll=0.05
            )
        first, second = sorted(done[:2], key=lambda r: r.started_at or r.created_at)
        assert all(r.state is RunState.SUCCEEDED for r in done)
        assert first.finished_at is not None and second.started_at is not None
        # Two cores in all: the second heavy run waited for the first to end.
        assert second.started_at >= first.finished_at
        # A run that needs no cores was not held up behind them.
        assert done[2].started_at is not None and done[2].started_at < first.finished_at

    run(body())


def test_a_run_larger_than_the_worker_is_left_for_a_larger_one(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.worker.cores = 2
    settings.worker.memory = 1024

    async def body() -> None:
        jobs = [
            {"name": "huge", "type": "noop", "resources": {"cores": 4}},
            {"name": "hungry", "type": "noop", "resources": {"memory": 4096}},
            {"name": "fits", "type": "noop", "resources": {"cores": 2, "memory": 1024}},
        ]
        async with serving(settings, jobs) as app:
            ((huge, _),) = await app.runs.trigger("huge")
            ((hungry, _),) = await app.runs.trigger("hungry")
            ((fits, _),) = await app.runs.trigger("fits")
            (done,) = await app.runs.wait([fits.id], timeout=20, poll=0.05)
            await asyncio.sleep(0.3)
            left = [await app.reports.get_run(r.id) for r in (huge, hungry)]
        assert done.state is RunState.SUCCEEDED  # the largest run that fits still runs
        assert [r.state for r in left] == [RunState.QUEUED, RunState.QUEUED]
        assert all(r.attempt == 0 for r in left)  # never claimed here
        warned = [m for m in caplog.messages if "leaving it to a larger worker" in m]
        assert any(huge.id in m for m in warned) and any(hungry.id in m for m in warned)

    run(body())


def test_logs_of_a_running_run_can_be_read_before_it_ends(settings: Settings) -> None:
    async def body() -> None:
        script = "echo started; echo warming up >&2; sleep 3; echo finished"
        jobs = [{"name": "chatty", "type": "shell", "params": {"argv": ["sh", "-c", script]}}]
        async with serving(settings, jobs) as app:
            ((created, _),) = await app.runs.trigger("chatty")

            async def partial_logs_visible() -> bool:
                run_now = await app.reports.get_run(created.id)
                if run_now.state is not RunState.RUNNING:
                    return False
                try:
                    return await app.store.get_logs(created.id) == ("started\n", "warming up\n")
                except NotFound:  # claimed, but its attempt row not written yet
                    return False

            await until(partial_logs_visible, timeout=2.5)
            (done,) = await app.runs.wait([created.id], timeout=10, poll=0.05)
            assert done.state is RunState.SUCCEEDED
            assert await app.store.get_logs(created.id) == ("started\nfinished\n", "warming up\n")

    run(body())
