"""``tss job fires``, ``tss job backfill``, ``tss job backfills`` and ``tss job upcoming``:
why a job did (not) fire, making the fires it missed (and stopping a backfill), and the
fires coming up with the load per minute.

They work on the config's store, or through a server's API with ``--url`` (a backfill
needs an admin token there, stopping one an operator token)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from tss.cli.context import run_async
from tss.cli.output import JSON, console, fmt_time, new_table, print_json
from tss.core.timeutil import checked_utc, parse_duration, utcnow
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

#: how each status is shown in a table
STYLES = {
    "fired": "green",
    "backfilled": "cyan",
    "upcoming": "dim",
    "due": "yellow",
    "skipped": "yellow",
    "replaced": "yellow",
    "missed": "red",
    "paused": "magenta",
    "pruned": "dim",
}
#: how each backfill state is shown
BACKFILL_STYLES = {"active": "cyan", "done": "green", "stopped": "yellow"}


def time_of(text: str | None, option: str, now: datetime) -> datetime | None:
    """A time option: ISO 8601 with its zone, ``now``, or a duration from now (``-2d``
    or ``2d`` ago, ``+1h`` ahead).

    :raises ValidationError: none of those (naming the option).
    """
    if text is None:
        return None
    field = option.removeprefix("--")
    value = text.strip()
    if value.lower() == "now":
        return now
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        sign = 1 if value.startswith("+") else -1
        try:
            seconds = parse_duration(value.lstrip("+-"))
        except (ValueError, ValidationError):
            raise ValidationError(
                f"{option}: {text!r} is not a time (2026-12-07T09:00:00Z, now) nor a duration "
                "from now (-2d, +1h)",
                field=field,
            ) from None
        return now + sign * timedelta(seconds=seconds)
    if at.tzinfo is None:
        raise ValidationError(f"{option}: {text!r} has no time zone (add Z or +01:00)", field=field)
    return checked_utc(at)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def job_fires(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    since: str | None = typer.Option(
        None, help="From this time (ISO, now, -2d); default a day ago."
    ),
    until: str | None = typer.Option(
        None, help="Before this time (ISO, now, +1h); default in an hour."
    ),
    limit: int = typer.Option(1000, min=1, max=1000, help="At most this many fires."),
    cursor: str | None = typer.Option(
        None, help="Go on after a page cut at --limit (the cursor it printed)."
    ),
    as_json: bool = JSON,
) -> None:
    """Every fire the job's schedule intended in a window and what became of it: fired,
    skipped, replaced, missed, paused, backfilled, pruned, due or upcoming."""
    now = utcnow()
    start, end = time_of(since, "--since", now), time_of(until, "--until", now)

    async def body(tss: Backend) -> dict[str, Any]:
        return await tss.job_fires(name, since=start, until=end, limit=limit, cursor=cursor)

    page = run_async(ctx, body)
    if as_json:
        print_json(page)
        return
    zone = ZoneInfo(page["timezone"])
    local = page["timezone"] not in ("UTC", "Etc/UTC")
    columns = ["time (UTC)", *([f"time ({page['timezone']})"] if local else []), "status", "what"]
    table = new_table(*columns, title=f"job {name}: {page['schedule']}")
    for fire in page["fires"]:
        at = _at(fire["at"])
        words = fire["words"] + (f" ({fire['dst']})" if fire.get("dst") else "")
        style = STYLES.get(fire["status"], "")
        cells = [fmt_time(at), *([fmt_time(at, zone)] if local else [])]
        table.add_row(*cells, f"[{style}]{fire['status']}[/]", escape(words))
    console.print(table)
    counts = ", ".join(f"{n} {status}" for status, n in page["counts"].items())
    console.print(counts or "no fires in the window", style="dim")
    if page["truncated"] and page.get("next_cursor"):
        # The same window again: a relative --since/--until would move with the clock.
        window = f"--since {page['since']} --until {page['until']}"
        console.print(
            f"more fires after these: add {window} --cursor {page['next_cursor']}",
            style="dim",
            markup=False,
        )


def job_backfill(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    start: str | None = typer.Option(None, "--from", help="From this time (ISO, -7d)."),
    end: str | None = typer.Option(None, "--to", help="Before this time (ISO, now, -1d)."),
    only_missed: bool = typer.Option(
        False, "--only-missed", help="Only fires the ledger calls missed (not paused ones)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the fires; make nothing."),
    max_active: int | None = typer.Option(
        None, "--max-active", min=1, max=1000, help="At most N of them active at once."
    ),
    stop: str | None = typer.Option(
        None, "--stop", metavar="ID", help="Stop this active backfill (tss job backfills)."
    ),
    as_json: bool = JSON,
) -> None:
    """Make the job's past fires in [--from, --to) that have no run, each at most once
    (a second backfill of the same window makes nothing); or, with --stop ID, stop one."""
    if stop is not None:
        given = [opt for opt, value in (("--from", start), ("--to", end),
                 ("--only-missed", only_missed), ("--dry-run", dry_run),
                 ("--max-active", max_active)) if value]  # fmt: skip
        if given:
            raise ValidationError(
                f"--stop takes no {', '.join(given)}: it stops a backfill, it makes none",
                field="stop",
            )
        _stop(ctx, name, stop, as_json)
        return
    if start is None or end is None:
        missing = "--from" if start is None else "--to"
        raise ValidationError(
            f"{missing} is needed: a backfill makes the fires of [--from, --to) "
            "(or give --stop ID to stop one)",
            field=missing.removeprefix("--"),
        )
    now = utcnow()
    first, last = time_of(start, "--from", now), time_of(end, "--to", now)
    assert first is not None and last is not None

    async def body(tss: Backend) -> dict[str, Any]:
        return await tss.backfill(
            name, start=first, end=last, only_missed=only_missed, dry_run=dry_run,
            max_active=max_active,
        )  # fmt: skip

    result = run_async(ctx, body)
    if as_json:
        print_json(result)
        return
    fires = result["fires"]
    if dry_run:
        console.print(f"a backfill of {escape(name)} would make {len(fires)} fire(s):")
        for fire in fires:
            console.print(f"  {fmt_time(_at(fire))}")
        return
    if not fires:
        console.print(f"nothing to backfill: every fire of {escape(name)} in the window has a run")
        return
    made = result["backfill"] or {}
    console.print(
        f"backfill {made.get('id', '')} of {escape(name)}: {len(fires)} fire(s), "
        f"{result['created']} made now"
        + (f", the rest {max_active} at a time" if made.get("state") == "active" else "")
    )


def _stop(ctx: typer.Context, name: str, backfill_id: str, as_json: bool) -> None:
    async def body(tss: Backend) -> dict[str, Any]:
        return await tss.stop_backfill(name, backfill_id)

    stopped = run_async(ctx, body)
    if as_json:
        print_json(stopped)
        return
    console.print(
        f"backfill {stopped['id']} of {escape(name)} stopped: {stopped['made']} of "
        f"{stopped['count']} fire(s) made; no more will be (its runs stay: cancel them as runs)"
    )


def job_backfills(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="The job's name."),
    limit: int = typer.Option(100, min=1, max=1000, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """The job's backfills, newest first: the fires each asked for, how many were made, and
    its state (active: the scheduler makes the rest; done; stopped)."""

    async def body(tss: Backend) -> list[dict[str, Any]]:
        return await tss.backfills(name, limit=limit)

    found = run_async(ctx, body)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print(f"job {escape(name)} has no backfills")
        return
    table = new_table(
        "id", "created (UTC)", "by", "fires (UTC)", "made", "max active", "state",
        title=f"backfills of {name}",
    )  # fmt: skip
    for b in found:
        fires = "—"
        if b["first"] is not None:
            fires = fmt_time(_at(b["first"]))
            if b["last"] != b["first"]:
                fires += f" .. {fmt_time(_at(b['last']))}"
        state = f"[{BACKFILL_STYLES.get(b['state'], '')}]{b['state']}[/]"
        table.add_row(
            b["id"], fmt_time(_at(b["created_at"])), escape(b["actor"]), fires,
            f"{b['made']}/{b['count']}",
            "all at once" if b["max_active"] is None else str(b["max_active"]), state,
        )  # fmt: skip
    console.print(table)


def job_upcoming(
    ctx: typer.Context,
    hours: float = typer.Option(24, min=0.01, max=168, help="How far ahead (at most 168)."),
    limit: int = typer.Option(20, min=1, max=1000, help="List this many next fires."),
    top: int = typer.Option(10, min=1, max=100, help="Show this many busiest minutes."),
    as_json: bool = JSON,
) -> None:
    """The next fires of every unpaused job, and the busiest minutes (fires per minute),
    so a pile-up at the top of the hour shows before it happens."""

    async def body(tss: Backend) -> dict[str, Any]:
        return await tss.upcoming(hours=hours, limit=limit)

    found = run_async(ctx, body)
    if as_json:
        print_json(found)
        return
    table = new_table("time (UTC)", "job", title=f"next fires ({found['total']} in {hours:g}h)")
    for fire in found["fires"]:
        table.add_row(fmt_time(_at(fire["at"])), escape(fire["job"]))
    console.print(table)
    busiest = new_table("minute (UTC)", "fires", "", title="busiest minutes")
    peaks = found["peaks"][:top]
    most = max((p["count"] for p in peaks), default=1)
    for peak in peaks:
        bar = "█" * max(1, round(30 * peak["count"] / most))
        busiest.add_row(fmt_time(_at(peak["minute"]))[:-4] + "Z", str(peak["count"]), bar)
    console.print(busiest)
    if found["capped"]:
        console.print(
            f"counted at most {found['per_job']} fires of: {', '.join(found['capped'])}",
            style="dim",
        )
    if found["uncounted"]:
        console.print(f"not counted (too many fires): {', '.join(found['uncounted'])}", style="dim")
