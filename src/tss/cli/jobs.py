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
from tss.core.models import Job, PauseInfo, RunFilter
from tss.core.pauses import short_note
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
            _paused_cell(job),
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
    if job.pause is not None:
        _print_pause(job.pause)
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


def _paused_cell(job: Job) -> str:
    """The ``paused`` column of ``tss job list``: the note, shortened, and the end time."""
    if not job.spec.paused:
        return "no"
    if job.pause is None:
        return "[yellow]paused[/]"
    cell = "[yellow]paused[/]"
    if job.pause.until is not None:
        cell += f" until {fmt_time(job.pause.until)}"
    if job.pause.note:
        cell += f": {escape(short_note(job.pause.note))}"
    return cell


def _print_pause(pause: PauseInfo) -> None:
    """The pause of ``tss job show``: who, when, why and until when."""
    console.print(f"[bold]paused by[/] {escape(pause.by)} at {fmt_time(pause.at)}")
    if pause.until is not None:
        console.print(f"[bold]resumes[/]: {fmt_time(pause.until)} ({fmt_relative(pause.until)})")
    if pause.note:
        console.print(f"[bold]note[/]: {escape(pause.note)}")


def _set_paused(
    ctx: typer.Context,
    name: str | None,
    paused: bool,
    selection: dict[str, Any],
    note: str | None = None,
    until: str | None = None,
) -> None:
    if name is not None and any(selection.values()):
        raise typer.BadParameter("give a job's name, or --prefix/--tag/--pool/--all, not both")
    if name is None:
        _set_paused_matching(ctx, paused, selection, note, until)
        return

    async def body(tss: Backend) -> Job:
        return await tss.set_paused(name, paused, note=note, until=until)

    job = run_async(ctx, body)
    if paused:
        ends = f" until {fmt_time(job.pause.until)}" if job.pause and job.pause.until else ""
        console.print(f"paused {job.name}{ends}", markup=False)
    else:
        console.print(f"resumed {job.name}; next run {fmt_time(job.next_fire_at)}", markup=False)


def _set_paused_matching(
    ctx: typer.Context,
    paused: bool,
    selection: dict[str, Any],
    note: str | None,
    until: str | None,
) -> None:
    async def body(tss: Backend) -> list[str]:
        return await tss.set_paused_matching(
            paused, **selection, note=note if paused else None, until=until if paused else None
        )

    names = run_async(ctx, body)
    verb = "paused" if paused else "resumed"
    if not names:
        console.print(f"no job to be {verb}", style="dim", markup=False)
        return
    console.print(f"{verb} {len(names)} job{'s' if len(names) != 1 else ''}:", markup=False)
    for job_name in names:
        console.print(f"  {job_name}", markup=False)


OPTIONAL_NAME = typer.Argument(
    None, help="The job's name (or select jobs with --prefix, --tag, --pool or --all)."
)
BY_PREFIX = typer.Option(None, "--prefix", help="Every job whose name starts with this.")
BY_TAG = typer.Option(None, "--tag", help="Every job with this tag.")
BY_POOL = typer.Option(None, "--pool", help="Every job in this worker pool.")
EVERY = typer.Option(False, "--all", help="Every job (needed when no other filter is given).")


@app.command("pause")
def pause_job(
    ctx: typer.Context,
    name: str | None = OPTIONAL_NAME,
    note: str | None = typer.Option(None, "--note", help="Why it is paused (one line)."),
    until: str | None = typer.Option(
        None,
        "--until",
        help="Resume it by itself then: an ISO 8601 date-time (UTC unless it has a zone) or "
        "a duration from now, like 2h or 1d12h.",
    ),
    prefix: str | None = BY_PREFIX,
    tag: str | None = BY_TAG,
    pool: str | None = BY_POOL,
    every: bool = EVERY,
) -> None:
    """Pause a job, or every job a filter selects: it stops firing until resumed (or
    until --until)."""
    selection = {"prefix": prefix, "tag": tag, "pool": pool, "all": every}
    _set_paused(ctx, name, True, selection, note, until)


@app.command("resume")
def resume_job(
    ctx: typer.Context,
    name: str | None = OPTIONAL_NAME,
    prefix: str | None = BY_PREFIX,
    tag: str | None = BY_TAG,
    pool: str | None = BY_POOL,
    every: bool = EVERY,
) -> None:
    """Resume a paused job, or every paused job a filter selects."""
    selection = {"prefix": prefix, "tag": tag, "pool": pool, "all": every}
    _set_paused(ctx, name, False, selection)


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
