"""Running a child process in its own process group, with capture, timeout and kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tss.worker.capture import LogBuffer

#: seconds between SIGTERM and SIGKILL when a process group is stopped
KILL_GRACE = 2.0


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
    SIGKILL after :data:`KILL_GRACE` seconds.
    """
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE if stdin_data is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
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
