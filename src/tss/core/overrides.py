"""Run-time params: what a run may change of its job's params, and nothing more.

A job lists the params a run may override in ``overridable`` (dotted paths such as
``kwargs.day``; a path allows everything under it). Everything else is fixed by the job's
definition, which only an admin changes; and no job may list a param that decides what
executes (``TaskType.executes``: a command, a function, an environment, a directory), so no
run ever changes what runs, whoever sends it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from tss.errors import ValidationError

__all__ = ["check_overridable", "check_overrides"]


def _parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def check_overridable(paths: Sequence[str], executes: Collection[str], *, task_type: str) -> None:
    """Refuse an ``overridable`` entry that reaches a param deciding what executes.

    :raises ValidationError: naming ``overridable``.
    """
    for path in paths:
        if _parts(path)[0] in executes:
            raise ValidationError(
                f"{path!r} decides what a {task_type} job executes"
                f" ({', '.join(sorted(executes))}): no run may override it",
                field="overridable",
            )


def check_overrides(override: Mapping[str, Any], allowed: Sequence[str], *, job: str) -> None:
    """Refuse the first key of ``override`` that ``allowed`` does not cover.

    :raises ValidationError: naming it, e.g. ``params.argv``.
    """
    rules = [_parts(path) for path in allowed]
    stack: list[tuple[tuple[str, ...], Mapping[str, Any]]] = [((), override)]
    while stack:
        prefix, mapping = stack.pop()
        for key, value in mapping.items():
            path = (*prefix, str(key))
            if any(path[: len(rule)] == rule for rule in rules):
                continue  # this key, and all under it, may change
            if isinstance(value, Mapping) and any(rule[: len(path)] == path for rule in rules):
                stack.append((path, value))  # something deeper may change: look inside
                continue
            dotted = ".".join(path)
            may = ", ".join(allowed) if allowed else "none (overridable is empty)"
            raise ValidationError(
                f"job {job!r} does not let a run change {dotted!r}; the params a run may"
                f" override are: {may}. An admin changes the job to allow more.",
                field=f"params.{dotted}",
            )
