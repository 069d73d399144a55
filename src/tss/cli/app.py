"""The ``tss`` command: the root Typer app, its global options, the command groups, and
:func:`main`.

The commands live one group per module (:mod:`~tss.cli.jobs`, :mod:`~tss.cli.runs`, ...) and
take what the global options decided from :mod:`tss.cli.context`; none imports this module.
Errors travel up as :class:`tss.errors.TSSError` and :func:`main` turns each into one
``error:`` line and an exit code (2 for bad input, 1 for failures).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from tss._version import __version__
from tss.cli import admin, alerts, flows, history, jobs, ledger, runs, serve, tokens, trigger
from tss.cli.context import CLIState
from tss.cli.output import BAD_INPUT, print_error, report_error

app = typer.Typer(
    name="tss",
    help="TSS: schedule jobs, run them on workers, and see what happened.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


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
        help="A TSS server (http://HOST:PORT): job, run, flow, workers, execute-job, token "
        "and alert commands then go through its API instead of the config's store.",
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


def _register() -> None:
    app.add_typer(jobs.app, name="job", help="Define, inspect and trigger jobs.")
    app.add_typer(runs.app, name="run", help="Inspect, cancel and retry runs.")
    app.add_typer(flows.app, name="flow", help="Show flows: dependency trees and flow runs.")
    app.add_typer(tokens.app, name="token", help="Make, list and revoke API tokens.")
    app.add_typer(
        alerts.app, name="alert", help="See the alerts sent, test a channel, silence a job."
    )
    app.add_typer(admin.config_app, name="config", help="Show and check the configuration.")
    app.add_typer(admin.db_app, name="db", help="Manage the store's schema.")
    app.command("server")(serve.server)
    app.command("api")(serve.api)
    app.command("scheduler")(serve.scheduler)
    app.command("worker")(serve.worker)
    app.command("execute-job")(trigger.execute_job)
    app.command("workers")(admin.workers)
    jobs.app.command("history")(history.job_history)
    jobs.app.command("rollback")(history.job_rollback)
    jobs.app.command("fires")(ledger.job_fires)
    jobs.app.command("backfill")(ledger.job_backfill)
    jobs.app.command("backfills")(ledger.job_backfills)
    jobs.app.command("upcoming")(ledger.job_upcoming)
    app.command("audit")(history.audit)


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
