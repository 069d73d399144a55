"""Finding task types: the built-ins and those installed through entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from tss.errors import ValidationError
from tss.tasks.base import TaskType

log = logging.getLogger(__name__)
GROUP = "tss.task_types"


class TaskRegistry:
    """Task types by name."""

    def __init__(self, types: list[TaskType] | None = None) -> None:
        self._types: dict[str, TaskType] = {}
        for task_type in types or []:
            self.add(task_type)

    @classmethod
    def default(cls) -> TaskRegistry:
        """The built-in types plus every plugin in the ``tss.task_types`` entry-point group."""
        from tss.tasks.noop import NoopTask
        from tss.tasks.python import PythonTask
        from tss.tasks.shell import ShellTask

        registry = cls([PythonTask(), ShellTask(), NoopTask()])
        for ep in entry_points(group=GROUP):
            if ep.name in registry._types:
                continue
            try:
                registry.add(ep.load()())
            except Exception:  # a broken plugin must not stop the others
                log.exception("could not load task type plugin %r", ep.name)
        return registry

    def add(self, task_type: TaskType) -> None:
        self._types[task_type.name] = task_type

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> TaskType:
        """:raises ValidationError: no such task type (field ``type``)."""
        try:
            return self._types[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ValidationError(
                f"unknown task type {name!r} (known: {known})", field="type"
            ) from None
