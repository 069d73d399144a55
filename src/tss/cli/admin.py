"""``tss workers``, ``tss config show|check`` and ``tss db upgrade|prune``."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import typer
import yaml

from tss.cli.context import run_async, searched, settings_of
from tss.cli.json_out import worker_data
from tss.cli.output import (
    JSON,
    console,
    fmt_relative,
    fmt_time,
    mask_secrets,
    new_table,
    print_json,
)
from tss.core.models import WorkerInfo
from tss.core.retention import PruneReport

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

config_app = typer.Typer(no_args_is_help=True)
db_app = typer.Typer(no_args_is_help=True)
_WORKER_STYLES = {"up": "green", "draining": "yellow", "down": "dim", "dead": "red"}


def workers(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the workers that registered, with their pools, labels, load and last heartbeat."""

    async def body(tss: Backend) -> list[WorkerInfo]:
        return await tss.list_workers()

    found = run_async(ctx, body)
    if as_json:
        print_json([worker_data(w) for w in found])
        return
    table = new_table(
        "id", "state", "host", "pid", "pools", "labels", "running", "last heartbeat", "started",
        "version",
    )  # fmt: skip
    for w in found:
        table.add_row(
            w.id,
            f"[{_WORKER_STYLES.get(w.state, '')}]{w.state}[/]",
            w.hostname,
            str(w.pid),
            ", ".join(w.pools),
            ", ".join(w.labels),
            f"{w.running}/{w.concurrency}",
            fmt_relative(w.last_heartbeat),
            fmt_time(w.started_at),
            w.version,
        )
    console.print(table)
    if not found:
        console.print(f"no workers have registered in {searched(ctx)}", style="dim", markup=False)


@config_app.command("show")
def show_config(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Print the effective settings (files, then environment); passwords are masked."""
    settings = settings_of(ctx)
    data = mask_secrets(settings.model_dump(mode="json"))
    if as_json:
        print_json(data)
        return
    source = data.pop("source", None)
    console.print(
        f"# from {source or 'defaults and the environment (no config file)'}",
        markup=False,
        style="dim",
    )
    console.print(yaml.safe_dump(data, sort_keys=False).rstrip(), markup=False)


@config_app.command("check")
def check_config(ctx: typer.Context) -> None:
    """Load the config and validate every job it declares, without touching the store."""
    from tss.definitions import check_jobs
    from tss.service import TSSApp

    settings = settings_of(ctx)
    tss = TSSApp(settings)  # refuses unknown store and broker URLs; does not connect
    specs = tss.jobs.config_jobs()
    tss.add_python_path()
    where = f"{settings.source}: " if settings.source else ""
    check_jobs(specs, tss.registry, where=where, channels=settings.alerts.channels.keys())
    console.print(f"config OK: {len(specs)} jobs", markup=False)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Bring the store's schema up to date (safe to run again, or from several hosts)."""
    from tss.service.backends import upgrade_store

    settings = settings_of(ctx)
    said = asyncio.run(upgrade_store(settings.store.url))
    console.print(said, markup=False)


@db_app.command("prune")
def db_prune(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="count what would go; delete nothing"),
    job: str | None = typer.Option(None, "--job", help="only this job's runs"),
    as_json: bool = JSON,
) -> None:
    """Prune old runs (with their attempts, logs and events), settled alerts, ended silences,
    fire ledger rows and audit entries by the ``retention:`` policy, a batch at a time."""

    async def body(tss: Backend) -> PruneReport:
        return await tss.prune(dry_run=dry_run, job=job)

    report = run_async(ctx, body)
    if as_json:
        print_json(report.as_dict())
        return
    table = new_table("kind", "would go" if dry_run else "pruned")
    for kind, count in report.counts.items():
        table.add_row(kind, str(count))
    console.print(table)
    if report.runs_by_job:
        jobs = new_table("job", "runs")
        for name, count in sorted(report.runs_by_job.items()):
            jobs.add_row(name, str(count))
        console.print(jobs)
    if dry_run:
        console.print("dry run: nothing was deleted", style="dim", markup=False)
