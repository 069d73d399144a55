"""The ``shell`` task type: an argv list, run without a shell, in its own process group,
with a clean environment (see :mod:`tss.tasks._env`)."""

from __future__ import annotations

from typing import Any

from tss.errors import TaskFailure, ValidationError
from tss.tasks._env import base_environ, check_env, check_inherit_env, resolve_env
from tss.tasks._process import run_process
from tss.tasks.base import ExecutionContext, TaskType

_KEYS = {"argv", "env", "cwd", "inherit_env"}
_STDERR_TAIL = 2000


class ShellTask(TaskType):
    """Runs ``params.argv``. A non-zero exit fails the attempt, carrying the exit code and the
    tail of stderr; ``retry_on`` may list exit codes.

    ``inherit_env``: ``true`` (default) passes the worker's :data:`~tss.tasks._env.BASE_NAMES`
    and ``LC_*``; a list of names passes those too; ``false`` passes nothing. Then ``env``
    (literals, ``{from_env: NAME}``, ``{from_file: /path}``) and ``TSS_RUN_ID``,
    ``TSS_ATTEMPT``, ``TSS_JOB``."""

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
        if "env" in params:
            check_env(params["env"])
        if "inherit_env" in params:
            check_inherit_env(params["inherit_env"])
        if "cwd" in params and not isinstance(params["cwd"], str):
            raise ValidationError("cwd must be a path", field="params.cwd")
        return {**params, "argv": [str(a) for a in argv]}

    async def execute(self, ctx: ExecutionContext) -> Any:
        params = ctx.params
        inherit = params.get("inherit_env", True)
        env = {} if inherit is False else base_environ(inherit if isinstance(inherit, list) else ())
        env.update(resolve_env(params.get("env") or {}))
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
