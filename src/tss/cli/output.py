"""What the CLI prints: Rich tables for people, ``--json`` for scripts, one line per error.

Tables and progress go through Rich; data a script may parse goes to stdout as JSON only;
errors go to stderr as a single ``error: ...`` line (no Rich: it would wrap a long line).
"""

from __future__ import annotations

import os
import re
import sys
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.table import Table

from tss._secrets import MASK, mask_env
from tss._urls import mask_url
from tss.core.models import Run
from tss.core.states import RunState
from tss.errors import (
    ConfigError,
    Conflict,
    NotFound,
    TSSError,
    Unauthorized,
    ValidationError,
)

E = TypeVar("E", bound=TSSError)

#: stdout, for tables and data; soft wrap keeps long values on one line, and a pipe or a
#: file gets wide tables rather than Rich's 80 columns
console = Console(
    soft_wrap=True,
    highlight=False,
    width=None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "200")),
)
#: stderr, for spinners, progress bars and banners that must not pollute --json
status_console = Console(stderr=True, highlight=False, soft_wrap=True)
#: the ``--json`` flag of every listing and show command
JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")

#: exit codes
OK, FAILURE, BAD_INPUT = 0, 1, 2
#: bad input: the command cannot succeed as given (Unauthorized includes Forbidden: a
#: missing, invalid or under-privileged API token)
_BAD_INPUT = (ValidationError, ConfigError, Conflict, NotFound, Unauthorized)

STATE_STYLES = {
    RunState.SCHEDULED: "cyan",
    RunState.WAITING: "dim cyan",
    RunState.QUEUED: "blue",
    RunState.RUNNING: "bold blue",
    RunState.RETRYING: "yellow",
    RunState.SUCCEEDED: "green",
    RunState.FAILED: "bold red",
    RunState.TIMED_OUT: "red",
    RunState.CANCELLED: "magenta",
    RunState.SKIPPED: "dim",
}


# -- errors ------------------------------------------------------------------------------


def one_line(text: str) -> str:
    """Collapse a message onto one line."""
    return " ".join(text.split())


def report_error(exc: BaseException) -> int:
    """Print ``exc`` as one ``error:`` line on stderr (with the traceback when ``TSS_DEBUG``
    is set) and return the exit code it deserves."""
    if os.environ.get("TSS_DEBUG", "").strip() not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, TSSError):
        message, code = exc.message, BAD_INPUT if isinstance(exc, _BAD_INPUT) else FAILURE
    else:
        message = f"unexpected {type(exc).__name__}: {exc} (set TSS_DEBUG=1 for the traceback)"
        code = FAILURE
    print_error(message)
    return code


def in_source(source: object, exc: E) -> E:
    """``exc`` naming the file it came from. The server checks a batch of jobs (task types,
    duplicates, cycles, names taken) without knowing the file; the command that read it
    does."""
    if not source or exc.message.startswith(f"{source}:"):
        return exc
    return type(exc)(f"{source}: {exc.message}", field=exc.field)


def print_error(message: str) -> None:
    """Write one ``error:`` line to stderr."""
    sys.stderr.write(f"error: {one_line(message)}\n")
    sys.stderr.flush()


# -- JSON --------------------------------------------------------------------------------


def _default(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def print_json(data: Any) -> None:
    """Write ``data`` to stdout as indented JSON (datetimes in RFC 3339, UTC as ``Z``)."""
    raw = orjson.dumps(
        data,
        default=_default,
        option=orjson.OPT_INDENT_2 | orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS,
    )
    sys.stdout.write(raw.decode() + "\n")
    sys.stdout.flush()


# -- secrets -----------------------------------------------------------------------------


#: a key whose value is a secret in itself: ``admin_token``, ``password``, ``api_key``...
_SECRET_KEY = re.compile(
    r"passw(?:or)?d|secret|token|api_?key|credential|private_?key|(?:^|[_.-])pass(?:$|[_.-])",
    re.IGNORECASE,
)


def is_secret_key(key: object) -> bool:
    """Whether a key's name says its value is a secret."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def mask_secrets(data: Any) -> Any:
    """``data`` with secrets masked: the password of every URL in it, the value of every key
    that looks secret, and every literal value of an ``env`` mapping (a job's environment)
    or a ``headers`` mapping (an http job's headers).
    References (``{from_env: NAME}``, ``{from_file: PATH}``) name where a secret is, not
    the secret: they stay as written."""
    if isinstance(data, Mapping):
        out: dict[Any, Any] = {}
        # An alert channel's webhook URL is its secret (Slack's carries the token in the path)
        hook = data.get("type") in ("slack", "webhook")
        for key, value in data.items():
            if hook and key == "url" and isinstance(value, str):
                out[key] = mask_path(value)
            elif key in ("env", "headers") and isinstance(value, Mapping):
                out[key] = mask_env(value)
            elif is_secret_key(key) and _is_scalar(value) and value not in ("", None):
                out[key] = MASK
            else:
                out[key] = mask_secrets(value)
        return out
    if isinstance(data, list):
        return [mask_secrets(v) for v in data]
    if isinstance(data, str) and "://" in data:
        return mask_url(data)
    return data


def mask_path(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/xyz`` -> ``https://hooks.slack.com/***``."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return MASK
    host = rest.split("/", 1)[0].split("?", 1)[0].rpartition("@")[2]
    return f"{scheme}://{host}/***"


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool)


# -- times and words ---------------------------------------------------------------------


def fmt_time(value: datetime | None, zone: tzinfo = UTC) -> str:
    """A timestamp for a table: ``2026-03-01 02:00:00`` (UTC unless ``zone``); ``-`` if None."""
    if value is None:
        return "-"
    local = value.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if zone is UTC else f" {local.tzname()}")


def fmt_relative(value: datetime | None, now: datetime | None = None) -> str:
    """``in 4m`` or ``12s ago``."""
    if value is None:
        return "-"
    seconds = (value - (now or datetime.now(UTC))).total_seconds()
    text = fmt_seconds(abs(seconds), coarse=True)
    return f"in {text}" if seconds >= 0 else f"{text} ago"


def fmt_seconds(seconds: float | None, *, coarse: bool = False) -> str:
    """``0.42s``, ``3m05s``, ``2h10m``, ``3d4h``; ``-`` if None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.0f}s" if coarse else f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h"


def duration(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end``; None unless both are known."""
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def state_text(state: RunState) -> str:
    """A run state as Rich markup, coloured."""
    return f"[{STATE_STYLES.get(state, '')}]{state.value}[/]"


def schedule_text(schedule: Any) -> str:
    """A schedule in words (its ``describe()`` when it has one); ``-`` when there is none."""
    if schedule is None:
        return "-"
    describe = getattr(schedule, "describe", None)
    if callable(describe):
        return str(describe())
    dump = getattr(schedule, "model_dump", None)
    data = dump(mode="json", exclude_defaults=True) if callable(dump) else schedule
    if isinstance(data, Mapping):
        return ", ".join(f"{k} {v}" for k, v in data.items())
    return str(data)


def new_table(*columns: str, title: str | None = None) -> Table:
    """A table in the CLI's style."""
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def runs_table(runs: list[Run], title: str | None = None) -> Table:
    """The standard table of runs."""
    table = new_table(
        "id",
        "job",
        "state",
        "trigger",
        "scheduled for",
        "started",
        "duration",
        "attempt",
        title=title,
    )
    now = datetime.now(UTC)
    for run in runs:
        end = run.finished_at or (now if run.state is RunState.RUNNING else None)
        table.add_row(
            run.id,
            run.job,
            state_text(run.state),
            run.trigger,
            fmt_time(run.scheduled_for),
            fmt_time(run.started_at),
            fmt_seconds(duration(run.started_at, end)),
            f"{run.attempt}/{run.max_attempts}",
        )
    return table
