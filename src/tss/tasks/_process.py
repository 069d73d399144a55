"""Running a child process in its own process group, with capture, timeout and kill.

No task process outlives its worker, even one killed with SIGKILL:

- the child asks the kernel for SIGKILL when the worker dies (``PR_SET_PDEATHSIG``, set
  between fork and exec; if the worker died before that, the child exits at once);
- what the child starts stays in its process group, and a guardian process (one per worker,
  started on first use, see :mod:`tss.tasks._guardian`) kills every group still registered
  when its pipe from the worker closes, which happens however the worker ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from tss.tasks._guardian import guardian

if TYPE_CHECKING:
    from tss.tasks.output import LogBuffer

#: seconds between SIGTERM and SIGKILL when a process group is stopped
KILL_GRACE = 2.0
_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


#: looked up once, in the parent: the child only calls it (between fork and exec)
_PRCTL = _load_prctl()


def _die_with_parent(parent: int, guardian_fd: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn``: SIGKILL this child when the thread that forked it (the event loop's)
    ends, exit now if the parent is already gone, and register the child's process group
    with the guardian itself, before it can start anything: registered by the worker only
    after the fork, a group whose worker is killed in between would outlive it."""
    prctl = _PRCTL
    if prctl is None and guardian_fd is None:
        return None

    def preexec() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the death signal was set
                os._exit(137)
        if guardian_fd is not None:
            # One short write to a pipe is atomic: it never splits the worker's own lines.
            with contextlib.suppress(OSError):
                os.write(guardian_fd, b"+ %d\n" % os.getpid())

    return preexec


async def run_process(
    argv: Sequence[str],
    *,
    stdout: LogBuffer,
    stderr: LogBuffer,
    timeout: float | None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdin_data: bytes | None = None,
) -> int:
    """Run ``argv`` (never through a shell) and return its exit code.

    The child leads a new session, so it and everything it starts form one process group;
    on timeout (:class:`TimeoutError`) or cancellation the whole group gets SIGTERM, then
    SIGKILL after :data:`KILL_GRACE` seconds. If the worker dies, the group is killed.
    """
    watch = guardian()
    watch.ensure_started()
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid(), watch.fileno()),
    )
    watch.add(proc.pid)
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        asyncio.create_task(_pump(proc.stdout, stdout)),
        asyncio.create_task(_pump(proc.stderr, stderr)),
    ]
    try:
        if stdin_data is not None:
            assert proc.stdin is not None
            proc.stdin.write(stdin_data)
            with contextlib.suppress(ConnectionError):
                await proc.stdin.drain()
            proc.stdin.close()
        async with asyncio.timeout(timeout):
            code = await proc.wait()
            await asyncio.gather(*pumps)
        return code
    except BaseException:
        await _stop_group(proc)
        raise
    finally:
        for pump in pumps:
            pump.cancel()
        watch.discard(proc.pid)


async def _pump(stream: asyncio.StreamReader, sink: LogBuffer) -> None:
    while chunk := await stream.read(65536):
        sink.write_bytes(chunk)


async def _stop_group(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        _kill_group(proc.pid, signal.SIGKILL)  # orphans of an exited leader
        return
    _kill_group(proc.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError, asyncio.CancelledError):
        await asyncio.shield(asyncio.wait_for(proc.wait(), KILL_GRACE))
    _kill_group(proc.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        await asyncio.shield(asyncio.wait_for(proc.wait(), KILL_GRACE))


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
