"""``tss token ...``: create, list and revoke API tokens.

They work on the config's store (so a first token can be made before any server runs), or
through a server's API with ``--url`` and an admin token.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import typer

from tss.cli.context import run_async, searched
from tss.cli.json_out import token_data
from tss.cli.output import JSON, console, fmt_time, new_table, print_json, status_console
from tss.core.models import NAME_PATTERN, ROLES, Role, Token
from tss.core.timeutil import parse_duration
from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend

app = typer.Typer(no_args_is_help=True)


def check_name(name: str) -> str:
    """:raises ValidationError: ``name`` is not a valid token name."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValidationError(
            f"--name: {name!r} is not a valid name: use 1-200 letters, digits, '-', '_' or '.',"
            " starting with a letter or digit",
            field="name",
        )
    return name


def check_role(role: str) -> Role:
    """:raises ValidationError: ``role`` is not a role."""
    if role not in ROLES:
        raise ValidationError(
            f"--role: must be one of {', '.join(ROLES)}, not {role!r}", field="role"
        )
    return role


def expiry(text: str | None, now: datetime) -> datetime | None:
    """When a token made ``now`` with ``--expires text`` expires (None: never).

    :raises ValidationError: ``text`` is not a positive duration.
    """
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as exc:
        raise ValidationError(f"--expires: {exc}", field="expires") from None
    if seconds <= 0:
        raise ValidationError(
            f"--expires: {text!r} is not a lifetime: give a positive duration such as 30d",
            field="expires",
        )
    try:
        return now + timedelta(seconds=seconds)
    except OverflowError:
        raise ValidationError(f"--expires: {text!r} is too long", field="expires") from None


@app.command("create")
def create_token(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="What the token is for (e.g. ci-deploy)."),
    role: str = typer.Option(
        ..., "--role", help="viewer, operator, admin, or worker (the worker protocol only)."
    ),
    expires: str | None = typer.Option(
        None, "--expires", metavar="DURATION", help="Lifetime, e.g. 30d or 12h (default: none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the token and its record as JSON."),
) -> None:
    """Make an API token and print it: it is shown this once only (a hash is stored).

    The token alone goes to stdout, so TOKEN=$(tss token create ...) keeps it."""
    checked_name, checked_role = check_name(name), check_role(role)
    expires_at = expiry(expires, datetime.now(UTC))

    async def body(tss: Backend) -> tuple[Token, str]:
        return await tss.create_token(checked_name, checked_role, expires_at=expires_at)

    token, text = run_async(ctx, body, creates=True)
    if as_json:
        print_json({**token_data(token), "token": text})
        return
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    until = f"expires {fmt_time(token.expires_at)}" if token.expires_at else "does not expire"
    status_console.print(
        f"token {token.name} ({token.role}, id {token.id}, {until}): copy it now, "
        "it will not be shown again",
        markup=False,
    )


@app.command("list")
def list_tokens(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the tokens, revoked ones included (never their secrets)."""

    async def body(tss: Backend) -> list[Token]:
        return await tss.list_tokens()

    tokens = run_async(ctx, body)
    if as_json:
        print_json([token_data(t) for t in tokens])
        return
    table = new_table("id", "name", "role", "created", "expires", "revoked", "last used")
    for t in tokens:
        revoked = f"[red]{fmt_time(t.revoked_at)}[/]" if t.revoked_at else "no"
        table.add_row(
            t.id,
            t.name,
            t.role,
            fmt_time(t.created_at),
            fmt_time(t.expires_at) if t.expires_at else "never",
            revoked,
            fmt_time(t.last_used_at),
        )
    console.print(table)
    if not tokens:
        console.print(f"no tokens in {searched(ctx)}", style="dim", markup=False)


@app.command("revoke")
def revoke_token(
    ctx: typer.Context,
    id_or_name: str = typer.Argument(..., metavar="ID_OR_NAME", help="A token's id or name."),
) -> None:
    """Revoke the tokens with this id or name: they stop working at once."""

    async def body(tss: Backend) -> None:
        await tss.revoke_token(id_or_name)

    run_async(ctx, body)
    console.print(f"revoked {id_or_name}", markup=False)
