"""Finding task types: the built-ins and those installed through entry points."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from tss.errors import ValidationError
from tss.tasks.base import TaskType

if TYPE_CHECKING:
    from tss.config.http import HttpConfig

log = logging.getLogger(__name__)
GROUP = "tss.task_types"


class TaskRegistry:
    """Task types by name."""

    def __init__(self, types: list[TaskType] | None = None) -> None:
        self._types: dict[str, TaskType] = {}
        for task_type in types or []:
            self.add(task_type)

    @classmethod
    def default(cls, *, installed: bool = True, http: HttpConfig | None = None) -> TaskRegistry:
        """The built-in types plus (when ``installed``) every plugin in the
        ``tss.task_types`` entry-point group. A node's types, with the config's
        ``task_plugins``, come from :func:`tss.tasks.plugins.load_task_types`. ``http`` is
        the config's ``http:`` section (default: private addresses refused)."""
        from tss.tasks.http import HttpTask
        from tss.tasks.noop import NoopTask
        from tss.tasks.python import PythonTask
        from tss.tasks.shell import ShellTask

        registry = cls([PythonTask(), ShellTask(), HttpTask(http), NoopTask()])
        if installed:
            from tss.tasks.plugins import add_installed

            add_installed(registry)
        return registry

    def add(self, task_type: TaskType) -> None:
        self._types[task_type.name] = task_type

    async def aclose(self) -> None:
        """Let every type release what it keeps on this loop (:meth:`TaskType.aclose`); a
        type that fails to is logged, and the others still close."""
        for task_type in self._types.values():
            try:
                await task_type.aclose()
            except Exception:
                log.exception("task type %r did not close cleanly", task_type.name)

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
