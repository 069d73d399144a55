"""What a task type is, what it is given to run one attempt, and what it raises when the
attempt ends badly (:class:`~tss.errors.TaskFailure`, re-exported here for task types)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from tss.errors import TaskFailure

__all__ = ["ExecutionContext", "TaskContext", "TaskFailure", "TaskType"]

if TYPE_CHECKING:
    from tss.tasks.output import LogBuffer


@dataclass(slots=True)
class TaskContext:
    """What a running task may know about itself. ``run_id`` with ``attempt`` is an
    idempotency key: a run may execute more than once (at-least-once), never with the
    same pair twice."""

    run_id: str
    attempt: int
    job: str
    scheduled_for: datetime | None
    params: dict[str, Any]
    worker_id: str = ""
    #: makes the logger on first use (most runs never log, and a logger is not free)
    logger_factory: Callable[[], logging.Logger] | None = None
    _logger: logging.Logger | None = None

    @property
    def logger(self) -> logging.Logger:
        """A logger whose records land in this run's captured stderr."""
        if self._logger is None:
            factory = self.logger_factory
            self._logger = factory() if factory else logging.getLogger(f"tss.task.{self.job}")
        return self._logger


@dataclass(slots=True)
class ExecutionContext:
    """Everything a task type gets for one attempt."""

    task: TaskContext
    params: dict[str, Any]
    timeout: float | None
    isolation: str
    stdout: LogBuffer
    stderr: LogBuffer
    extra: dict[str, Any] = field(default_factory=dict)


class TaskType(ABC):
    """A kind of job. Register more through the ``tss.task_types`` entry-point group."""

    #: the ``type`` users write in a job definition
    name: ClassVar[str]
    #: the params that decide what executes (a command, a function, its environment):
    #: a job may never list them in ``overridable``, so no run can change them
    executes: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Check a job's params at the door; return them (normalised).

        :raises tss.errors.ValidationError: naming the field, e.g. ``params.function``.
        """

    @abstractmethod
    async def execute(self, ctx: ExecutionContext) -> Any:
        """Run one attempt and return its (JSON-able) result.

        Raises on failure; honours ``ctx.timeout`` by raising :class:`TimeoutError`; stops
        what it started (child processes) when cancelled.
        """

    async def aclose(self) -> None:  # noqa: B027 - a hook most types do not need
        """Release what this type keeps on the running event loop (open connections);
        called when the node or worker that used it stops. It may be used again after."""
