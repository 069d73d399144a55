"""A run's captured output: a capped buffer per stream, and the buffers of the task running
in this context (the worker routes ``print`` to them, see :mod:`tss.worker.capture`)."""

from __future__ import annotations

import contextvars
import threading

#: the buffer output of the current task goes to (per task and per thread, via contextvars)
current_stdout: contextvars.ContextVar[LogBuffer | None] = contextvars.ContextVar(
    "tss_stdout", default=None
)
current_stderr: contextvars.ContextVar[LogBuffer | None] = contextvars.ContextVar(
    "tss_stderr", default=None
)


class LogBuffer:
    """Keeps the head and the tail of a stream within ``limit`` bytes, marking what it cut.

    The head shows how a run started; the tail holds the error that ended it.
    """

    def __init__(self, limit: int = 1 << 20) -> None:
        self.limit = max(limit, 64)
        self._head = bytearray()
        self._tail = bytearray()
        self._dropped = 0
        self._lock = threading.Lock()
        #: goes up with every write: tells a reader whether there is anything new
        self.version = 0

    def write_bytes(self, data: bytes) -> None:
        with self._lock:
            self.version += 1
            half = self.limit // 2
            room = half - len(self._head)
            if room > 0:
                self._head += data[:room]
                data = data[room:]
            if not data:
                return
            self._tail += data
            excess = len(self._tail) - (self.limit - half)
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def write(self, text: str) -> int:
        self.write_bytes(text.encode("utf-8", "replace"))
        return len(text)

    @property
    def truncated(self) -> bool:
        return self._dropped > 0

    def tail(self, n: int) -> str:
        """The last ``n`` characters captured (approximately: bytes, decoded)."""
        with self._lock:
            data = bytes(self._head + self._tail) if not self._dropped else bytes(self._tail)
        return data[-n:].decode("utf-8", "replace")

    def getvalue(self) -> str:
        with self._lock:
            head = self._head.decode("utf-8", "replace")
            if not self._dropped:
                return head + self._tail.decode("utf-8", "replace")
            tail = self._tail.decode("utf-8", "replace")
            return f"{head}\n[... {self._dropped} bytes truncated by TSS ...]\n{tail}"


def keep_ends(text: str, limit: int) -> str:
    """``text`` as a :class:`LogBuffer` of ``limit`` bytes keeps it: whole when it fits,
    else its head and tail with the cut marked."""
    buffer = LogBuffer(limit)
    buffer.write(text)
    return buffer.getvalue()
