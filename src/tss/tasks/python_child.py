"""Entry point of a child process running one ``python`` attempt (``isolation: process``).

Reads a JSON payload on stdin, calls the function, writes ``{"ok": ..., ...}`` as JSON to
the payload's ``result_path``. stdout and stderr are the child's own, captured by the worker.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import traceback
from datetime import datetime
from typing import Any

import orjson


def main() -> int:
    payload = orjson.loads(sys.stdin.buffer.read())
    for path in reversed(payload.get("sys_path", [])):
        if path not in sys.path:
            sys.path.insert(0, path)
    from tss.tasks.base import TaskContext
    from tss.tasks.python import context_parameter, resolve

    raw_ctx = payload["context"]
    scheduled = raw_ctx.get("scheduled_for")
    ctx = TaskContext(
        run_id=raw_ctx["run_id"],
        attempt=raw_ctx["attempt"],
        job=raw_ctx["job"],
        scheduled_for=datetime.fromisoformat(scheduled) if scheduled else None,
        params=raw_ctx["params"],
        worker_id=raw_ctx.get("worker_id", ""),
        logger_factory=lambda: _logger(raw_ctx["job"]),
    )
    report: dict[str, Any]
    try:
        func = resolve(payload["function"])
        kwargs = dict(payload.get("kwargs") or {})
        if (name := context_parameter(func)) is not None:
            kwargs[name] = ctx
        result = func(*payload.get("args", []), **kwargs)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        report = {"ok": True, "result": result}
    except BaseException as exc:
        report = {
            "ok": False,
            "error": {
                "type": _type_name(exc),
                "message": str(exc),
                "traceback": traceback.format_exc(),
            },
        }
    sys.stdout.flush()
    sys.stderr.flush()
    with open(payload["result_path"], "wb") as fh:
        fh.write(orjson.dumps(report, default=repr))
    return 0 if report["ok"] else 1


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


def _logger(job: str) -> logging.Logger:
    logger = logging.getLogger(f"tss.task.{job}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


if __name__ == "__main__":
    sys.exit(main())
