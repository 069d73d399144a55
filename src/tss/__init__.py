"""TSS: a job scheduler and task execution platform.

The public names are re-exported here and load on first use, so ``import tss`` stays cheap
(a child process running one task imports it too). The library (:mod:`tss.library`)::

    from tss import TaskScheduler, Task

    with TaskScheduler() as scheduler:
        scheduler.add_task(Task("hello", lambda: print("hi"), every="10s"))
        ...

A node, as the CLI and the API use it::

    from tss import TSSApp, load_config

    async with TSSApp(load_config("config.yaml")) as app:
        hello = {"name": "hello", "type": "shell", "params": {"argv": ["echo", "hi"]}}
        await app.jobs.apply([hello])
        run = await app.runs.execute_now("hello")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tss._version import __version__

_EXPORTS = {
    "TaskScheduler": "tss.library",
    "AsyncTaskScheduler": "tss.library",
    "Task": "tss.library",
    "Config": "tss.library",
    "RunHandle": "tss.library",
    "AsyncRunHandle": "tss.library",
    "TSSApp": "tss.service",
    "Client": "tss.client",
    "AsyncClient": "tss.client",
    "Settings": "tss.config",
    "load_config": "tss.config",
    "JobSpec": "tss.core.models",
    "Run": "tss.core.models",
    "Attempt": "tss.core.models",
    "RunState": "tss.core.states",
    "ScheduleSpec": "tss.core.schedules",
    "TaskContext": "tss.tasks.base",
    "TaskType": "tss.tasks.base",
    "TSSError": "tss.errors",
    "ConfigError": "tss.errors",
    "ValidationError": "tss.errors",
    "NotFound": "tss.errors",
    "Conflict": "tss.errors",
    "StoreError": "tss.errors",
    "BrokerError": "tss.errors",
    "TaskError": "tss.errors",
    "BadRequest": "tss.errors",
    "PayloadTooLarge": "tss.errors",
    "Unauthorized": "tss.errors",
    "Forbidden": "tss.errors",
    "Unavailable": "tss.errors",
}

__all__ = [
    "AsyncClient",
    "AsyncRunHandle",
    "AsyncTaskScheduler",
    "Attempt",
    "BadRequest",
    "BrokerError",
    "Client",
    "Config",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "JobSpec",
    "NotFound",
    "PayloadTooLarge",
    "Run",
    "RunHandle",
    "RunState",
    "ScheduleSpec",
    "Settings",
    "StoreError",
    "TSSApp",
    "TSSError",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskScheduler",
    "TaskType",
    "Unauthorized",
    "Unavailable",
    "ValidationError",
    "__version__",
    "load_config",
]

if TYPE_CHECKING:
    from tss.client import AsyncClient, Client
    from tss.config import Settings, load_config
    from tss.core.models import Attempt, JobSpec, Run
    from tss.core.schedules import ScheduleSpec
    from tss.core.states import RunState
    from tss.errors import (
        BadRequest,
        BrokerError,
        ConfigError,
        Conflict,
        Forbidden,
        NotFound,
        PayloadTooLarge,
        StoreError,
        TaskError,
        TSSError,
        Unauthorized,
        Unavailable,
        ValidationError,
    )
    from tss.library import (
        AsyncRunHandle,
        AsyncTaskScheduler,
        Config,
        RunHandle,
        Task,
        TaskScheduler,
    )
    from tss.service import TSSApp
    from tss.tasks.base import TaskContext, TaskType


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tss' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
