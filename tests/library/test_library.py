"""The Python library (``tss.library``) over each store: tasks as callables, the decorator,
submit and its handle, cancel and remove, resuming on a durable store, and bad input."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.library import lib_tasks
from tests.servers import REDIS_URL, redis_prefix
from tss import AsyncTaskScheduler, Config, RunState, Task, TaskScheduler
from tss.core.filters import RunFilter
from tss.errors import ConfigError, Conflict, NotFound, TaskError, ValidationError
from tss.library import local_pool
from tss.tasks.python import resolve

#: the scheduler looks again this often (the default is longer; tests wait less)
FAST = {"scheduler": {"max_sleep": 0.2}, "worker": {"heartbeat_interval": 0.5}}


@pytest.fixture(params=["memory", "sqlite", "postgres", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Config]:
    if request.param == "memory":
        yield Config(store={"url": "memory://"}, **FAST)
    elif request.param == "sqlite":
        yield Config(store={"url": f"sqlite:///{tmp_path}/lib.db"}, **FAST)
    elif request.param == "postgres":
        yield Config(store={"url": request.getfixturevalue("pg_url")}, **FAST)
    else:
        with redis_prefix("tss-lib") as prefix:
            yield Config(store={"url": f"{REDIS_URL}?prefix={prefix}"}, **FAST)


def test_a_lambda_a_local_function_an_async_one_and_a_name_all_run(config: Config) -> None:
    calls: list[str] = []

    def local(x: int) -> int:
        calls.append("local")
        return x * 2

    async def later(x: int) -> int:
        await asyncio.sleep(0)
        return x + 1

    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("lam", lambda: "hi"))
        scheduler.create_task("local", local, kwargs={"x": 21})
        scheduler.add_task(Task("later", later, args=[1]))
        scheduler.add_task(Task("named", "tests.library.lib_tasks:add", args=[2, 3]))
        assert scheduler.submit("lam").result(timeout=20) == "hi"
        assert scheduler.submit("local").result(timeout=20) == 42
        assert scheduler.submit("local", kwargs={"x": 5}).result(timeout=20) == 10
        assert scheduler.submit("later").result(timeout=20) == 2
        assert scheduler.submit("named").result(timeout=20) == 5
        assert calls == ["local", "local"]


def test_importable_functions_are_stored_by_name_and_local_ones_in_this_process_pool(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        config = Config(store={"url": f"sqlite:///{tmp_path}/names.db"}, **FAST)
        async with AsyncTaskScheduler(config) as scheduler:
            await scheduler.add_task(Task("by-name", lib_tasks.add, args=[1, 2]))
            await scheduler.add_task(Task("by-lambda", lambda: 1))
            named = await scheduler.app.store.get_job("by-name")
            assert named.spec.params["function"] == "tests.library.lib_tasks:add"
            assert named.spec.pool == "default"
            lam = await scheduler.app.store.get_job("by-lambda")
            assert (
                lam.spec.params["function"]
                == "tss.local:t_by_lambda_" + (lam.spec.params["function"].rsplit("_", 1)[1])
            )
            assert lam.spec.pool == local_pool() == scheduler.pool
            assert scheduler.pool in scheduler.config.worker.pools

    asyncio.run(body())


def test_a_local_function_elsewhere_fails_with_a_sentence_that_says_why() -> None:
    with pytest.raises(ValidationError) as caught:
        resolve("tss.local:not_registered_here")
    assert "only that program's own worker can run it" in str(caught.value)
    assert caught.value.field == "params.function"


def test_the_decorator_schedules_and_gives_delay_and_submit(config: Config) -> None:
    with TaskScheduler(config) as scheduler:

        @scheduler.task(every=0.3)
        def tick() -> str:
            return "tock"

        @scheduler.task(name="mul", retries=1)
        def multiply(a: int, b: int = 2) -> int:
            return a * b

        assert multiply(3) == 6  # still a plain function
        assert multiply.delay(4, b=5).result(timeout=20) == 20
        assert multiply.submit(kwargs={"a": 7}).result(timeout=20) == 14
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            counts = scheduler.call(scheduler.app.store.count_runs, RunFilter(job="tick"))
            if counts[RunState.SUCCEEDED] >= 2:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the every-0.3s task did not fire twice in 20 s")


def test_a_failure_and_a_wait_that_times_out_are_said_clearly(config: Config) -> None:
    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("bad", lib_tasks.fail, kwargs={"message": "no disk"}))
        scheduler.add_task(Task("slow", time.sleep, args=[3]))
        with pytest.raises(TaskError, match=r"failed .*: RuntimeError: no disk"):
            scheduler.submit("bad").result(timeout=20)
        slow = scheduler.submit("slow")
        with pytest.raises(TimeoutError, match="still"):
            slow.wait(timeout=0.2)
        assert slow.state in (RunState.QUEUED, RunState.RUNNING)


def test_submit_later_and_run_here_now(config: Config) -> None:
    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("add", lib_tasks.add, args=[1, 1]))
        later = scheduler.submit("add", delay=0.5)
        assert later.run.state is RunState.SCHEDULED
        done = later.wait(timeout=20)
        assert done.state is RunState.SUCCEEDED
        assert done.started_at is not None and done.not_before is not None
        assert done.started_at >= done.not_before
        here = scheduler.run("add", {"args": [20, 22]})
        assert (here.state, here.result) == (RunState.SUCCEEDED, 42)
        with pytest.raises(ValidationError) as caught:
            scheduler.submit("add", delay=1, run_at=done.created_at)
        assert caught.value.field == "delay"


def test_cancel_task_stops_its_fires_and_cancels_its_waiting_runs(config: Config) -> None:
    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("soon", lib_tasks.add, args=[1, 2]))
        waiting = [scheduler.submit("soon", delay=60) for _ in range(3)]
        cancelled = scheduler.cancel_task("soon")
        assert sorted(r.id for r in cancelled) == sorted(h.id for h in waiting)
        assert all(h.state is RunState.CANCELLED for h in waiting)
        with pytest.raises(NotFound):
            scheduler.submit("soon")
        assert "soon" not in scheduler.tasks


def test_remove_task_keeps_its_history(config: Config) -> None:
    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("once", lib_tasks.add, args=[2, 2]))
        done = scheduler.submit("once").wait(timeout=20)
        scheduler.remove_task("once")
        kept = scheduler.call(scheduler.app.store.get_run, done.id)
        assert kept.state is RunState.SUCCEEDED


def test_delete_task_with_history_leaves_nothing_of_it_but_a_run_still_going(
    config: Config,
) -> None:
    release = threading.Event()

    def slow() -> str:
        release.wait(20)
        return "late"

    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("gone", lib_tasks.add, args=[2, 2]))
        scheduler.add_task(Task("slow", slow))
        scheduler.add_task(Task("kept", lib_tasks.add, args=[1, 1]))
        ended = [scheduler.submit("gone").wait(timeout=20) for _ in range(3)]
        waiting = scheduler.submit("gone", delay=60)
        other = scheduler.submit("kept").wait(timeout=20)
        going = scheduler.submit("slow")
        deadline = time.monotonic() + 20
        while going.state is not RunState.RUNNING and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scheduler.delete_task("gone", history=True) == 4  # 3 ended, 1 cancelled
        assert scheduler.delete_task("slow", history=True) == 0  # its one run is going
        for run_id in [*(r.id for r in ended), waiting.id]:
            with pytest.raises(NotFound):
                scheduler.call(scheduler.app.store.get_run, run_id)
            assert scheduler.call(scheduler.app.store.list_events, run_id=run_id) == []
        assert scheduler.call(scheduler.app.store.get_run, other.id).state is RunState.SUCCEEDED
        release.set()
        assert going.result(timeout=20) == "late"  # it ended, and stays as history
        assert "gone" not in scheduler.tasks and "slow" not in scheduler.tasks
        with pytest.raises(NotFound):
            scheduler.delete_task("gone", history=True)


def test_a_durable_store_continues_where_it_was(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/durable.db"
    with TaskScheduler(Config(store={"url": url}, **FAST)) as first:
        first.add_task(Task("keep", lib_tasks.add, args=[1, 1], every=3600))
        ran = first.submit("keep").wait(timeout=20)
    second = TaskScheduler(Config(store={"url": url}, **FAST))
    try:
        second.start()
        job = second.call(second.app.store.get_job, "keep")
        assert job.spec.schedule is not None and job.spec.schedule.every == 3600
        again = second.call(second.app.store.get_run, ran.id)
        assert again.state is RunState.SUCCEEDED
        assert second.submit("keep").result(timeout=20) == 2
    finally:
        second.stop()


def test_bad_tasks_are_refused_naming_the_key_and_nothing_is_stored(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, retries={"max": -1})
    assert caught.value.field == "retries.max"
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, cron="61 * * * *")
    assert caught.value.field is not None and caught.value.field.startswith("schedule")
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, kwargs={"when": object()})
    assert caught.value.field == "kwargs"
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, cron="* * * * *", every=5)
    assert caught.value.field == "every"
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, colour="red")
    assert caught.value.field == "colour"
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, every=5, interval=10)
    assert caught.value.field == "interval"
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, every=0)  # refused, not taken for "no schedule"
    assert caught.value.field is not None and caught.value.field.startswith("schedule")
    with pytest.raises(ValidationError) as caught:
        Task("x", lib_tasks.add, alerts=[{"on": "late", "count": 3}])
    assert caught.value.field is not None and caught.value.field.startswith("alerts")
    watched = Task("x", lib_tasks.add, alerts=["dead", {"on": "missed", "after": "30m"}])
    assert watched.spec.alerts is not None
    assert [(r.on, r.setting("after")) for r in watched.spec.alerts.rules] == [
        ("dead", None),
        ("missed", 1800.0),
    ]
    now = Task("x", lib_tasks.add, delay=0)
    assert now.spec.schedule is not None and now.spec.schedule.delay == 0
    config = Config(store={"url": f"sqlite:///{tmp_path}/bad.db"}, **FAST)
    memory = Config(store={"url": "memory://"}, broker={"url": "store://"})
    for alone, field in ((config, "broker.url"), (memory, "store.url")):
        with pytest.raises(ConfigError) as refused:
            TaskScheduler(alone, worker=False)
        assert refused.value.field == field
    shared = Config(store={"url": f"sqlite:///{tmp_path}/bad.db"}, broker={"url": "store://"})
    with TaskScheduler(shared, worker=False) as scheduler:
        with pytest.raises(ValidationError) as caught:
            scheduler.add_task(Task("lam", lambda: 1))
        assert caught.value.field == "function"
        assert "no worker of its own" in str(caught.value)
        assert scheduler.call(scheduler.app.reports.list_jobs)[0].items == []
    with TaskScheduler(config) as scheduler:
        with pytest.raises(ValidationError) as caught:
            scheduler.add_task(Task("lam", lambda: 1, pool="gpu"))
        assert caught.value.field == "pool"
        with pytest.raises(ValidationError) as caught:
            scheduler.add_task(Task("lam", lambda: 1, isolation="process"))
        assert caught.value.field == "isolation"
        # an importable function runs in a child process
        scheduler.add_task(Task("child", lib_tasks.add, args=[3, 4], isolation="process"))
        assert scheduler.submit("child").result(timeout=30) == 7


def test_submit_before_start_says_to_start() -> None:
    scheduler = TaskScheduler(Config(store={"url": "memory://"}))
    try:
        scheduler.add_task(Task("a", lib_tasks.add, args=[1, 1]))
        with pytest.raises(ConfigError, match="start"):
            scheduler.submit("a")
    finally:
        scheduler.stop()


def test_config_round_trips_through_a_file_and_reads_configs_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config(store={"url": f"sqlite:///{tmp_path}/c.db"}, worker={"concurrency": 3})
    saved = config.save_config(tmp_path / "out" / "task.yaml")
    assert saved.stat().st_mode & 0o777 == 0o600
    again = Config.from_yaml(saved)
    assert again == config
    secret = Config(store={"url": "memory://"}, api={"admin_token": "x" * 32})
    assert "admin_token" not in secret.save_config(tmp_path / "s.yaml").read_text()
    assert again.worker.concurrency == 3
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.yaml").write_text("worker:\n  concurrency: 5\n")
    assert Config().worker.concurrency == 5
    with pytest.raises(ConfigError) as caught:
        Config.from_yaml(tmp_path / "missing.yaml")
    assert "does not exist" in str(caught.value)


def test_run_forever_returns_when_another_thread_stops_it() -> None:
    scheduler = TaskScheduler(Config(store={"url": "memory://"}, **FAST))
    scheduler.add_task(Task("a", lib_tasks.add, args=[1, 1], every=0.2))
    timer = threading.Timer(1.0, scheduler.stop)
    timer.start()
    started = time.monotonic()
    scheduler.run_forever()
    timer.join()
    assert 0.9 <= time.monotonic() - started < 20
    assert not scheduler.running
    with pytest.raises(ConfigError, match="stopped"):
        scheduler.start()


def test_a_task_decorated_after_the_start_can_be_run_at_once() -> None:
    async def body() -> int:
        async with AsyncTaskScheduler(Config(store={"url": "memory://"}, **FAST)) as scheduler:

            @scheduler.task()
            def late(a: int = 1) -> int:
                return a * 7

            handle = await late.delay(a=2)
            return int(await handle.result(timeout=20))

    assert asyncio.run(body()) == 14


def test_the_sync_scheduler_refuses_calls_from_its_own_loop() -> None:
    with TaskScheduler(Config(store={"url": "memory://"}, **FAST)) as scheduler:

        async def inside() -> str:
            try:
                scheduler.submit("x")
            except RuntimeError as exc:
                return str(exc)
            return "no error"

        scheduler.add_task(Task("inside", inside))
        assert "use an AsyncTaskScheduler" in scheduler.submit("inside").result(timeout=20)


def test_task_timeout_bounds_a_task_that_sets_none() -> None:
    config = Config(store={"url": "memory://"}, task_timeout=0.5, **FAST)
    with TaskScheduler(config) as scheduler:
        scheduler.add_task(Task("sleepy", time.sleep, args=[5]))
        scheduler.add_task(Task("patient", time.sleep, args=[1], timeout=3))
        sleepy = scheduler.submit("sleepy")
        patient = scheduler.submit("patient")
        ended = sleepy.wait(timeout=20)
        assert ended.state is RunState.TIMED_OUT
        assert ended.error is not None and "timeout of 0.5s" in ended.error.message
        assert patient.wait(timeout=20).state is RunState.SUCCEEDED


def test_removing_a_task_others_depend_on_says_which_and_how() -> None:
    with TaskScheduler(Config(store={"url": "memory://"}, **FAST)) as scheduler:
        parent = scheduler.add_task(Task("parent", lib_tasks.add, args=[1, 1]))
        scheduler.add_task(Task("child", lib_tasks.add, args=[2, 2], parent_tasks=[parent]))
        with pytest.raises(Conflict, match=r"child depends on it .*force"):
            scheduler.remove_task(parent)
        scheduler.remove_task(parent, force=True)
        assert "parent" not in scheduler.tasks


def test_its_own_worker_runs_32_at_once_unless_the_config_says() -> None:
    default = AsyncTaskScheduler(Config(store={"url": "memory://"}))
    assert default.config.worker.concurrency == 32
    chosen = Config(store={"url": "memory://"}, worker={"concurrency": 3})
    scheduler = AsyncTaskScheduler(chosen)
    assert scheduler.config.worker.concurrency == 3
    assert scheduler.config.worker.pools == ["default", local_pool()]
