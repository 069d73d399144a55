"""Running one attempt of a run and turning what happened into an `Outcome`."""

from __future__ import annotations

import asyncio
import logging
import random
import time
import traceback
from typing import Any

import orjson

from tss.core.models import ErrorInfo, Outcome, Run
from tss.core.retry import TIMEOUT_ERROR, failure_outcome
from tss.core.states import RunState
from tss.errors import TaskFailure
from tss.tasks.base import ExecutionContext, TaskContext, TaskType
from tss.tasks.output import LogBuffer

_TRACEBACK_LIMIT = 64 * 1024
#: the error type of an attempt failed because its run's stored record was unreadable
MALFORMED_ERROR = "MalformedRecord"


class _BufferHandler(logging.Handler):
    def __init__(self, buffer: LogBuffer) -> None:
        super().__init__()
        self.buffer = buffer
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.buffer.write(self.format(record) + "\n")


def run_logger(job: str, buffer: LogBuffer) -> logging.Logger:
    """A logger whose records go to the run's captured stderr (and nowhere else)."""
    logger = logging.Logger(f"tss.run.{job}", logging.INFO)
    logger.addHandler(_BufferHandler(buffer))
    return logger


def error_type_name(exc: BaseException) -> str:
    """``ValueError`` for built-ins, ``package.module.Class`` for the rest."""
    if isinstance(exc, TaskFailure):
        return exc.error_type
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def encode_result(result: Any, limit: int) -> Any:
    """The result if its JSON fits in ``limit`` bytes; otherwise a marked preview."""
    if result is None:
        return None
    data = orjson.dumps(result, default=repr)
    if len(data) <= limit:
        return orjson.loads(data) if not isinstance(result, str | int | float | bool) else result
    return {
        "truncated": True,
        "size": len(data),
        "preview": data[: min(limit, 4096)].decode("utf-8", "replace"),
    }


async def run_attempt(
    run: Run,
    task_type: TaskType,
    *,
    worker_id: str,
    log_limit: int,
    result_limit: int,
    rng: random.Random,
    output: tuple[LogBuffer, LogBuffer] | None = None,
    default_timeout: float | None = None,
) -> Outcome:
    """Execute ``run``'s current attempt and decide its outcome with the run's policy.
    ``output`` is where stdout and stderr go (the caller may read them while it runs);
    ``default_timeout`` bounds a run whose job sets no timeout (``worker.default_timeout``).

    Cancellation (the run was cancelled or reaped) propagates: no outcome is reported.
    """
    stdout, stderr = output or (LogBuffer(log_limit), LogBuffer(log_limit))
    policy = run.policy
    timeout = policy.timeout if policy.timeout is not None else default_timeout
    ctx = ExecutionContext(
        task=TaskContext(
            run_id=run.id,
            attempt=run.attempt,
            job=run.job,
            scheduled_for=run.scheduled_for,
            params=run.params,
            worker_id=worker_id,
            logger_factory=lambda: run_logger(run.job, stderr),
        ),
        params=run.params,
        timeout=timeout,
        isolation=policy.isolation,
        stdout=stdout,
        stderr=stderr,
    )
    started = time.monotonic()
    error: ErrorInfo
    timed_out = False
    hints: dict[str, Any] = {}
    try:
        if policy.malformed is not None:  # quarantined by the store: never executed
            raise TaskFailure(MALFORMED_ERROR, policy.malformed)
        result = await task_type.execute(ctx)
    except asyncio.CancelledError:
        raise
    except TimeoutError as exc:
        elapsed = time.monotonic() - started
        if timeout is not None and elapsed >= timeout * 0.99:
            timed_out = True
            error = ErrorInfo(TIMEOUT_ERROR, f"exceeded its timeout of {timeout:g}s")
        else:
            error = _error_info(exc)
    except BaseException as exc:  # the task's own failure, whatever it is
        error = _error_info(exc)
        if isinstance(exc, TaskFailure):
            hints = {"final": exc.final, "retry_after": exc.retry_after}
    else:
        try:
            encoded = encode_result(result, result_limit)
        except (TypeError, orjson.JSONEncodeError) as exc:
            error = ErrorInfo("ResultNotSerializable", f"the result is not JSON: {exc}")
        else:
            return Outcome(
                run.id,
                run.attempt,
                RunState.SUCCEEDED,
                reason="succeeded",
                result=encoded,
                stdout=stdout.getvalue(),
                stderr=stderr.getvalue(),
            )
    return failure_outcome(
        run,
        error,
        timed_out=timed_out,
        rng=rng,
        stdout=stdout.getvalue(),
        stderr=stderr.getvalue(),
        **hints,
    )


def _error_info(exc: BaseException) -> ErrorInfo:
    remote = getattr(exc, "remote_traceback", None)
    if isinstance(exc, TaskFailure) and remote is None:
        # An exit code or a dead child: the message says it all; our own stack is noise.
        return ErrorInfo(exc.error_type, str(exc), None, exc.exit_code)
    text = remote or "".join(traceback.format_exception(exc))
    if len(text) > _TRACEBACK_LIMIT:
        text = "[... traceback truncated ...]\n" + text[-_TRACEBACK_LIMIT:]
    exit_code = exc.exit_code if isinstance(exc, TaskFailure) else None
    return ErrorInfo(error_type_name(exc), str(exc) or type(exc).__name__, text, exit_code)
