"""Running jobs by hand: ``tss job run`` (through the workers) and ``tss execute-job`` (here,
or with ``--url`` on the server's workers)."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from tss.cli.context import run_async
from tss.cli.json_out import run_data
from tss.cli.output import (
    FAILURE,
    console,
    duration,
    fmt_seconds,
    print_error,
    print_json,
    runs_table,
    state_text,
    status_console,
)
from tss.core.models import Run
from tss.core.states import RunState
from tss.core.waiting import why_waiting
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

PARAM = typer.Option(
    [],
    "--param",
    "-p",
    metavar="KEY=VALUE",
    help="Override a param; VALUE is JSON if it parses, else text; dots nest (kwargs.day=today).",
)
Assignment = tuple[list[str], Any]


def parse_params(items: list[str]) -> list[Assignment]:
    """``["kwargs.day=today", "args=[1,2]"]`` -> ``[(["kwargs", "day"], "today"), ...]``.

    :raises ValidationError: an item is not ``key=value``.
    """
    out: list[Assignment] = []
    for item in items:
        key, sep, raw = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise ValidationError(
                f"--param {item!r}: expected KEY=VALUE, e.g. kwargs.day=today", field="params"
            )
        try:
            value: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = raw
        out.append((path, value))
    return out


def with_params(base: dict[str, Any], assignments: list[Assignment]) -> dict[str, Any]:
    """``base`` with each assignment applied; a dotted key changes only the nested value."""
    out = copy.deepcopy(base)
    for path, value in assignments:
        node = out
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
    return out


def _params_for(items: list[str]) -> dict[str, Any] | None:
    """The run's params over the job's (Runs.trigger merges them key by key)."""
    assignments = parse_params(items)
    return with_params({}, assignments) if assignments else None


async def _wait(tss: Backend, ids: list[str], limit: float | None) -> tuple[list[Run], bool]:
    """Poll the runs until all have ended or ``limit`` seconds pass; a progress bar on
    stderr. Returns the runs and whether they all ended."""
    loop = asyncio.get_running_loop()
    deadline = None if limit is None else loop.time() + limit
    runs = {i: await tss.get_run(i) for i in ids}
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=status_console, transient=True) as progress:
        bar = progress.add_task("waiting", total=len(ids))
        while True:
            for run_id, run in runs.items():
                if not run.state.terminal:
                    runs[run_id] = await tss.get_run(run_id)
            counts = Counter(r.state.value for r in runs.values())
            done = sum(1 for r in runs.values() if r.state.terminal)
            summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
            progress.update(bar, completed=done, description=summary)
            if done == len(runs):
                return list(runs.values()), True
            if deadline is not None and loop.time() >= deadline:
                return list(runs.values()), False
            await asyncio.sleep(0.2)


def trigger_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    param: list[str] = PARAM,
    count: int = typer.Option(1, "--count", "-n", min=1, max=10000, help="How many runs."),
    wait: bool = typer.Option(False, "--wait", help="Wait until the runs end; fail if any fails."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0, help="With --wait: give up after this many seconds."
    ),
) -> None:
    """Run a job now, through the workers of a running server; print the run ids."""

    async def body(tss: Backend) -> tuple[list[Run], bool]:
        params = _params_for(param)
        created = await tss.trigger(name, params=params, count=count)
        ids = [run.id for run in created]
        for run_id in ids:
            console.print(run_id, markup=False)
        # Runs of one trigger share their pool, type and needs: one says for all.
        waiting = why_waiting(created[0], await tss.list_workers()) if created else None
        if waiting is not None and not waiting.final:
            status_console.print(
                "[yellow]no worker is up[/]: the runs wait until 'tss server' or 'tss worker' "
                "starts (or run the job here with 'tss execute-job')"
            )
        elif waiting is not None:
            status_console.print(f"[yellow]the runs wait[/]: {escape(waiting.reason)}")
        if not wait:
            return created, True
        return await _wait(tss, ids, timeout)

    runs, finished = run_async(ctx, body)
    if not wait:
        return
    console.print(runs_table(runs))
    if not finished:
        active = sum(1 for r in runs if not r.state.terminal)
        print_error(f"gave up waiting after {timeout:g}s: {active} of {len(runs)} runs not ended")
        raise typer.Exit(FAILURE)
    if any(r.state is not RunState.SUCCEEDED for r in runs):
        raise typer.Exit(FAILURE)


def execute_job(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    param: list[str] = PARAM,
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Run a job now and wait for it (retries included); exit 1 if it fails.

    Without --url the task runs here, in this process, without a server; with --url the
    server's workers run it and this waits for the run to end."""

    async def body(tss: Backend) -> Run:
        params = _params_for(param)
        with status_console.status(f"running {name}..."):
            return await tss.execute(name, params=params)

    run = run_async(ctx, body)
    if as_json:
        print_json(run_data(run))
    else:
        took = fmt_seconds(duration(run.started_at, run.finished_at))
        attempts = f"after {run.attempt} attempts" if run.attempt > 1 else "in 1 attempt"
        console.print(f"run {run.id}: {state_text(run.state)} {attempts}, took {took}")
        if run.error is not None:
            console.print(f"[red]{escape(run.error.type)}[/]: {escape(run.error.message)}")
        elif run.result is not None:
            result = orjson.dumps(run.result, default=str).decode()
            console.print(f"result: {result}", markup=False)
    if run.state is not RunState.SUCCEEDED:
        raise typer.Exit(FAILURE)
