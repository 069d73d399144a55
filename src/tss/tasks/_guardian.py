"""The guardian: a tiny process that kills a worker's task process groups when it dies.

``PR_SET_PDEATHSIG`` reaches only a task's first process; what that process starts (a
shell's children) would be orphaned and live on. The worker tells the guardian, through a
pipe, each process group it starts (``+ PGID``) and ends (``- PGID``); when the pipe
closes (the worker exited, however: SIGKILL, crash, or a normal exit), the guardian sends
SIGKILL to every group still registered, then exits. It ignores SIGINT, SIGTERM and SIGHUP,
so a Ctrl+C to the terminal's process group does not take it away before the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import subprocess
import sys
import threading

log = logging.getLogger(__name__)

#: the guardian's program: no imports beyond the standard library, started with ``-I -S``
_SOURCE = """
import os, signal, sys
for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
groups = set()
for line in sys.stdin:
    op, _, pgid = line.partition(" ")
    if op == "+":
        groups.add(int(pgid))
    elif op == "-":
        groups.discard(int(pgid))
for pgid in groups:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass
"""


class Guardian:
    """The worker's side of the guardian: register groups, restart it if it went away."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._groups: set[int] = set()
        self._lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the guardian unless it runs (called before a task process is started)."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._start()

    def fileno(self) -> int | None:
        """The pipe to the guardian, for a child to register its own group before exec."""
        with self._lock:
            proc = self._proc
            return None if proc is None or proc.stdin is None else proc.stdin.fileno()

    def add(self, pgid: int) -> None:
        """Kill group ``pgid`` if this process dies before :meth:`discard`."""
        with self._lock:
            self._groups.add(pgid)
            self._send(f"+ {pgid}\n")

    def discard(self, pgid: int) -> None:
        """Group ``pgid`` is over (or stopped): forget it."""
        with self._lock:
            self._groups.discard(pgid)
            self._send(f"- {pgid}\n")

    def close(self) -> None:
        """Close the pipe (the guardian kills what is still registered) and reap it."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                assert proc.stdin is not None
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={},
            start_new_session=True,  # not in the terminal's group: Ctrl+C leaves it be
        )
        for pgid in self._groups:
            self._send(f"+ {pgid}\n")

    def _send(self, line: str) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            return
        try:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
        except OSError:  # it died (killed by hand): the next task process restarts it
            log.warning("the task guardian process exited; it restarts with the next task")


_guardian: Guardian | None = None
_guardian_lock = threading.Lock()


def guardian() -> Guardian:
    """This process's guardian (one per process: it watches the process's own death)."""
    global _guardian
    with _guardian_lock:
        if _guardian is None:
            _guardian = Guardian()
            atexit.register(_guardian.close)
        return _guardian
