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
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer

from tss.config import Settings, load_config
from tss.errors import ConfigError, NotFound

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


def settings_of(ctx: typer.Context, *, serving: str | None = None) -> Settings:
    """The effective settings (read once per command), with logging set up from them.

    One-shot commands log warnings and errors only; a serving process (``serving`` names
    it: ``server``, ``api``, ``scheduler``, ``worker``) logs at the configured level, to its
    own file when ``logging.file`` is set.
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


#: marks the log handlers :func:`setup_logging` made (it closes them when it replaces them)
_OURS = "_tss_handler"


def setup_logging(settings: Settings | None, *, serving: str | None = None) -> None:
    """Log in the configured format to stderr, stdout or the component's file (without
    settings: warnings, as text, to stderr).

    :raises ConfigError: the log file cannot be opened (``logging.file``).
    """
    if settings is None:
        level, json_format = logging.WARNING, False
    else:
        level = logging.getLevelName(settings.logging.level)
        json_format = settings.logging.format == "json"
    if serving is None:
        level = max(level, logging.WARNING)
    handler = _log_handler(settings, serving)
    if json_format:
        handler.setFormatter(_JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in root.handlers:
        if getattr(old, _OURS, False):
            old.close()  # a file we opened (closing a stream handler leaves the stream)
    setattr(handler, _OURS, True)
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Alembic announces every migration step at INFO; that is noise on each command.
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))


def _log_handler(settings: Settings | None, serving: str | None) -> logging.Handler:
    config = settings.logging if settings is not None else None
    output = None if config is None else config.output or ("file" if config.file else None)
    if output == "stdout":
        return logging.StreamHandler(sys.stdout)
    if output != "file" or serving is None or settings is None:
        return logging.StreamHandler(sys.stderr)  # one-shot commands: their own stderr
    if not settings.logging.file:
        raise ConfigError("logging.output is file: give logging.file", field="logging.file")
    path = component_log(settings.base_dir() / settings.logging.file, serving)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return logging.FileHandler(path, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"logging.file: cannot write {path}: {exc.strerror or exc}", field="logging.file"
        ) from exc


def component_log(path: Path, component: str) -> Path:
    """The log file of one component: ``tss.log`` -> ``tss-worker.log``."""
    return path.with_name(f"{path.stem}-{component}{path.suffix or '.log'}")


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
