"""The Python library: tasks as plain functions, a scheduler in a few lines.

::

    from tss import TaskScheduler, Task

    scheduler = TaskScheduler()                    # ./tss.db, a worker in this process
    scheduler.add_task(Task("hello", lambda: print("hi"), cron="*/5 * * * *"))

    @scheduler.task(every="1h", retries=3)
    def refresh(region: str = "eu") -> int: ...

    with scheduler:                                # start(); stop() at the end
        handle = refresh.submit(kwargs={"region": "us"})
        print(handle.result(timeout=30))

A :class:`Task` is a ``python`` job whose function is a callable or a ``"module:function"``
string. :class:`AsyncTaskScheduler` drives a :class:`~tss.service.TSSApp` (the same store,
scheduler, worker and history the CLI, API and dashboard show); :class:`TaskScheduler` is the
same object driven from plain code: every call runs the async method on an event loop of its
own thread and waits for it, so there is one code path.

A function a worker in another process cannot import (a lambda, a nested function, one of the
``__main__`` script) runs only in the process that registered it (:mod:`tss.local`): its job
goes to a pool that only this process's worker serves (``local.<host and program digest>``,
the same across restarts of the same program, so a durable store picks up where it was).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import os
import signal
import socket
import sys
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import orjson
import yaml
from pydantic import ValidationError as PydanticValidationError

from tss import local
from tss.config import Settings, config_error, environment_layer, keys_of, load_config
from tss.core.jobspec import JobSpec
from tss.core.merge import deep_merge
from tss.core.models import Run
from tss.core.states import RunState
from tss.definitions import parse_job
from tss.errors import ConfigError, TaskError, ValidationError

T = TypeVar("T")

__all__ = [
    "AsyncRunHandle",
    "AsyncTaskScheduler",
    "Config",
    "RunHandle",
    "Task",
    "TaskScheduler",
]

#: what a library task lets a run change unless told otherwise: its arguments
DEFAULT_OVERRIDABLE = ("args", "kwargs")
#: how many runs the library's own worker runs at once unless ``worker.concurrency`` says:
#: its tasks are functions of this program, most in threads, as a thread pool runs them
LIBRARY_CONCURRENCY = 32
#: seconds between two reads of a run that is being waited for
_POLL = 0.05


# -- Config ------------------------------------------------------------------------------


class Config(Settings):
    """TSS's settings under the name the STS document gives them.

    ``Config()`` reads the files ``tss`` reads in the working directory
    (``configs/default.yaml``, ``configs/<TSS_ENVIRONMENT>.yaml``, ``config.yaml``,
    ``override.yaml``: :func:`tss.config.config_files`), then the environment;
    ``Config(**keys)`` takes keys as written in a config file (the seeds' spellings too:
    :mod:`tss.config.seeds`), then the environment; :meth:`from_yaml` reads a file;
    :meth:`save_config` writes one that loads back to an equal config.

    :raises ConfigError: naming a key that is wrong (and the nearest known one).
    """

    def __init__(self, **values: Any) -> None:
        if not values:
            values = load_config().model_dump(exclude_unset=True)
        else:
            values = deep_merge(keys_of(values), environment_layer())
        try:
            super().__init__(**values)
        except PydanticValidationError as exc:
            raise config_error(exc) from exc

    @classmethod
    def from_yaml(cls, path: str | Path) -> Config:
        """The config in ``path`` (the files beside it, as ``--config`` reads them: see
        :func:`tss.config.config_files`), then the environment.

        :raises ConfigError: the file is missing or malformed, or a key is invalid (named).
        """
        return cls(**load_config(str(path)).model_dump(exclude_unset=True))

    def save_config(self, path: str | Path) -> Path:
        """Write the keys that differ from the defaults to ``path`` as YAML; loading it gives
        an equal config. Returns the path. The admin token is never written; a password in
        a URL is, so the file is made readable by its owner only (mode 0600)."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude=_NOT_SAVED)
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(yaml.safe_dump(data, sort_keys=False))
        target.chmod(0o600)  # a file that existed keeps its mode through O_CREAT
        return target

    def __eq__(self, other: object) -> bool:
        # Where a config was read from is not part of what it says.
        if not isinstance(other, Settings):
            return NotImplemented
        return self.model_dump(exclude={"source"}) == other.model_dump(exclude={"source"})

    __hash__ = None  # type: ignore[assignment]


#: not written by :meth:`Config.save_config`: where it was read from, and the admin token
#: (a secret: it comes from the environment, ``TSS_ADMIN_TOKEN``)
_NOT_SAVED: Any = {"source": True, "api": {"admin_token"}}


def _settings(config: Settings | str | Path | None) -> Settings:
    if config is None:
        return Config()
    if isinstance(config, str | Path):
        return Config.from_yaml(config)
    if not isinstance(config, Settings):
        raise ConfigError(
            f"config must be a Config (or a path to a YAML file), not {type(config).__name__}",
            field="config",
        )
    return config


# -- Task --------------------------------------------------------------------------------


class Task:
    """A unit of work: a function and everything a job has.

    ``function`` is a callable (plain or async, a lambda, a local function) or a
    ``"package.module:function"`` string. The schedule is ``schedule=`` (a cron string or a
    mapping as in a job file) or one of the shortcuts ``cron=``, ``every=`` (or
    ``interval=``), ``at=``, ``delay=``, with ``timezone=``. ``parent_tasks`` (or
    ``depends_on``) takes tasks or names. ``args`` and ``kwargs`` are what the function is
    called with (JSON values: they are stored). Any other keyword is a job key
    (``retries``, ``timeout``, ``priority``, ``pool``, ``resources``, ``concurrency``,
    ``tags``, ``description``, ``isolation``, ...), checked at once.

    ``overridable`` defaults to ``["args", "kwargs"]``: a run may be given other arguments
    (:meth:`AsyncTaskScheduler.submit`, the API's trigger by an operator); pass ``[]`` to
    fix them.

    :raises ValidationError: naming the key that is wrong.
    """

    def __init__(
        self,
        name: str,
        function: Callable[..., Any] | str,
        *,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        schedule: Any = None,
        cron: str | None = None,
        every: float | str | None = None,
        interval: float | str | None = None,
        at: datetime | str | None = None,
        delay: float | str | None = None,
        timezone: str | None = None,
        parent_tasks: Iterable[Task | str] | None = None,
        depends_on: Iterable[Task | str | Mapping[str, Any]] | None = None,
        overridable: Iterable[str] = DEFAULT_OVERRIDABLE,
        **options: Any,
    ) -> None:
        if not (callable(function) or isinstance(function, str)):
            raise ValidationError(
                "function must be a callable or a 'package.module:function' string",
                field="function",
            )
        self.name = name
        self.function = function
        self.args = list(args)
        self.kwargs = dict(kwargs or {})
        for field, value in (("args", self.args), ("kwargs", self.kwargs)):
            try:
                orjson.dumps(value)
            except TypeError as exc:
                raise ValidationError(
                    f"{field} are stored with the task and must be JSON values: {exc}",
                    field=field,
                ) from exc
        self.options = dict(options)
        self.options["overridable"] = list(overridable)
        if every is not None and interval is not None:
            raise ValidationError("every and interval are the same key: give one", field="interval")
        when = _schedule(schedule, cron, every if every is not None else interval, at, delay)
        if timezone is not None:
            if when is None:
                raise ValidationError("timezone needs a schedule", field="timezone")
            when = {**when, "timezone": timezone}
        if when is not None:
            self.options["schedule"] = when
        parents = [*(parent_tasks or ()), *(depends_on or ())]
        if parents:
            self.options["depends_on"] = [_parent(p) for p in parents]
        self.spec = self._check()

    def _check(self) -> JobSpec:
        """The job this task is, with a placeholder function when it is a callable."""
        name = self.function if isinstance(self.function, str) else f"{local.MODULE}:placeholder"
        return parse_job(self.definition(name), where=f"task {self.name!r}: ")

    def definition(self, function: str) -> dict[str, Any]:
        """The job definition (as in a job file) with ``function`` as its function."""
        params: dict[str, Any] = {"function": function}
        if self.args:
            params["args"] = self.args
        if self.kwargs:
            params["kwargs"] = self.kwargs
        return {"name": self.name, "type": "python", "params": params, **self.options}

    def __repr__(self) -> str:
        what = self.function if isinstance(self.function, str) else _describe(self.function)
        return f"Task({self.name!r}, {what})"


def _schedule(
    schedule: Any, cron: str | None, every: Any, at: Any, delay: Any
) -> dict[str, Any] | None:
    pairs = (("cron", cron), ("every", every), ("at", at), ("delay", delay))
    given = {k: v for k, v in pairs if v is not None}
    if schedule is not None and given:
        first = next(iter(given))
        raise ValidationError(f"give schedule or {first}, not both", field=first)
    if len(given) > 1:
        first, second = list(given)[:2]
        raise ValidationError(f"give one of {first} and {second}", field=second)
    if schedule is None:
        return dict(given) if given else None
    if hasattr(schedule, "model_dump"):
        return dict(schedule.model_dump(exclude_defaults=True))
    if isinstance(schedule, str):
        return {"cron": schedule}
    if isinstance(schedule, Mapping):
        return dict(schedule)
    raise ValidationError(
        "schedule must be a cron string or a mapping such as {'every': '5m'}", field="schedule"
    )


def _parent(parent: Task | str | Mapping[str, Any]) -> str | dict[str, Any]:
    if isinstance(parent, Task):
        return parent.name
    if isinstance(parent, Mapping):
        return dict(parent)
    return parent


def _describe(func: Callable[..., Any]) -> str:
    return getattr(func, "__qualname__", None) or type(func).__name__


def local_pool() -> str:
    """The pool of this program's local functions: the same for every run of the same
    program on the same host (so a durable store's queued runs are found after a restart)."""
    main = sys.modules.get("__main__")
    program = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv else "") or "python"
    digest = hashlib.sha256(f"{socket.gethostname()}\0{Path(program).resolve()}".encode())
    return f"local.{digest.hexdigest()[:12]}"


# -- run handles -------------------------------------------------------------------------


class AsyncRunHandle:
    """A run that was submitted: its id, its state when last read, and ways to wait."""

    def __init__(self, scheduler: AsyncTaskScheduler, run: Run) -> None:
        self._scheduler = scheduler
        self.run = run

    @property
    def id(self) -> str:
        return self.run.id

    @property
    def state(self) -> RunState:
        """The state when the run was last read (:meth:`refresh` reads it again)."""
        return self.run.state

    async def refresh(self) -> Run:
        """Read the run again."""
        self.run = await self._scheduler.app.reports.get_run(self.id)
        return self.run

    async def wait(self, timeout: float | None = None) -> Run:
        """Wait until the run has ended (retries included) and return it.

        :raises TimeoutError: it has not ended within ``timeout`` seconds.
        """
        (self.run,) = await self._scheduler.app.runs.wait([self.id], timeout=timeout, poll=_POLL)
        if not self.run.state.terminal:
            raise TimeoutError(
                f"run {self.id} is still {self.run.state.value} after {timeout:g}s"
                if timeout is not None
                else f"run {self.id} has not ended"
            )
        return self.run

    async def result(self, timeout: float | None = None) -> Any:
        """What the function returned, once the run has ended.

        :raises TaskError: the run did not succeed (its state and reason in the message).
        :raises TimeoutError: it has not ended within ``timeout`` seconds.
        """
        run = await self.wait(timeout)
        if run.state is not RunState.SUCCEEDED:
            why = f": {run.error.type}: {run.error.message}" if run.error is not None else ""
            raise TaskError(
                f"run {run.id} of task {run.job!r} {run.state.value} ({run.reason}){why}"
            )
        return run.result

    def __repr__(self) -> str:
        return f"<run {self.id} of {self.run.job!r}: {self.state.value}>"


class RunHandle:
    """:class:`AsyncRunHandle` for plain code: each call waits on the scheduler's loop."""

    def __init__(self, portal: _Portal, handle: AsyncRunHandle) -> None:
        self._portal = portal
        self._handle = handle

    @property
    def id(self) -> str:
        return self._handle.id

    @property
    def run(self) -> Run:
        return self._handle.run

    @property
    def state(self) -> RunState:
        """The run's state now (read from the store)."""
        return self._portal.call(self._handle.refresh).state

    def refresh(self) -> Run:
        return self._portal.call(self._handle.refresh)

    def wait(self, timeout: float | None = None) -> Run:
        return self._portal.call(self._handle.wait, timeout)

    def result(self, timeout: float | None = None) -> Any:
        return self._portal.call(self._handle.result, timeout)

    def __repr__(self) -> str:
        return repr(self._handle)


# -- the scheduler -----------------------------------------------------------------------


class AsyncTaskScheduler:
    """Tasks, a scheduler and (unless ``worker=False``) a worker in this process, on the
    store and broker of ``config`` (default: :class:`Config`, TSS's defaults: ``tss.db``
    in the working directory).

    Start it with :meth:`start` (or ``async with``); tasks added before are stored then,
    tasks added after at once. On a durable store, starting again continues where it was:
    the definitions are applied again (unchanged ones are left alone) and fires missed while
    nothing ran follow each task's misfire policy.
    """

    def __init__(self, config: Settings | str | Path | None = None, *, worker: bool = True) -> None:
        from tss.service import TSSApp

        settings = _settings(config)
        if not worker:
            _check_shared(settings)
        self.pool = local_pool()
        if worker:
            update: dict[str, Any] = {}
            if self.pool not in settings.worker.pools:
                update["pools"] = [*settings.worker.pools, self.pool]
            if "concurrency" not in settings.worker.model_fields_set:
                update["concurrency"] = LIBRARY_CONCURRENCY
            if update:
                worker_settings = settings.worker.model_copy(update=update)
                settings = settings.model_copy(update={"worker": worker_settings})
        self.config = settings
        self.app = TSSApp(settings)
        self._worker = worker
        self._tasks: dict[str, Task] = {}
        self._stop = asyncio.Event()
        self._serving: asyncio.Task[None] | None = None
        #: tasks decorated after the start, being stored (runs wait for them)
        self._pending: set[asyncio.Future[Task]] = set()

    @property
    def running(self) -> bool:
        return self._serving is not None and not self._serving.done()

    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks added here, by name."""
        return dict(self._tasks)

    # -- tasks ---------------------------------------------------------------------------

    def _definition(self, task: Task) -> dict[str, Any]:
        """The job of ``task``: an importable function by its name, any other registered
        here and kept in this process's pool."""
        function = task.function
        if isinstance(function, str):
            return task.definition(function)
        path = local.import_path(function)
        if path is not None:
            return task.definition(path)
        if not self._worker:
            raise ValidationError(
                f"task {task.name!r}: {_describe(function)} cannot be imported by a worker in "
                "another process (a lambda, a nested function or one of the __main__ script), "
                "and this scheduler has no worker of its own (worker=False): define it at the "
                "top level of a module, or give it as 'package.module:function'",
                field="function",
            )
        if task.spec.isolation == "process":
            raise ValidationError(
                f"task {task.name!r}: {_describe(function)} cannot be imported by the child "
                "process isolation: process starts; make it importable (a top-level function "
                "of a module) or leave isolation out",
                field="isolation",
            )
        if "pool" in task.options:
            raise ValidationError(
                f"task {task.name!r}: {_describe(function)} runs only in this process, in its "
                f"pool {self.pool!r}: leave pool out, or make the function importable",
                field="pool",
            )
        return {**task.definition(local.register(task.name, function)), "pool": self.pool}

    async def add_task(self, task: Task) -> Task:
        """Add ``task`` (or replace the task of that name): stored now if the scheduler has
        started, else when it starts.

        :raises ValidationError: naming what is wrong; nothing is stored.
        """
        if not isinstance(task, Task):
            raise ValidationError(f"add_task takes a Task, not {type(task).__name__}", field="task")
        definition = self._definition(task)
        if self.app.started:
            await self.app.jobs.apply([definition], actor="library")
        self._tasks[task.name] = task
        return task

    async def create_task(self, name: str, function: Callable[..., Any] | str, **kw: Any) -> Task:
        """``add_task(Task(name, function, **kw))``."""
        return await self.add_task(Task(name, function, **kw))

    async def remove_task(self, task: Task | str, *, force: bool = False) -> None:
        """Delete the task: no more fires; its runs and their history stay (queued ones still
        run). ``force`` deletes it even when other tasks depend on it.

        :raises NotFound: there is no such task.
        :raises Conflict: others depend on it and not ``force``.
        """
        await self._delete(task, force=force, history=False)

    async def cancel_task(self, task: Task | str, *, force: bool = False) -> list[Run]:
        """Delete the task (no more fires) and cancel its runs that have not started;
        returns them. A run already running finishes. ``force`` as in :meth:`remove_task`.

        :raises NotFound: there is no such task.
        :raises Conflict: others depend on it and not ``force``.
        """
        name = _name(task)
        await self.remove_task(name, force=force)
        return await self.app.runs.cancel_not_started(name, actor="library")

    async def delete_task(self, task: Task | str, *, history: bool = False) -> int:
        """Delete the task even when other tasks depend on it (:meth:`remove_task` with
        ``force``). Its runs and their history stay, unless ``history``: then its runs not
        started are cancelled and every ended run is deleted with its attempts, logs and
        events (a run still going ends and stays). Returns how many runs were deleted.

        :raises NotFound: there is no such task.
        """
        return await self._delete(task, force=True, history=history)

    async def _delete(self, task: Task | str, *, force: bool, history: bool) -> int:
        """Delete the task's job (:meth:`tss.service.jobs.Jobs.delete`), then forget it
        here: no longer listed, its local function no longer registered."""
        name = _name(task)
        deleted = await self.app.jobs.delete(name, force=force, history=history, actor="library")
        self._tasks.pop(name, None)
        local.unregister(name)
        return deleted

    def task(
        self, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """A decorator that adds the function as a task (named after it unless ``name``) and
        gives it ``submit(...)`` and ``delay(**kwargs)``, which start a run now; the
        function itself stays callable as before."""

        def add(func: Callable[..., T]) -> Callable[..., T]:
            task = Task(name or func.__name__, func, **options)
            self._add_now_or_later(task)
            _attach(func, task, functools.partial(self.submit, task))
            return func

        return add

    def _add_now_or_later(self, task: Task) -> None:
        """For the decorator (which cannot await): store the task now when started."""
        self._definition(task)  # refuse a bad one at once
        self._tasks[task.name] = task
        if self.app.started:
            pending = asyncio.ensure_future(self.add_task(task))
            self._pending.add(pending)
            pending.add_done_callback(self._pending.discard)

    async def _settle(self) -> None:
        """Wait for the tasks being stored (decorated after the start)."""
        if self._pending:
            await asyncio.gather(*self._pending)

    # -- runs ----------------------------------------------------------------------------

    async def submit(
        self,
        task: Task | str,
        params: Mapping[str, Any] | None = None,
        *,
        args: Iterable[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        run_at: datetime | None = None,
        delay: float | timedelta | None = None,
    ) -> AsyncRunHandle:
        """Start a run of ``task`` now, at ``run_at`` or after ``delay`` seconds, with other
        ``args``/``kwargs`` (or raw job ``params``) if given; returns its handle.

        :raises ValidationError: naming what is wrong (a run time and a delay, arguments
            the task does not let a run change); no run is made.
        """
        self._check_started()
        await self._settle()
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else delay
        override = dict(params or {})
        if args is not None:
            override["args"] = list(args)
        if kwargs is not None:
            override["kwargs"] = dict(kwargs)
        ((run, _),) = await self.app.runs.trigger(
            _name(task), params=override or None, run_at=run_at, delay=seconds, actor="library"
        )
        return AsyncRunHandle(self, run)

    async def run(self, task: Task | str, params: Mapping[str, Any] | None = None) -> Run:
        """Run ``task`` here and now (retries included) and return the ended run."""
        self._check_started()
        await self._settle()
        params = dict(params) if params else None
        return await self.app.runs.execute_now(_name(task), params=params, actor="library")

    def _check_started(self) -> None:
        if not self.app.started:
            raise ConfigError("the scheduler has not started: call start() first", field="start")

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to the store, store the tasks added so far, and run the scheduler (and the
        worker) in the background. Idempotent."""
        if self.running:
            return
        await self.app.start()
        try:
            if self._tasks:
                definitions = [self._definition(t) for t in self._tasks.values()]
                await self.app.jobs.apply(definitions, actor="library")
        except BaseException:
            await self.app.close()
            raise
        self._stop = asyncio.Event()
        self._serving = asyncio.create_task(
            self.app.serve(self._stop, scheduler=True, worker=self._worker), name="tss-library"
        )

    async def stop(self, wait: bool = True) -> None:
        """Stop firing and close. With ``wait`` the runs in progress finish first (within
        the worker's grace period); without, they are handed back to the queue."""
        serving, self._serving = self._serving, None
        if serving is not None:
            self._stop.set()
            if not wait:
                serving.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await serving
        if self.app.started:
            await self.app.close()

    async def run_forever(self) -> None:
        """Start, then serve until :meth:`stop` is called or the process gets SIGINT or
        SIGTERM (then stop, waiting for the runs in progress)."""
        await self.start()
        serving = self._serving
        assert serving is not None
        loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._stop.set)
                    handled.append(sig)
        try:
            await asyncio.shield(serving)
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)
            await self.stop()

    async def __aenter__(self) -> AsyncTaskScheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class _Portal:
    """An event loop on a thread of its own; plain code calls coroutines on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="tss-library-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        if self.loop.is_closed():
            raise ConfigError("this TaskScheduler was stopped; make a new one", field="start")
        if threading.current_thread() is self._thread:
            raise RuntimeError(
                "a TaskScheduler method was called from a task running on its own event loop "
                "(an async function): use an AsyncTaskScheduler there"
            )

        async def call() -> T:
            return await fn(*args, **kwargs)

        future = asyncio.run_coroutine_threadsafe(call(), self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the loop's thread (for what must be made there)."""

        async def call() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result()

    def close(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class TaskScheduler:
    """:class:`AsyncTaskScheduler` for plain code: the same methods, each one waiting for
    its result. ``start()`` returns at once (the scheduler runs on a thread of its own);
    ``run_forever()`` blocks until Ctrl+C or :meth:`stop`."""

    def __init__(self, config: Settings | str | Path | None = None, *, worker: bool = True) -> None:
        self._portal = _Portal()
        try:
            self._async: AsyncTaskScheduler = self._portal.run_sync(
                functools.partial(AsyncTaskScheduler, config, worker=worker)
            )
        except BaseException:
            self._portal.close()
            raise
        self._closed = False
        self._stopping = threading.Lock()

    @property
    def config(self) -> Settings:
        return self._async.config

    @property
    def app(self) -> Any:
        """The :class:`~tss.service.TSSApp` underneath (its methods are coroutines of the
        scheduler's loop)."""
        return self._async.app

    @property
    def tasks(self) -> dict[str, Task]:
        return self._async.tasks

    @property
    def running(self) -> bool:
        return self._async.running

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """``await fn(*args, **kwargs)`` on the scheduler's loop, for the coroutines of
        :attr:`app` (``scheduler.call(scheduler.app.reports.list_runs)``)."""
        return self._portal.call(fn, *args, **kwargs)

    def add_task(self, task: Task) -> Task:
        return self._portal.call(self._async.add_task, task)

    def create_task(self, name: str, function: Callable[..., Any] | str, **kw: Any) -> Task:
        return self._portal.call(self._async.create_task, name, function, **kw)

    def remove_task(self, task: Task | str, *, force: bool = False) -> None:
        self._portal.call(self._async.remove_task, task, force=force)

    def cancel_task(self, task: Task | str, *, force: bool = False) -> list[Run]:
        return self._portal.call(self._async.cancel_task, task, force=force)

    def delete_task(self, task: Task | str, *, history: bool = False) -> int:
        return self._portal.call(self._async.delete_task, task, history=history)

    def task(
        self, name: str | None = None, **options: Any
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """As :meth:`AsyncTaskScheduler.task`; ``submit`` and ``delay`` return a
        :class:`RunHandle`."""

        def add(func: Callable[..., T]) -> Callable[..., T]:
            task = Task(name or func.__name__, func, **options)
            self.add_task(task)
            _attach(func, task, functools.partial(self.submit, task))
            return func

        return add

    def submit(
        self,
        task: Task | str,
        params: Mapping[str, Any] | None = None,
        **kw: Any,
    ) -> RunHandle:
        return RunHandle(self._portal, self._portal.call(self._async.submit, task, params, **kw))

    def run(self, task: Task | str, params: Mapping[str, Any] | None = None) -> Run:
        return self._portal.call(self._async.run, task, params)

    def start(self) -> None:
        self._check_open()
        self._portal.call(self._async.start)

    def stop(self, wait: bool = True) -> None:
        """Stop (see :meth:`AsyncTaskScheduler.stop`) and end the scheduler's thread: a
        stopped TaskScheduler cannot start again (make a new one)."""
        with self._stopping:
            if self._closed:
                return
            try:
                self._portal.call(self._async.stop, wait)
            finally:
                self._closed = True
                self._portal.close()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._closed and self._async.running:
                try:
                    done = asyncio.run_coroutine_threadsafe(
                        _wait_done(self._async), self._portal.loop
                    )
                except RuntimeError:  # stopped from another thread meanwhile
                    break
                # Wake now and then so that Ctrl+C reaches this thread.
                with contextlib.suppress(
                    concurrent.futures.TimeoutError, concurrent.futures.CancelledError
                ):
                    done.result(timeout=0.5)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigError("this TaskScheduler was stopped; make a new one", field="start")

    def __enter__(self) -> TaskScheduler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _wait_done(scheduler: AsyncTaskScheduler) -> None:
    serving = scheduler._serving
    if serving is not None:
        await asyncio.shield(serving)


def _check_shared(settings: Settings) -> None:
    """Refuse ``worker=False`` where no worker of another process could take the runs.

    :raises ConfigError: naming the key.
    """
    if settings.store.url.startswith("memory:"):
        raise ConfigError(
            "worker=False: a memory store is this process's alone, so no other process's "
            "worker could run the tasks; give a store.url that processes share "
            "(sqlite:///file.db, postgresql://..., redis://...)",
            field="store.url",
        )
    if settings.broker.url.startswith("local:"):
        raise ConfigError(
            "worker=False: the local:// broker reaches only a worker in this process; use "
            "broker.url: store:// (or a Redis or RabbitMQ URL) so that tss worker processes "
            "get the runs",
            field="broker.url",
        )


def _name(task: Task | str) -> str:
    return task.name if isinstance(task, Task) else task


def _attach(func: Any, task: Task, submit: Callable[..., Any]) -> None:
    """Give a decorated function its task, ``submit(...)`` (the scheduler's, for this task)
    and ``delay(*args, **kwargs)`` (a submit with those arguments)."""

    def delay(*args: Any, **kwargs: Any) -> Any:
        return submit(args=list(args), kwargs=kwargs)

    try:
        func.task = task
        func.submit = submit
        func.delay = delay
    except AttributeError as exc:  # a builtin or a slotted callable
        raise ValidationError(
            f"{_describe(func)} cannot carry submit/delay: decorate a plain function",
            field="function",
        ) from exc
