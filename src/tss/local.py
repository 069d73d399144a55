"""Functions that only the process that registered them can run.

A task added through the library (:mod:`tss.library`) with a lambda, a function defined
inside another, or a function of the ``__main__`` script cannot be imported by a worker in
another process. The library registers it here under a key and gives its job the function
``tss.local:<key>``: the ``python`` task type of this process resolves that name like any
other ``module:function`` (this module's attribute), and a process where nothing was
registered under the key fails the run with a sentence that says why. The library also
keeps such jobs in a pool of their own that only its in-process worker serves.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
import threading
from collections.abc import Callable
from typing import Any

#: the module part of a registered function's name (``tss.local:<key>``)
MODULE = __name__

_lock = threading.Lock()
_functions: dict[str, Callable[..., Any]] = {}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def key_of(name: str) -> str:
    """The attribute name a task's local function is registered under: the task name when
    it is an identifier, else its letters and digits with a digest (so distinct names
    never share a key)."""
    if _IDENTIFIER.fullmatch(name):
        return name
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:10]
    return f"t_{safe}_{digest}"


def register(name: str, func: Callable[..., Any]) -> str:
    """Keep ``func`` for the task ``name`` in this process; its ``module:function`` name."""
    key = key_of(name)
    with _lock:
        _functions[key] = func
    return f"{MODULE}:{key}"


def unregister(name: str) -> None:
    """Forget the function of the task ``name`` (nothing happens if there is none)."""
    with _lock:
        _functions.pop(key_of(name), None)


def import_path(func: Callable[..., Any]) -> str | None:
    """``module:qualname`` when a worker in another process can import ``func`` and get
    this very function; None for a lambda, a nested function, a method of an instance, a
    function of the ``__main__`` script or anything else it could not find."""
    if not (inspect.isfunction(func) or inspect.isbuiltin(func)):
        return None
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", "")
    if not module or module == "__main__" or module == MODULE:
        return None
    if "<" in qualname:  # <lambda>, <locals>
        return None
    try:
        found: Any = importlib.import_module(module)
        for part in qualname.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        return None
    # A decorator may have put a wrapper under the name: follow it back to the function.
    while found is not func and hasattr(found, "__wrapped__"):
        found = found.__wrapped__
    return f"{module}:{qualname}" if found is func else None


def __getattr__(key: str) -> Callable[..., Any]:
    with _lock:
        func = _functions.get(key)
    if func is None:
        raise AttributeError(
            f"no function {key!r} is registered in this process: it is a lambda or a local "
            "function of the program that added the task, and only that program's own "
            "worker can run it (define the function at the top level of a module to run it "
            "on any worker)"
        )
    return func
