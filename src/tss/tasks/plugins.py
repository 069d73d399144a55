"""Loading task type plugins: those the config names (``task_plugins``) and those installed
(the ``tss.task_types`` entry-point group).

The two are treated differently on purpose. A plugin the config names is something the
operator asked for: if it cannot be loaded, the node refuses to start with a
:class:`~tss.errors.ConfigError` naming ``task_plugins[i]``, because jobs of that type
would otherwise wait for a worker that never comes. An installed entry point is merely
present in the environment (perhaps for another program): a broken one is logged and the
others go on, as before.

A plugin class is constructed with no arguments, or with ``config=`` (a dict) when its
``task_plugins`` item gives one.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import re
import sys
from collections.abc import Collection
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

from tss.errors import ConfigError, TSSError
from tss.tasks.base import TaskType
from tss.tasks.registry import GROUP, TaskRegistry

if TYPE_CHECKING:
    from tss.config import Settings, TaskPluginConfig

__all__ = ["add_installed", "add_python_path", "load_task_types", "task_type_class"]

log = logging.getLogger(__name__)
#: what a task type's ``name`` may be: what users write as a job's ``type``
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class PluginError(Exception):
    """Why one plugin cannot be used, in words (the caller says which plugin)."""


def load_task_types(settings: Settings) -> TaskRegistry:
    """The task types of a node: the built-ins, the config's ``task_plugins``, then the
    installed entry points (a name already taken keeps its first owner).

    Puts the working directory and ``python_path`` on ``sys.path`` first (as ``python``
    jobs have them), so a plugin in a local folder needs no install.

    :raises ConfigError: a ``task_plugins`` item cannot be imported, is not a task type,
        its constructor raises, or its name is taken; the message names ``task_plugins[i]``.
    """
    registry = TaskRegistry.default(installed=False, http=settings.http)
    builtin = set(registry.names())
    if settings.task_plugins:
        add_python_path(settings)
    where = f"{settings.source}: " if settings.source else ""
    owners: dict[str, int] = {}
    for index, spec in enumerate(settings.task_plugins):
        key = f"task_plugins[{index}]"
        try:
            task_type = _load(spec)
        except PluginError as exc:
            raise ConfigError(f"{where}{key} ({spec.label}): {exc}", field=key) from exc
        except TSSError as exc:  # the constructor refused its config, naming the field
            field = f"{key}.config" + (f".{exc.field}" if exc.field else "")
            raise ConfigError(f"{where}{field} ({spec.label}): {exc.message}", field=field) from exc
        name = task_type.name
        if name in builtin:
            raise ConfigError(
                f"{where}{key} ({spec.label}): its task type name {name!r} is a built-in "
                "type: give the plugin another name",
                field=key,
            )
        if name in owners:
            raise ConfigError(
                f"{where}{key} ({spec.label}): its task type name {name!r} is already given "
                f"by task_plugins[{owners[name]}]: list each task type once",
                field=key,
            )
        owners[name] = index
        registry.add(task_type)
    named = {s.entry_point for s in settings.task_plugins if s.entry_point is not None}
    add_installed(registry, skip=named)
    return registry


def add_python_path(settings: Settings) -> None:
    """Put the working directory and ``python_path`` (relative to the config file) at the
    front of ``sys.path``. Idempotent."""
    for entry in [os.getcwd(), *settings.python_path]:
        path = str((settings.base_dir() / entry).resolve())
        if path not in sys.path:
            sys.path.insert(0, path)


def add_installed(registry: TaskRegistry, *, skip: Collection[str] = ()) -> None:
    """Add every task type installed in the ``tss.task_types`` group, but those whose entry
    point is named in ``skip`` and those whose name ``registry`` already has. A plugin that
    cannot be loaded is logged, and the others go on."""
    for ep in entry_points(group=GROUP):
        if ep.name in skip or ep.name in registry.names():
            continue  # TSS's own built-ins are entry points too: not loaded twice
        try:
            task_type = _construct(task_type_class(ep.load(), f"entry point {ep.name!r}"), None)
        except Exception as exc:  # a broken plugin must not stop the others
            log.error("could not load task type plugin %r (%s): %s", ep.name, ep.value, exc)
            continue
        if task_type.name in registry.names():
            log.warning(
                "task type plugin %r (%s) is not used: the task type %r is already built in "
                "or given by task_plugins",
                ep.name,
                ep.value,
                task_type.name,
            )
            continue
        registry.add(task_type)


def task_type_class(found: Any, what: str) -> type[TaskType]:
    """``found`` if it is a concrete :class:`TaskType` subclass with a usable ``name``.

    :raises PluginError: saying what it is instead.
    """
    if not (isinstance(found, type) and issubclass(found, TaskType)):
        kind = "another class" if isinstance(found, type) else f"a {type(found).__name__}"
        raise PluginError(
            f"{what} is not a subclass of tss.tasks.TaskType but {kind} (docs/plugins.md "
            "says what a task type is)"
        )
    if inspect.isabstract(found):
        missing = ", ".join(sorted(getattr(found, "__abstractmethods__", ())))
        raise PluginError(f"{what} does not implement {missing}")
    name = getattr(found, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise PluginError(
            f"{what} has no usable task type name ({name!r}): set the class attribute "
            "name to what jobs write as their type, e.g. name = 'email' (letters, digits, "
            "'.', '_', '-')"
        )
    return found


def _load(spec: TaskPluginConfig) -> TaskType:
    if spec.class_ is not None:
        found = _import(spec.class_)
        what = "it"
    else:
        assert spec.entry_point is not None  # the config model insists on one of them
        ep = _entry_point(spec.entry_point)
        try:
            found = ep.load()
        except Exception as exc:
            raise PluginError(f"its target {ep.value} cannot be loaded: {_reason(exc)}") from exc
        what = f"its target {ep.value}"
    return _construct(task_type_class(found, what), spec.config)


def _import(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):
            raise PluginError(
                f"no module named {exc.name!r} (looked in python_path, the working "
                "directory and the installed packages)"
            ) from exc
        raise PluginError(f"importing {module_name} failed: {_reason(exc)}") from exc
    except Exception as exc:
        raise PluginError(f"importing {module_name} failed: {_reason(exc)}") from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise PluginError(f"{module_name} has no attribute {attribute!r}") from None
    return found


def _entry_point(name: str) -> EntryPoint:
    found = entry_points(group=GROUP, name=name)
    if not found:
        installed = sorted({ep.name for ep in entry_points(group=GROUP)})
        raise PluginError(
            f"no installed package declares an entry point {name!r} in the group {GROUP} "
            f"(installed: {', '.join(installed) or 'none'})"
        )
    values = sorted({ep.value for ep in found})
    if len(values) > 1:
        raise PluginError(
            f"several installed packages declare it ({', '.join(values)}): uninstall "
            "one, or name the class with class: instead"
        )
    return next(iter(found))


def _construct(cls: type[TaskType], config: dict[str, Any] | None) -> TaskType:
    if config is not None and not _takes_config(cls):
        raise PluginError(
            f"config is given but {cls.__name__}'s constructor does not take it: define "
            "__init__(self, config=None) in the plugin, or remove config"
        )
    try:
        return cls() if config is None else cls(config=dict(config))  # type: ignore[call-arg]
    except TSSError as exc:
        if config is None:  # no config to blame: it is the constructor's own failure
            raise PluginError(f"constructing {cls.__name__} failed: {exc.message}") from exc
        raise
    except Exception as exc:
        raise PluginError(f"constructing {cls.__name__} failed: {_reason(exc)}") from exc


def _takes_config(cls: type[TaskType]) -> bool:
    try:
        parameters = inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return True
    return any(
        (p.name == "config" and p.kind is not p.POSITIONAL_ONLY) or p.kind is p.VAR_KEYWORD
        for p in parameters
    )


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
