"""The ``tss`` command: the root Typer app, global options, logging and the async bridge.

Commands that work on jobs, runs, workers and tokens call a :class:`tss.cli.backend.Backend`
that :func:`run_async` picks once: the config's store, or a server's API when ``--url`` (or
``TSS_URL``) is given. They hold no business rules and no "if remote" branches. Errors
travel up as :class:`tss.errors.TSSError` and :func:`main` turns each into one ``error:``
line and an exit code (2 for bad input, 1 for failures).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import typer

from tss import __version__
from tss.cli.output import BAD_INPUT, print_error, report_error
from tss.config import Settings, load_config
from tss.errors import NotFound

if TYPE_CHECKING:
    from tss.app import TSSApp
    from tss.cli.backend import Backend

T = TypeVar("T")

app = typer.Typer(
    name="tss",
    help="TSS: schedule jobs, run them on workers, and see what happened.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


@dataclass
class CLIState:
    """What the global options decided, shared with every command through ``ctx.obj``."""

    config: str | None = None
    settings: Settings | None = None
    #: a server's URL: the commands go through its API instead of the local store
    url: str | None = None
    #: the API token for ``url``
    token: str | None = None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tss {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    config: str | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: $TSS_CONFIG, ./config.yaml).",
        metavar="FILE",
    ),
    url: str | None = typer.Option(
        None,
        "--url",
        envvar="TSS_URL",
        help="A TSS server (http://HOST:PORT): job, run, workers, execute-job and token "
        "commands then go through its API instead of the config's store.",
        metavar="URL",
    ),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="TSS_TOKEN",
        help="The API token for --url (see 'tss token create').",
        metavar="TOKEN",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    ctx.obj = CLIState(config=config, url=url or None, token=token or None)


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
        from tss.cli.remote import RemoteBackend

        setup_logging(None)
        return RemoteBackend(state.url, state.token)
    from tss.cli.backend import LocalBackend

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
        from tss.cli.remote import server_url

        return server_url(state.url)
    from tss.cli.where import where

    return where(settings_of(ctx))


def run_local(ctx: typer.Context, fn: Callable[[TSSApp], Coroutine[Any, Any, T]]) -> T:
    """Open a :class:`TSSApp` from the settings, start it, await ``fn(app)``, close it
    (for commands that only make sense on the config's store)."""
    settings = settings_of(ctx)

    async def body() -> T:
        from tss.app import TSSApp

        async with TSSApp(settings) as tss_app:
            return await fn(tss_app)

    return asyncio.run(body())


def _register() -> None:
    # Imported here so each module can import `app`, `run_async` and `settings_of` from this one.
    from tss.cli import admin, flows, jobs, runs, serve, tokens, trigger

    app.add_typer(jobs.app, name="job", help="Define, inspect and trigger jobs.")
    app.add_typer(runs.app, name="run", help="Inspect, cancel and retry runs.")
    app.add_typer(flows.app, name="flow", help="Show flows: dependency trees and flow runs.")
    app.add_typer(tokens.app, name="token", help="Make, list and revoke API tokens.")
    app.add_typer(admin.config_app, name="config", help="Show and check the configuration.")
    app.add_typer(admin.db_app, name="db", help="Manage the store's schema.")
    app.command("server")(serve.server)
    app.command("api")(serve.api)
    app.command("scheduler")(serve.scheduler)
    app.command("worker")(serve.worker)
    app.command("execute-job")(trigger.execute_job)
    app.command("workers")(admin.workers)


_register()


#: global options that may also follow the command, each with its value
_GLOBAL = frozenset({"--config", "-c", "--url", "--token"})


def hoist_globals(argv: Sequence[str]) -> list[str]:
    """Move ``--config FILE`` / ``-c FILE``, ``--url URL`` and ``--token TOKEN`` to the
    front, so that they may follow the command (``tss server --config examples/config.yaml``,
    ``tss job list --url http://host:8000``) as well as precede it."""
    head: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL and i + 1 < len(argv):
            head += argv[i : i + 2]
            i += 2
            continue
        if arg.partition("=")[0] in _GLOBAL - {"-c"} and "=" in arg:
            head.append(arg)
        else:
            rest.append(arg)
        i += 1
    return head + rest


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``tss`` console script."""
    command = typer.main.get_command(app)
    args = hoist_globals(sys.argv[1:] if argv is None else argv)
    try:
        code = command.main(args=args, prog_name="tss", standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument
        ctx = getattr(exc, "ctx", None)
        if type(exc).__name__ == "NoArgsIsHelpError":
            sys.exit(0)  # Typer printed the help while raising this
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        print_error(f"{exc.format_message()}{hint}")
        sys.exit(getattr(exc, "exit_code", BAD_INPUT))
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except Exception as exc:
        sys.exit(report_error(exc))
    sys.exit(code if isinstance(code, int) else 0)
