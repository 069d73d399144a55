"""``tss job history``, ``tss job rollback`` and ``tss audit``: what changed, and who.

Like the other job commands they work on the config's store, or through a server's API with
``--url`` (where a version's env and header values are masked unless the token is an
admin's, and the audit log needs an admin token)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.markup import escape

from tss.cli.context import run_async
from tss.cli.output import JSON, console, fmt_relative, fmt_time, new_table, print_json
from tss.core.history import AUDIT_ACTIONS, AuditEntry, Change, JobVersion
from tss.core.timeutil import checked_utc, parse_duration, utcnow
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

#: the longest value a diff line shows before it is cut
_SHOWN = 80


def when_of(text: str | None, option: str, now: datetime | None = None) -> datetime | None:
    """The time of ``--since``/``--until``: ISO 8601 with its zone, or a duration (``2h``,
    ``1d``, seconds) meaning that long ago.

    :raises ValidationError: neither (naming the option).
    """
    if text is None:
        return None
    field = option.removeprefix("--")
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        try:
            seconds = parse_duration(text.strip())
        except (ValueError, ValidationError):
            raise ValidationError(
                f"{option}: {text!r} is neither a time (2026-12-07T09:00:00Z) nor a duration"
                " ago (2h, 1d)",
                field=field,
            ) from None
        return (now or utcnow()) - timedelta(seconds=seconds)
    if at.tzinfo is None:
        raise ValidationError(f"{option}: {text!r} has no time zone (add Z or +01:00)", field=field)
    return checked_utc(at)


def version_data(version: JobVersion) -> dict[str, Any]:
    """A version as JSON-able data."""
    return {
        "job": version.job, "version": version.version, "at": version.at,
        "actor": version.actor, "change": version.change, "spec": version.spec,
    }  # fmt: skip


def change_data(change: Change) -> dict[str, Any]:
    return {"path": change.path, "kind": change.kind, "old": change.old, "new": change.new}


def audit_data(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action,
        "target": entry.target, "details": entry.details,
    }  # fmt: skip


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def print_changes(changes: list[Change]) -> None:
    """One line per change: ``- old`` and ``+ new`` under its path."""
    if not changes:
        console.print("no differences", style="dim")
        return
    for change in changes:
        console.print(f"[bold]{escape(change.path)}[/]")
        if change.kind != "added":
            console.print(f"  [red]- {escape(_shown(change.old))}[/]")
        if change.kind != "removed":
            console.print(f"  [green]+ {escape(_shown(change.new))}[/]")


def job_history(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name (a deleted job's history stays)."),
    diff: int | None = typer.Option(
        None, "--diff", min=1, help="Show what version V changed.", metavar="V"
    ),
    against: int | None = typer.Option(
        None,
        "--against",
        min=1,
        help="Compare --diff V with version W, not the one before.",
        metavar="W",
    ),
    as_json: bool = JSON,
) -> None:
    """List a job's versions (who changed it, when, how), or show one version's diff."""
    if against is not None and diff is None:
        raise ValidationError("--against needs --diff V", field="against")
    if diff is not None:
        wanted = diff

        async def one(tss: Backend) -> tuple[JobVersion, int | None, list[Change]]:
            return await tss.job_diff(name, wanted, against)

        found, compared, changes = run_async(ctx, one)
        if as_json:
            data = {**version_data(found), "against": compared}
            print_json({**data, "changes": [change_data(c) for c in changes]})
            return
        base = "nothing" if compared is None else f"version {compared}"
        console.print(
            f"[bold]job {escape(name)} version {found.version}[/] ({found.change} by "
            f"{escape(found.actor)}, {fmt_time(found.at)}) against {base}"
        )
        print_changes(changes)
        return

    async def every(tss: Backend) -> list[JobVersion]:
        return await tss.job_versions(name)

    versions = run_async(ctx, every)
    if as_json:
        print_json([version_data(v) for v in versions])
        return
    table = new_table("version", "change", "by", "when", title=f"job {name}")
    for version in versions:
        when = f"{fmt_time(version.at)} ({fmt_relative(version.at)})"
        table.add_row(str(version.version), version.change, escape(version.actor), when)
    console.print(table)
    console.print(f"show a diff with: tss job history {name} --diff VERSION", style="dim")


def job_rollback(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    to: int = typer.Option(..., "--to", min=1, help="The version to make current again."),
    as_json: bool = JSON,
) -> None:
    """Make an earlier version the job's definition again, recorded as a new version (a
    deleted job is made again; a paused job stays paused)."""

    async def body(tss: Backend) -> int | None:
        return await tss.rollback_job(name, to)

    made = run_async(ctx, body)
    if as_json:
        print_json({"job": name, "to": to, "changed": made is not None, "version": made})
    elif made is None:
        console.print(f"job {escape(name)} already has the definition of version {to}")
    else:
        console.print(f"job {escape(name)} rolled back to version {to}: now version {made}")


def audit(
    ctx: typer.Context,
    actor: str | None = typer.Option(None, help="Only this actor (token:NAME, cli, config...)."),
    action: str | None = typer.Option(
        None, help=f"Only this action ({', '.join(AUDIT_ACTIONS[:4])}...)."
    ),
    target: str | None = typer.Option(None, help="Only about this job, run id or token."),
    since: str | None = typer.Option(None, help="From this time, or this long ago (2h, 1d)."),
    until: str | None = typer.Option(None, help="Before this time, or this long ago."),
    limit: int = typer.Option(50, min=1, max=10000, help="At most this many entries."),
    as_json: bool = JSON,
) -> None:
    """Show the audit log, newest first: every write, who made it, and when."""
    if action is not None and action not in AUDIT_ACTIONS:
        raise ValidationError(
            f"--action: {action!r} is not one of {', '.join(AUDIT_ACTIONS)}", field="action"
        )
    now = utcnow()
    start, end = when_of(since, "--since", now), when_of(until, "--until", now)

    async def body(tss: Backend) -> list[AuditEntry]:
        return await tss.list_audit(
            limit=limit, actor=actor, action=action, target=target, since=start, until=end
        )

    entries = run_async(ctx, body)
    if as_json:
        print_json([audit_data(e) for e in entries])
        return
    table = new_table("when", "actor", "action", "target", "details")
    for entry in entries:
        details = ", ".join(f"{k}={_shown(v)}" for k, v in entry.details.items())
        table.add_row(
            fmt_time(entry.at), escape(entry.actor), entry.action, escape(entry.target),
            escape(details),
        )  # fmt: skip
    console.print(table)
    if not entries:
        console.print("no audit entries match", style="dim")
