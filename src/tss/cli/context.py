"""What a command gets from the global options: the settings (read once), logging, and the
async bridge that opens the command's backend, awaits the command's body and closes it.

Commands that work on jobs, runs, workers and tokens call a
:class:`~tss.cli.backends.base.Backend` that :func:`run_async` picks once: the config's
store, or a server's API when ``--url`` (or ``TSS_URL``) is given. They hold no business
rules and no "if remote" branches. The command modules import this module, never
:mod:`tss.cli.app`, which only builds the Typer app and registers them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer

from tss.config import Settings, load_config
from tss.errors import NotFound

if TYPE_CHECKING:
    from tss.cli.backends.base import Backend
    from tss.service import TSSApp

T = TypeVar("T")


@dataclass
class CLIState:
    """What the global options decided, shared with every command through ``ctx.obj``."""

    config: str | None = None
    settings: Settings | None = None
    #: a server's URL: the commands go through its API instead of the local store
    url: str | None = None
    #: the API token for ``url``
    token: str | None = None


def settings_of(ctx: typer.Context, *, serving: bool = False) -> Settings:
    """The effective settings (read once per command), with logging set up from them.

    One-shot commands log warnings and errors only; servers log at the configured level.
    """
    state = ctx.find_object(CLIState) or CLIState()
    if state.settings is None:
        state.settings = load_config(state.config)
        setup_logging(state.settings, serving=serving)
    return state.settings


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def setup_logging(settings: Settings | None, *, serving: bool = False) -> None:
    """Log to stderr in the configured format (without settings: warnings, as text)."""
    if settings is None:
        level, json_format = logging.WARNING, False
    else:
        level = logging.getLevelName(settings.logging.level)
        json_format = settings.logging.format == "json"
    if not serving:
        level = max(level, logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)
    if json_format:
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic announces every migration step at INFO; that is noise on each command.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


def backend_of(ctx: typer.Context, *, creates: bool = False) -> Backend:
    """The server's API when ``--url``/``TSS_URL`` is set (the config is not read then),
    else the config's store (created if missing only when ``creates``)."""
    state = ctx.find_object(CLIState) or CLIState()
    if state.url:
        from tss.cli.backends.remote import RemoteBackend

        setup_logging(None)
        return RemoteBackend(state.url, state.token)
    from tss.cli.backends.local import LocalBackend

    return LocalBackend(settings_of(ctx), create=creates)


def run_async(
    ctx: typer.Context,
    fn: Callable[[Backend], Coroutine[Any, Any, T]],
    *,
    creates: bool = False,
) -> T:
    """Open the command's backend (:func:`backend_of`), await ``fn(backend)``, close it.

    Only a command that ``creates`` (jobs, tokens) may create a store that does not exist;
    the others refuse, and a name they do not find is reported with where they looked.
    """
    backend = backend_of(ctx, creates=creates)

    async def body() -> T:
        async with backend.session():
            try:
                return await fn(backend)
            except NotFound as exc:
                raise NotFound(f"{exc.message} in {backend.where}", field=exc.field) from exc

    return asyncio.run(body())


def searched(ctx: typer.Context) -> str:
    """Where the command looked (the server, or the store and config file), for the line a
    command prints when it finds nothing."""
    state = ctx.find_object(CLIState) or CLIState()
    if state.url:
        from tss.cli.backends.remote import server_url

        return server_url(state.url)
    from tss.cli.where import where

    return where(settings_of(ctx))


def run_local(ctx: typer.Context, fn: Callable[[TSSApp], Coroutine[Any, Any, T]]) -> T:
    """Open a :class:`TSSApp` from the settings, start it, await ``fn(app)``, close it
    (for commands that only make sense on the config's store)."""
    settings = settings_of(ctx)

    async def body() -> T:
        from tss.service import TSSApp

        async with TSSApp(settings) as tss_app:
            return await fn(tss_app)

    return asyncio.run(body())
