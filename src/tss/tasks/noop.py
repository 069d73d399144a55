"""The ``noop`` task type: does nothing, quickly. For tests, benchmarks and reminders."""

from __future__ import annotations

import asyncio
from typing import Any

from tss.errors import ValidationError
from tss.tasks.base import ExecutionContext, TaskType


class NoopTask(TaskType):
    """Succeeds at once (or after ``sleep`` seconds), returning ``params.result`` if given."""

    name = "noop"

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - {"sleep", "result"}
        if unknown:
            raise ValidationError(
                f"noop takes only 'sleep' and 'result', not {sorted(unknown)}",
                field=f"params.{sorted(unknown)[0]}",
            )
        sleep = params.get("sleep", 0)
        if not isinstance(sleep, int | float) or isinstance(sleep, bool) or sleep < 0:
            raise ValidationError("sleep must be a number of seconds >= 0", field="params.sleep")
        return params

    async def execute(self, ctx: ExecutionContext) -> Any:
        sleep = ctx.params.get("sleep", 0)
        if sleep:
            await asyncio.sleep(sleep)
        return ctx.params.get("result")
