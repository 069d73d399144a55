"""``tss alert ...``: the alerts raised (to which channel, delivered or not), a test message
through a channel, and jobs' alerts silenced for a while.

They work on the config's store (a test goes through the config's channels, from this
process), or through a server's API with ``--url`` (a test goes through the server's
channels; listing needs a viewer token, testing and silencing an operator one).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import orjson
import typer
from rich.markup import escape

from tss.cli.context import run_async, searched
from tss.cli.json_out import alert_data, silence_data
from tss.cli.output import (
    FAILURE,
    JSON,
    console,
    fmt_relative,
    fmt_time,
    new_table,
    print_error,
    print_json,
)
from tss.core.alerts import ALERT_STATES, CHANNEL_NAME, MAX_NOTE, MAX_SILENCE, Alert, Silence
from tss.core.timeutil import checked_utc, parse_duration
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

app = typer.Typer(no_args_is_help=True)

#: the option that gives each field of a silence, for messages
_OPTIONS = {"duration": "--for", "until": "--until", "note": "--note"}
_STATE_STYLES = {
    "pending": "cyan",
    "delivered": "green",
    "failed": "bold red",
    "silenced": "dim",
    "held": "yellow",
}
JOB = typer.Argument(..., metavar="JOB", help="The job's name.")


def check_state(state: str | None) -> str | None:
    """:raises ValidationError: ``state`` is not an alert state."""
    if state is None:
        return None
    value = state.strip().lower()
    if value not in ALERT_STATES:
        raise ValidationError(
            f"--state: unknown state {state!r} (one of {', '.join(ALERT_STATES)})",
            field="state",
        )
    return value


def check_channel(channel: str) -> str:
    """:raises ValidationError: ``channel`` cannot be a channel's name."""
    if not CHANNEL_NAME.fullmatch(channel):
        raise ValidationError(
            f"CHANNEL: {channel!r} is not a channel name: use up to 64 letters, digits, '_', "
            "'.' or '-', starting with a letter or digit",
            field="channel",
        )
    return channel


def silence_for(text: str) -> float:
    """The seconds of ``--for text``.

    :raises ValidationError: not a positive duration of at most a year.
    """
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValidationError(f"--for: {exc}", field="for") from None
    if seconds <= 0:
        raise ValidationError(
            f"--for: {text!r} is not a positive duration: give one such as 30m or 2h",
            field="for",
        )
    if seconds > MAX_SILENCE:
        raise ValidationError(f"--for: {text!r} is longer than a year (366d)", field="for")
    return seconds


def silence_until(text: str, now: datetime) -> datetime:
    """The time of ``--until text``.

    :raises ValidationError: not an ISO 8601 time with its zone, after ``now`` and within
        a year of it.
    """
    example = "e.g. 2026-12-07T09:00:00Z or 2026-12-07T10:00:00+01:00"
    try:
        until = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--until: {text!r} is not a time: use ISO 8601 with its zone, {example}",
            field="until",
        ) from None
    if until.tzinfo is None:
        raise ValidationError(f"--until: {text!r} has no time zone: {example}", field="until")
    try:
        checked_utc(until)
    except ValueError as exc:
        raise ValidationError(f"--until: {exc}", field="until") from None
    if until <= now:
        raise ValidationError(f"--until: {text!r} is not in the future", field="until")
    if until > now + timedelta(seconds=MAX_SILENCE):
        raise ValidationError(
            f"--until: {text!r} is more than a year (366d) from now", field="until"
        )
    return until


def check_note(note: str) -> str:
    """:raises ValidationError: ``note`` is too long."""
    if len(note) > MAX_NOTE:
        raise ValidationError(
            f"--note: {len(note)} characters: at most {MAX_NOTE} are allowed", field="note"
        )
    return note


def as_option(exc: ValidationError) -> ValidationError:
    """A refusal of a silence's field (by the service or the server) naming the option
    that gave it: ``until must be in the future`` -> ``--until: until must be ...``."""
    option = _OPTIONS.get(exc.field or "")
    if option is None or exc.message.startswith(f"{option}:"):
        return exc
    message = exc.message.removeprefix(f"{exc.field}: ")
    return ValidationError(f"{option}: {message}", field=exc.field)


def state_text(state: str) -> str:
    """An alert state as Rich markup, coloured."""
    return f"[{_STATE_STYLES.get(state, '')}]{escape(state)}[/]"


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    job: str | None = typer.Option(None, "--job", "-j", help="Only alerts about this job."),
    state: str | None = typer.Option(
        None, "--state", "-s", help=f"Only alerts in this state: {', '.join(ALERT_STATES)}."
    ),
    channel: str | None = typer.Option(
        None, "--channel", help="Only alerts to this channel (a key of alerts.channels)."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, help="At most this many, newest first."),
    as_json: bool = JSON,
) -> None:
    """List the alerts raised, newest first: to which channel, and whether they were
    delivered."""
    checked_state = check_state(state)

    async def body(tss: Backend) -> list[Alert]:
        return await tss.list_alerts(limit=limit, job=job, state=checked_state, channel=channel)

    alerts = run_async(ctx, body)
    if as_json:
        print_json([alert_data(a) for a in alerts])
        return
    table = new_table("id", "when", "kind", "job", "channel", "state", "attempts", "subject")
    for a in alerts:
        table.add_row(
            escape(a.id),
            fmt_time(a.created_at),
            escape(a.kind),
            escape(a.job or "-"),
            escape(a.channel),
            state_text(a.state),
            str(a.attempts),
            escape(a.subject),
        )
    console.print(table)
    if not alerts:
        console.print(f"no alerts in {searched(ctx)}", style="dim", markup=False)


@app.command("show")
def show_alert(
    ctx: typer.Context,
    alert_id: str = typer.Argument(
        ..., metavar="ID", help="The alert's id (see 'tss alert list')."
    ),
    as_json: bool = JSON,
) -> None:
    """Show an alert: where it went, whether it was delivered (or why not), its whole text
    and its details."""

    async def body(tss: Backend) -> Alert:
        return await tss.get_alert(alert_id)

    alert = run_async(ctx, body)
    if as_json:
        print_json(alert_data(alert))
        return
    _print_alert(alert)


def _print_alert(alert: Alert) -> None:
    rows: list[tuple[str, str]] = [
        ("id", escape(alert.id)),
        ("kind", escape(alert.kind)),
        ("channel", escape(alert.channel)),
        ("state", state_text(alert.state)),
        ("job", escape(alert.job or "-")),
        ("run", escape(alert.run_id or "-")),
        ("attempts", str(alert.attempts)),
        ("created", fmt_time(alert.created_at)),
    ]
    if alert.state in ("pending", "held"):
        rows.append(("next attempt", f"{fmt_time(alert.next_at)} ({fmt_relative(alert.next_at)})"))
    rows.append(("sent", fmt_time(alert.sent_at)))
    if alert.error:
        rows.append(("error", f"[red]{escape(alert.error)}[/]"))
    table = new_table("field", "value")
    table.show_header = False
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", value)
    console.print(table)
    console.print()
    console.print(alert.subject, style="bold", markup=False)
    console.print(alert.text, markup=False)
    if alert.details:
        console.print()
        console.print("details", style="bold")
        text = orjson.dumps(alert.details, default=str, option=orjson.OPT_INDENT_2).decode()
        console.print(text, markup=False)


@app.command("test")
def test_alert(
    ctx: typer.Context,
    channel: str = typer.Argument(
        ..., metavar="CHANNEL", help="A channel of the config (a key of alerts.channels)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the test alert as JSON."),
) -> None:
    """Send a test message through a channel now; print whether it was delivered, or why
    not (exit 1). With --url the server sends it, through its own config's channels."""
    checked = check_channel(channel)

    async def body(tss: Backend) -> Alert:
        return await tss.test_alert(checked)

    alert = run_async(ctx, body)
    if as_json:
        print_json(alert_data(alert))
    elif alert.state == "delivered":
        console.print(
            f"delivered: test alert {alert.id} through channel {alert.channel}", markup=False
        )
    if alert.state != "delivered":
        why = alert.error or f"it is {alert.state}"
        print_error(f"channel {alert.channel!r} did not deliver the test alert: {why}")
        raise typer.Exit(FAILURE)


@app.command("silence")
def silence_job(
    ctx: typer.Context,
    job: str = JOB,
    for_: str | None = typer.Option(
        None, "--for", metavar="DURATION", help="How long, e.g. 30m, 2h or 1d (at most 366d)."
    ),
    until: str | None = typer.Option(
        None,
        "--until",
        metavar="TIME",
        help="Until when: ISO 8601 with its zone, e.g. 2026-12-07T09:00:00Z.",
    ),
    note: str = typer.Option("", "--note", help="Why (shown with the silence)."),
) -> None:
    """Silence a job's alerts for a while or until a time (they are still recorded, marked
    silenced, not sent); replaces the job's silence if it has one."""
    if (for_ is None) == (until is None):
        raise ValidationError(
            "give --for DURATION (e.g. 2h) or --until TIME (e.g. 2026-12-07T09:00:00Z), "
            "one of them",
            field="for",
        )
    duration = silence_for(for_) if for_ is not None else None
    until_at = silence_until(until, datetime.now(UTC)) if until is not None else None
    checked_note = check_note(note)

    async def body(tss: Backend) -> Silence:
        try:
            return await tss.silence(job, until=until_at, duration=duration, note=checked_note)
        except ValidationError as exc:
            raise as_option(exc) from exc

    made = run_async(ctx, body)
    said = f"silenced {made.job} until {fmt_time(made.until)} ({fmt_relative(made.until)})"
    console.print(said + (f": {made.note}" if made.note else ""), markup=False)


@app.command("unsilence")
def unsilence_job(ctx: typer.Context, job: str = JOB) -> None:
    """End a job's silence: its alerts are sent again."""

    async def body(tss: Backend) -> None:
        await tss.unsilence(job)

    run_async(ctx, body)
    console.print(f"unsilenced {job}", markup=False)


@app.command("silences")
def list_silences(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the jobs whose alerts are silenced now: until when, by whom and why."""

    async def body(tss: Backend) -> list[Silence]:
        return await tss.list_silences()

    silences = run_async(ctx, body)
    if as_json:
        print_json([silence_data(s) for s in silences])
        return
    table = new_table("job", "until", "ends", "by", "since", "note")
    for s in silences:
        table.add_row(
            escape(s.job),
            fmt_time(s.until),
            fmt_relative(s.until),
            escape(s.by),
            fmt_time(s.created_at),
            escape(s.note or "-"),
        )
    console.print(table)
    if not silences:
        console.print(f"no silenced jobs in {searched(ctx)}", style="dim", markup=False)
