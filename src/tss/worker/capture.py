"""Routing of ``print`` to the run that printed: ``sys.stdout``/``sys.stderr`` write to the
buffers of the task running in the current context (:mod:`tss.tasks.output`)."""

from __future__ import annotations

import contextvars
import sys
from typing import IO, Any, TextIO

from tss.tasks.output import LogBuffer, current_stderr, current_stdout


class _Router:
    """Stands in for sys.stdout/sys.stderr: writes from inside a task go to its buffer,
    everything else to the real stream."""

    def __init__(self, real: TextIO, var: contextvars.ContextVar[LogBuffer | None]) -> None:
        self._real = real
        self._var = var

    def write(self, text: str) -> int:
        buffer = self._var.get()
        if buffer is None:
            return self._real.write(text)
        return buffer.write(text)

    def flush(self) -> None:
        if self._var.get() is None:
            self._real.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def install_routing() -> None:
    """Route ``sys.stdout``/``sys.stderr`` by task. Idempotent; safe to call at worker start
    (and again if something else replaced the streams since)."""
    if not isinstance(sys.stdout, _Router):
        sys.stdout = _Router(sys.stdout, current_stdout)
    if not isinstance(sys.stderr, _Router):
        sys.stderr = _Router(sys.stderr, current_stderr)


def real_stream(stream: IO[str]) -> IO[str]:
    """The stream under a router (for code that must write to the terminal)."""
    return getattr(stream, "_real", stream)
