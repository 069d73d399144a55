"""The ``python`` task type: call ``module:function`` with the job's params."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import importlib
import inspect
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from tss import local
from tss.errors import TaskFailure, ValidationError
from tss.tasks._env import base_environ
from tss.tasks._process import run_process
from tss.tasks.base import ExecutionContext, TaskContext, TaskType
from tss.tasks.output import current_stderr, current_stdout
from tss.tasks.threads import ThreadRunner

log = logging.getLogger(__name__)
_KEYS = {"function", "args", "kwargs"}
_KEPT_TARGETS = 1024
_LOCAL = local.MODULE + ":"


_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def check_target(target: str) -> None:
    """Check the shape of ``package.module:function`` without importing anything: the
    process that takes a definition (the API) never runs a module's code; the worker imports
    it when an attempt starts, and an import error fails that attempt with its reason.

    :raises ValidationError: not a dotted module and attribute path (``params.function``).
    """
    module_name, sep, attr = target.partition(":")
    if not sep:
        module_name, _, attr = target.rpartition(".")
    if not (len(target) <= 500 and _DOTTED.fullmatch(module_name) and _DOTTED.fullmatch(attr)):
        raise ValidationError(
            f"function {target[:100]!r} must look like 'package.module:function'",
            field="params.function",
        )


def resolve(target: str) -> Callable[..., Any]:
    """Import ``package.module:function`` (or ``package.module.function``).

    :raises ValidationError: it cannot be imported or is not callable (``params.function``).
    """
    if ":" in target:
        module_name, _, attr = target.partition(":")
    else:
        module_name, _, attr = target.rpartition(".")
    if not module_name or not attr:
        raise ValidationError(
            f"function {target!r} must look like 'package.module:function'",
            field="params.function",
        )
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ValidationError(
            f"cannot import module {module_name!r} for function {target!r}: "
            f"{type(exc).__name__}: {exc}",
            field="params.function",
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            # tss.local says why its function is not in this process
            why = str(exc) if module_name == local.MODULE else ""
            raise ValidationError(
                why or f"module {module_name!r} has no attribute {attr!r}",
                field="params.function",
            ) from None
    if not callable(obj):
        raise ValidationError(f"{target!r} is not callable", field="params.function")
    return obj  # type: ignore[no-any-return]


def context_parameter(func: Callable[..., Any]) -> str | None:
    """The name of ``func``'s parameter that takes the :class:`TaskContext` (one named
    ``ctx`` or ``context``, or annotated ``TaskContext``), or None: it wants none."""
    try:
        parameters = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return None
    for name, param in parameters.items():
        if param.annotation in (TaskContext, "TaskContext") or name in ("ctx", "context"):
            return name
    return None


@dataclass(frozen=True, slots=True)
class _Target:
    """What calling a ``module:function`` needs, worked out once per process."""

    func: Callable[..., Any]
    context: str | None
    coroutine: bool


class PythonTask(TaskType):
    """Calls a function. Async functions run on the worker's event loop, plain ones in a
    thread; ``isolation: process`` runs either in a child process that a timeout kills."""

    name = "python"
    executes = frozenset({"function"})

    def __init__(self, threads: int = 32) -> None:
        self._runner = ThreadRunner(threads)
        #: resolved targets: importing and inspecting a function is done once, not per run
        #: (a target that does not import is tried again at its next run)
        self._targets: dict[str, _Target] = {}

    def _target(self, name: str) -> _Target:
        target = self._targets.get(name)
        # A function registered in this process may be replaced under the same name.
        if target is not None and name.startswith(_LOCAL) and resolve(name) is not target.func:
            target = None
        if target is None:
            func = resolve(name)
            target = _Target(func, context_parameter(func), inspect.iscoroutinefunction(func))
            if len(self._targets) >= _KEPT_TARGETS:
                self._targets.clear()
            self._targets[name] = target
        return target

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - _KEYS
        if unknown:
            first = sorted(unknown)[0]
            raise ValidationError(
                f"python takes 'function', 'args' and 'kwargs', not {first!r}",
                field=f"params.{first}",
            )
        target = params.get("function")
        if not isinstance(target, str):
            raise ValidationError(
                "function is required, e.g. 'reports.build:main'", field="params.function"
            )
        if not isinstance(params.get("args", []), list):
            raise ValidationError("args must be a list", field="params.args")
        if not isinstance(params.get("kwargs", {}), dict):
            raise ValidationError("kwargs must be a mapping", field="params.kwargs")
        check_target(target)
        return params

    async def execute(self, ctx: ExecutionContext) -> Any:
        if ctx.isolation == "process":
            return await self._in_process(ctx)
        target = self._target(ctx.params["function"])
        func = target.func
        args = list(ctx.params.get("args") or [])
        kwargs = dict(ctx.params.get("kwargs") or {})
        if target.context is not None:
            kwargs[target.context] = ctx.task
        out_token = current_stdout.set(ctx.stdout)
        err_token = current_stderr.set(ctx.stderr)
        try:
            if target.coroutine or ctx.isolation == "loop":
                async with asyncio.timeout(ctx.timeout):
                    result = func(*args, **kwargs)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
            return await self._in_thread(ctx, func, args, kwargs)
        finally:
            current_stdout.reset(out_token)
            current_stderr.reset(err_token)

    async def _in_thread(
        self, ctx: ExecutionContext, func: Callable[..., Any], args: list[Any], kwargs: Any
    ) -> Any:
        call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
        future = self._runner.call(call)
        if ctx.timeout is None:
            return await future
        try:
            async with asyncio.timeout(ctx.timeout):
                # shielded: a timeout abandons the thread; it does not cancel its future
                return await asyncio.shield(future)
        except TimeoutError:
            # A thread cannot be killed: it is abandoned. isolation: process kills for real.
            log.warning(
                "run %s outlived its timeout in a thread; the thread is abandoned "
                "(use isolation: process for a hard timeout)",
                ctx.task.run_id,
            )
            raise

    async def _in_process(self, ctx: ExecutionContext) -> Any:
        fd, result_path = tempfile.mkstemp(prefix="tss-result-", suffix=".json")
        os.close(fd)
        task = ctx.task
        payload = {
            "function": ctx.params["function"],
            "args": ctx.params.get("args") or [],
            "kwargs": ctx.params.get("kwargs") or {},
            "result_path": result_path,
            "context": {
                "run_id": task.run_id,
                "attempt": task.attempt,
                "job": task.job,
                "scheduled_for": task.scheduled_for.isoformat() if task.scheduled_for else None,
                "params": task.params,
                "worker_id": task.worker_id,
            },
            "sys_path": [p for p in sys.path if p],
        }
        try:
            code = await run_process(
                [sys.executable, "-m", "tss.tasks.python_child"],
                stdout=ctx.stdout,
                stderr=ctx.stderr,
                timeout=ctx.timeout,
                stdin_data=orjson.dumps(payload, default=str),
                # the worker's interpreter, without the worker's secrets (tss.tasks._env)
                env=base_environ(interpreter=True),
            )
            raw = await asyncio.to_thread(Path(result_path).read_bytes)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(result_path)
        if not raw:
            raise TaskFailure(
                "ChildProcessDied",
                f"the child process exited with code {code} before reporting a result",
                exit_code=code,
            )
        report = orjson.loads(raw)
        if report.get("ok"):
            return report.get("result")
        error = report["error"]
        failure = TaskFailure(error["type"], error["message"])
        failure.__dict__["remote_traceback"] = error.get("traceback")
        raise failure
