"""``tss job ...``: list, show, apply, create, delete, pause, resume and next."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer
import yaml
from rich.markup import escape

from tss.cli.context import run_async, searched
from tss.cli.json_out import job_data, run_data
from tss.cli.output import (
    JSON,
    console,
    fmt_relative,
    fmt_time,
    new_table,
    print_json,
    runs_table,
    schedule_text,
)
from tss.cli.trigger import trigger_command
from tss.core.models import Job, RunFilter
from tss.definitions import load_job_file
from tss.errors import Conflict

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

app = typer.Typer(no_args_is_help=True)

FILE = typer.Option(..., "--file", "-f", help="A YAML file of jobs (a list, or 'jobs:').")


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    prefix: str | None = typer.Option(None, help="Only names starting with this."),
    tag: str | None = typer.Option(None, help="Only jobs with this tag."),
    pool: str | None = typer.Option(None, help="Only jobs in this worker pool."),
    paused: bool | None = typer.Option(
        None, "--paused/--active", help="Only paused, or only active, jobs.", show_default=False
    ),
    limit: int = typer.Option(200, min=1, help="At most this many jobs."),
    as_json: bool = JSON,
) -> None:
    """List jobs with their schedule and next run."""

    async def body(tss: Backend) -> list[Job]:
        return await tss.list_jobs(prefix=prefix, tag=tag, pool=pool, paused=paused, limit=limit)

    jobs = run_async(ctx, body)
    if as_json:
        print_json([job_data(j) for j in jobs])
        return
    table = new_table("name", "type", "schedule", "next run", "paused", "pool")
    for job in jobs:
        next_run = "-"
        if job.next_fire_at is not None:
            next_run = f"{fmt_time(job.next_fire_at)} ({fmt_relative(job.next_fire_at)})"
        table.add_row(
            job.name,
            job.spec.type,
            escape(schedule_text(job.spec.schedule)),
            next_run if not job.spec.paused else f"[dim]{next_run}[/]",
            "[yellow]paused[/]" if job.spec.paused else "no",
            job.spec.pool,
        )
    console.print(table)
    if not jobs:
        console.print(f"no jobs in {searched(ctx)}", style="dim", markup=False)


@app.command("show")
def show_job(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    as_json: bool = JSON,
) -> None:
    """Show a job's definition, its next fire times and its last runs."""

    async def body(tss: Backend) -> dict[str, Any]:
        job = await tss.get_job(name)
        fires = await tss.next_fires(name, 5)
        runs = await tss.list_runs(RunFilter(job=name), limit=10)
        return {"job": job, "fires": fires, "runs": runs}

    found = run_async(ctx, body)
    job: Job = found["job"]
    if as_json:
        print_json(
            {
                **job_data(job),
                "next_fires": found["fires"],
                "runs": [run_data(r) for r in found["runs"]],
            }
        )
        return
    definition = job.spec.model_dump(mode="json", exclude_defaults=True)
    console.print(
        f"[bold]job {job.name}[/]  (version {job.version}, updated {fmt_time(job.updated_at)})"
    )
    console.print(yaml.safe_dump(definition, sort_keys=False).rstrip(), markup=False)
    console.print()
    console.print(
        f"[bold]schedule[/]: {escape(schedule_text(job.spec.schedule))}"
        + ("  [yellow](paused)[/]" if job.spec.paused else "")
    )
    if found["fires"]:
        console.print("[bold]next fire times[/]:")
        for fire in found["fires"]:
            console.print(f"  {fmt_time(fire)}  ({fmt_relative(fire)})")
    console.print()
    if found["runs"]:
        console.print(runs_table(found["runs"], title="last runs"))
    else:
        console.print("no runs yet", style="dim")


@app.command("apply")
def apply_jobs(ctx: typer.Context, file: Path = FILE) -> None:
    """Create or update the jobs in a file. Nothing is stored if any job is invalid."""
    specs = load_job_file(file)

    async def body(tss: Backend) -> list[tuple[str, str]]:
        return await tss.apply(specs, where=str(file))

    results = run_async(ctx, body, creates=True)
    styles = {"created": "green", "updated": "yellow", "unchanged": "dim"}
    for name, action in results:
        console.print(f"[{styles[action]}]{action:<9}[/] {name}")
    if not results:
        console.print(f"no jobs in {file}", style="dim", markup=False)


@app.command("create")
def create_jobs(ctx: typer.Context, file: Path = FILE) -> None:
    """Create the jobs in a file; refused if any of their names exists already."""
    specs = load_job_file(file)

    async def body(tss: Backend) -> list[tuple[str, str]]:
        try:
            return await tss.apply(specs, where=str(file), create_only=True)
        except Conflict as exc:
            raise Conflict(
                f"{exc.message} (use 'tss job apply' to update it)", field="name"
            ) from exc

    for name, _ in run_async(ctx, body, creates=True):
        console.print(f"[green]created[/] {name}")


@app.command("delete")
def delete_job(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    force: bool = typer.Option(False, "--force", help="Delete even if other jobs depend on it."),
    history: bool = typer.Option(
        False,
        "--history",
        help="Also cancel its runs not started and delete its ended runs, with their "
        "attempts, logs and events (a run still going ends and stays).",
    ),
) -> None:
    """Delete a job (its runs stay as history, unless --history)."""

    async def body(tss: Backend) -> None:
        await tss.delete_job(name, force=force, history=history)

    run_async(ctx, body)
    console.print(f"deleted {name}{' and its history' if history else ''}", markup=False)


def _set_paused(ctx: typer.Context, name: str, paused: bool) -> None:
    async def body(tss: Backend) -> Job:
        return await tss.set_paused(name, paused)

    job = run_async(ctx, body)
    if paused:
        console.print(f"paused {job.name}", markup=False)
    else:
        console.print(f"resumed {job.name}; next run {fmt_time(job.next_fire_at)}", markup=False)


@app.command("pause")
def pause_job(ctx: typer.Context, name: str = typer.Argument(..., help="The job's name.")) -> None:
    """Pause a job: it stops firing until resumed."""
    _set_paused(ctx, name, True)


@app.command("resume")
def resume_job(ctx: typer.Context, name: str = typer.Argument(..., help="The job's name.")) -> None:
    """Resume a paused job."""
    _set_paused(ctx, name, False)


@app.command("next")
def next_fires(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    count: int = typer.Option(10, "-n", "--count", min=1, max=1000, help="How many."),
    as_json: bool = JSON,
) -> None:
    """The next fire times of a job, in UTC and in its time zone."""

    async def body(tss: Backend) -> tuple[Job, list[Any]]:
        return await tss.get_job(name), await tss.next_fires(name, count)

    job, fires = run_async(ctx, body)
    zone_name = str(getattr(job.spec.schedule, "timezone", None) or "UTC")
    zone = ZoneInfo(zone_name)
    if as_json:
        print_json(
            {
                "job": job.name,
                "timezone": zone_name,
                "fires": [{"utc": f, "local": f.astimezone(zone).isoformat()} for f in fires],
            }
        )
        return
    if not fires:
        why = "it is paused" if job.spec.paused else "it has no (further) schedule"
        console.print(f"{job.name} will not fire: {why}", markup=False)
        return
    table = new_table("#", "UTC", f"local ({zone_name})", "when")
    for i, fire in enumerate(fires, 1):
        table.add_row(str(i), fmt_time(fire), fmt_time(fire, zone), fmt_relative(fire))
    console.print(table)


app.command("run")(trigger_command)
