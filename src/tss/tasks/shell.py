"""The ``shell`` task type: an argv list, run without a shell, in its own process group."""

from __future__ import annotations

import os
from typing import Any

from tss.errors import ValidationError
from tss.tasks._process import run_process
from tss.tasks.base import ExecutionContext, TaskFailure, TaskType

_KEYS = {"argv", "env", "cwd", "inherit_env"}
_STDERR_TAIL = 2000


class ShellTask(TaskType):
    """Runs ``params.argv``. A non-zero exit fails the attempt, carrying the exit code and the
    tail of stderr; ``retry_on`` may list exit codes."""

    name = "shell"
    executes = frozenset({"argv", "env", "cwd", "inherit_env"})

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        unknown = set(params) - _KEYS
        if unknown:
            first = sorted(unknown)[0]
            raise ValidationError(
                f"shell takes {sorted(_KEYS)}, not {first!r}"
                + (
                    " (a shell command line is not accepted: give argv as a list)"
                    if first in {"command", "cmd"}
                    else ""
                ),
                field=f"params.{first}",
            )
        argv = params.get("argv")
        if (
            not isinstance(argv, list)
            or not argv
            or not all(isinstance(a, str | int | float) and not isinstance(a, bool) for a in argv)
        ):
            raise ValidationError(
                "argv must be a non-empty list of strings, e.g. [ls, -l, /tmp]",
                field="params.argv",
            )
        env = params.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) for k in env):
            raise ValidationError("env must be a mapping of names to values", field="params.env")
        if "cwd" in params and not isinstance(params["cwd"], str):
            raise ValidationError("cwd must be a path", field="params.cwd")
        return {**params, "argv": [str(a) for a in argv]}

    async def execute(self, ctx: ExecutionContext) -> Any:
        params = ctx.params
        env = dict(os.environ) if params.get("inherit_env", True) else {}
        env.update({k: str(v) for k, v in (params.get("env") or {}).items()})
        env["TSS_RUN_ID"] = ctx.task.run_id
        env["TSS_ATTEMPT"] = str(ctx.task.attempt)
        env["TSS_JOB"] = ctx.task.job
        try:
            code = await run_process(
                [str(a) for a in params["argv"]],
                stdout=ctx.stdout,
                stderr=ctx.stderr,
                timeout=ctx.timeout,
                env=env,
                cwd=params.get("cwd"),
            )
        except FileNotFoundError as exc:
            raise TaskFailure(
                "FileNotFoundError", f"command not found: {params['argv'][0]}"
            ) from exc
        if code != 0:
            tail = ctx.stderr.tail(_STDERR_TAIL).strip()
            message = f"exited with code {code}" if code > 0 else f"killed by signal {-code}"
            if tail:
                message += f": {tail}"
            raise TaskFailure("ShellCommandFailed", message, exit_code=code)
        return {"exit_code": 0}
