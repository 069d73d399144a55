"""``tss run ...``: list, show, logs, cancel and retry runs."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.markup import escape

from tss.cli.context import run_async, searched
from tss.cli.json_out import attempt_data, run_data
from tss.cli.output import (
    JSON,
    console,
    duration,
    fmt_seconds,
    fmt_time,
    new_table,
    print_json,
    runs_table,
    state_text,
    status_console,
)
from tss.core.models import Attempt, Run, RunFilter, WorkerInfo
from tss.core.states import RunState
from tss.core.waiting import why_waiting
from tss.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

app = typer.Typer(no_args_is_help=True)
RUN_ID = typer.Argument(..., help="The run's id.")


def _states(values: list[str]) -> tuple[RunState, ...]:
    states: list[RunState] = []
    for value in values:
        try:
            states.append(RunState(value.strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in RunState)
            raise ValidationError(
                f"--state: unknown state {value!r} (one of {known})", field="state"
            ) from None
    return tuple(states)


@app.command("list")
def list_runs(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job", "-j", help="Only runs of this job."),
    state: list[str] = typer.Option([], "--state", "-s", help="Only runs in this state."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List runs, newest first."""
    run_filter = RunFilter(job=job, states=_states(state))

    async def body(tss: Backend) -> tuple[list[Run], dict[str, str]]:
        runs = await tss.list_runs(run_filter, limit=limit)
        return runs, await _waiting(tss, runs)

    runs, waiting = run_async(ctx, body)
    if as_json:
        print_json([run_data(r, waiting.get(r.id)) for r in runs])
        return
    console.print(runs_table(runs))
    if not runs:
        console.print(f"no runs in {searched(ctx)}", style="dim", markup=False)
    for run in runs:
        if run.id in waiting:
            console.print(f"[yellow]run {run.id} waits[/]: {escape(waiting[run.id])}")


async def _waiting(tss: Backend, runs: list[Run]) -> dict[str, str]:
    """Why each queued run no live worker can take waits, by run id (the workers are read
    only when a run is queued)."""
    if not any(run.state is RunState.QUEUED for run in runs):
        return {}
    workers: list[WorkerInfo] = await tss.list_workers()
    found = {run.id: why_waiting(run, workers) for run in runs}
    return {run_id: w.reason for run_id, w in found.items() if w is not None}


@app.command("show")
def show_run(ctx: typer.Context, run_id: str = RUN_ID, as_json: bool = JSON) -> None:
    """Show a run: every field, why it failed or why it waits, and each attempt."""

    async def body(tss: Backend) -> tuple[Run, list[Attempt], str | None]:
        run, attempts = await tss.get_run_attempts(run_id)
        return run, attempts, (await _waiting(tss, [run])).get(run.id)

    run, attempts, waiting = run_async(ctx, body)
    if as_json:
        data = run_data(run, waiting)
        print_json({**data, "attempts": [attempt_data(a) for a in attempts]})
        return
    rows: list[tuple[str, Any]] = [
        ("id", run.id),
        ("job", run.job),
        ("state", state_text(run.state)),
        ("reason", escape(run.reason or "-")),
        *([("waiting because", f"[yellow]{escape(waiting)}[/]")] if waiting else []),
        ("trigger", run.trigger),
        ("attempt", f"{run.attempt} of at most {run.max_attempts}"),
        ("worker", run.worker_id or "-"),
        ("pool / priority", f"{run.pool} / {run.priority}"),
        ("params", escape(orjson.dumps(run.params, default=str).decode())),
        ("created", fmt_time(run.created_at)),
        ("scheduled for", fmt_time(run.scheduled_for)),
        ("not before", fmt_time(run.not_before)),
        ("queued", fmt_time(run.queued_at)),
        ("started", fmt_time(run.started_at)),
        ("finished", fmt_time(run.finished_at)),
        ("duration", fmt_seconds(duration(run.started_at, run.finished_at))),
    ]
    if run.retry_of:
        rows.append(("retry of", run.retry_of))
    if run.flow_id:
        rows.append(("flow", run.flow_id))
    if run.idempotency_key:
        rows.append(("idempotency key", escape(run.idempotency_key)))
    if run.result is not None:
        rows.append(("result", escape(orjson.dumps(run.result, default=str).decode())))
    table = new_table("field", "value")
    table.show_header = False
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", str(value))
    console.print(table)
    if run.error is not None:
        code = f" (exit code {run.error.exit_code})" if run.error.exit_code is not None else ""
        console.print()
        console.print(
            f"[bold red]error[/]: {escape(run.error.type)}: {escape(run.error.message)}{code}"
        )
        if run.error.traceback:
            console.print(run.error.traceback.rstrip(), markup=False, style="dim")
    console.print()
    if not attempts:
        console.print("no attempts yet", style="dim")
        return
    table = new_table("attempt", "worker", "state", "started", "finished", "duration", "error")
    for a in attempts:
        error = f"{a.error.type}: {a.error.message}" if a.error else ""
        table.add_row(
            str(a.number),
            a.worker_id or "-",
            state_text(a.state),
            fmt_time(a.started_at),
            fmt_time(a.finished_at),
            fmt_seconds(duration(a.started_at, a.finished_at)),
            escape(error),
        )
    console.print(table)


async def _logs(tss: Backend, run_id: str, attempt: int | None, stderr: bool, follow: bool) -> None:
    """Print the logs; with ``follow``, ask again from where the last answer ended."""
    printed: dict[int, int] = {}
    first: int | None = attempt
    while True:
        run = await tss.get_run(run_id)
        if first is None:
            first = max(run.attempt, 1)
        last = attempt if attempt is not None else max(run.attempt, first)
        for number in range(first, last + 1):
            done = printed.get(number, 0)
            try:
                out, err = await tss.get_logs(
                    run_id,
                    number,
                    stdout_offset=0 if stderr else done,
                    stderr_offset=done if stderr else 0,
                )
            except NotFound:
                if not follow:
                    raise
                continue
            text = err if stderr else out
            if follow and last > first and number not in printed:
                status_console.print(f"--- attempt {number} ---", style="dim")
            if text:
                sys.stdout.write(text)
                sys.stdout.flush()
            printed[number] = done + len(text)
        if not follow or run.state.terminal:
            return
        await asyncio.sleep(0.5)


@app.command("logs")
def run_logs(
    ctx: typer.Context,
    run_id: str = RUN_ID,
    attempt: int | None = typer.Option(None, "--attempt", "-a", min=1, help="Default: the last."),
    stderr: bool = typer.Option(False, "--stderr", help="Show stderr instead of stdout."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep polling until the run ends."),
) -> None:
    """Print what a run wrote (stdout by default)."""

    async def body(tss: Backend) -> None:
        await _logs(tss, run_id, attempt, stderr, follow)

    run_async(ctx, body)


@app.command("cancel")
def cancel_run(ctx: typer.Context, run_id: str = RUN_ID) -> None:
    """Cancel a run that has not ended (a running one stops at its worker's next heartbeat)."""

    async def body(tss: Backend) -> Run:
        return await tss.cancel_run(run_id)

    run = run_async(ctx, body)
    console.print(f"run {run.id}: {state_text(run.state)}")


@app.command("retry")
def retry_run(ctx: typer.Context, run_id: str = RUN_ID) -> None:
    """Run an ended run again, as a new run; print its id."""

    async def body(tss: Backend) -> Run:
        return await tss.retry_run(run_id)

    run = run_async(ctx, body)
    console.print(run.id, markup=False)
