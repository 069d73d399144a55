"""``tss server``, ``tss scheduler`` and ``tss worker``: the long-running processes.

Each serves until SIGTERM or SIGINT, then shuts down gracefully (a worker hands back or
finishes what it holds); a second SIGINT exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

import typer

from tss._aio import wait_first
from tss._urls import mask_url
from tss._version import __version__
from tss.cli.context import CLIState, settings_of
from tss.cli.output import console, status_console
from tss.config import Settings
from tss.core.workers import check_labels
from tss.errors import BrokerError, ConfigError, StoreError, Unavailable, ValidationError
from tss.tasks._env import is_tss_name

if TYPE_CHECKING:
    from collections.abc import Coroutine
    from typing import Any

    from tss.service import TSSApp


log = logging.getLogger(__name__)


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            if sig is signal.SIGINT:
                status_console.print("second interrupt: exiting now")
                os._exit(130)
            return
        status_console.print(
            f"{sig.name}: stopping gracefully (press Ctrl+C again to exit at once)"
        )
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, on_signal, sig)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Unix
            signal.signal(sig, lambda n, _: loop.call_soon_threadsafe(on_signal, signal.Signals(n)))


def _banner(
    settings: Settings,
    role: str,
    jobs: list[tuple[str, str]] | None,
    url: str | None,
) -> None:
    w = settings.worker
    console.print(f"[bold]TSS {__version__}[/] {role}")
    console.print(f"  store   {mask_url(settings.store.url)}", markup=False)
    console.print(f"  broker  {mask_url(settings.broker.url)}", markup=False)
    if url is not None:
        auth = "" if settings.api.auth else " (auth off: loopback only)"
        console.print(f"  api     {url}/api/v1  docs {url}/api/v1/docs{auth}", markup=False)
        if settings.dashboard.enabled:
            console.print(f"  web     {url}/dashboard", markup=False)
    if "worker" in role:
        console.print(
            f"  worker  {w.id or '(id from host and pid)'}: pools {', '.join(w.pools)}; "
            f"concurrency {w.concurrency}",
            markup=False,
        )
    if jobs is not None:
        console.print(f"  jobs    {applied_summary(settings, jobs)}", markup=False)
    console.print("  press Ctrl+C to stop", style="dim")


def applied_summary(settings: Settings, jobs: list[tuple[str, str]]) -> str:
    """What applying the config's jobs did, as a sentence: "applied 3 jobs from tss.yaml:
    1 created, 2 unchanged"."""
    source = os.path.basename(settings.source) if settings.source else "the config"
    if not jobs:
        return f"none in {source} (jobs:, job_files:)"
    counts = {a: sum(1 for _, b in jobs if b == a) for a in ("created", "updated", "unchanged")}
    detail = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
    noun = "job" if len(jobs) == 1 else "jobs"
    return f"applied {len(jobs)} {noun} from {source}: {detail}"


#: TSS variables a serving process keeps once its settings are read (not secrets)
_KEPT = frozenset({"TSS_DEBUG"})


def forget_tss_environ() -> list[str]:
    """Remove the ``TSS_*`` variables (tokens, URLs with passwords) from this process's
    environment once the settings hold them, so that in-process ``python`` tasks and every
    child cannot read them from ``os.environ``; return the names removed."""
    names = [n for n in os.environ if is_tss_name(n) and n.upper() not in _KEPT]
    for name in names:
        del os.environ[name]
    return names


async def _serve(
    settings: Settings,
    *,
    scheduler: bool,
    worker: bool,
    apply_jobs: bool,
    http: bool,
    dummies: tuple[str, int] | None = None,
) -> None:
    from tss.service import TSSApp

    forget_tss_environ()

    sock = None
    if http:
        from tss.web import address, bind, check_listen, serve_http

        check_listen(settings)
        if not (scheduler or worker) and settings.broker.url.startswith("local:"):
            raise ConfigError(
                "broker.url: tss api serves the API alone, and runs it creates reach workers "
                "in other processes only through a shared broker: use broker.url: store://",
                field="broker.url",
            )
        sock = bind(settings.server.host, settings.server.port)
    tss = TSSApp(settings)
    specs = tss.jobs.config_jobs() if apply_jobs else []
    stop = asyncio.Event()
    # Signals first: Ctrl+C also ends the wait for a store that is down.
    _install_signals(stop)
    tasks = []
    if sock is not None:
        # Served before the store is reached: /healthz answers and /readyz says what is down
        # while the store is away (the port would otherwise accept and never answer).
        tasks.append(asyncio.create_task(serve_http(tss, sock, stop)))
    try:
        if not await _start(tss, stop, address(sock, settings) if sock else None):
            await asyncio.gather(*tasks)
            status_console.print("stopped")
            return
        applied: list[tuple[str, str]] | None = None
        if apply_jobs:
            # Several schedulers may start at once on one config: apply is an upsert that
            # tolerates another one creating or updating the same jobs meanwhile.
            tss.not_ready = Unavailable("applying the config's jobs")
            applied = list(await tss.jobs.apply(specs, where=settings.source or "", actor="config"))
            tss.not_ready = None
            log.info("%s", applied_summary(settings, applied))
        if dummies is not None:
            job, count = dummies
            made = await tss.runs.trigger(job, count=count, actor="cli:worker -d")
            status_console.print(f"queued {len(made)} runs of {job} for this worker (-d)")
        if scheduler or worker:
            tasks.append(asyncio.create_task(tss.serve(stop, scheduler=scheduler, worker=worker)))
        # One turn of the loop runs each up to its first await: a refused setup (the
        # local:// broker split across processes) raises here, before the banner.
        await asyncio.sleep(0)
        for task in tasks:
            if task.done():
                task.result()
        roles = (("api", http), ("scheduler", scheduler), ("worker", worker))
        role = " + ".join(n for n, on in roles if on)
        _banner(settings, role, applied, address(sock, settings) if sock else None)
        # What start-up made (FastAPI, pydantic, SQLAlchemy: ~130,000 objects) lives as long
        # as the process: keep it out of every later full collection, which would walk it.
        gc.collect()
        gc.freeze()
        await asyncio.gather(*tasks)
        status_console.print("stopped")
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        if sock is not None:
            sock.close()
        await tss.close()


async def _serve_remote(settings: Settings, url: str, token: str | None) -> None:
    """A worker that takes and reports runs through the server's API at ``url`` (the worker
    protocol): no store or broker credentials on this host."""
    from tss.tasks.plugins import add_python_path, load_task_types
    from tss.worker_client import serve_remote

    forget_tss_environ()
    # One line per request to the server would drown the worker's own log.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))
    add_python_path(settings)  # python jobs import from here, as under tss server
    registry = load_task_types(settings)
    stop = asyncio.Event()
    _install_signals(stop)
    w = settings.worker
    console.print(f"[bold]TSS {__version__}[/] worker")
    console.print(f"  server  {mask_url(url)} (the worker protocol)", markup=False)
    console.print(
        f"  worker  {w.id or '(id from host and pid)'}: pools {', '.join(w.pools)}; "
        f"task types {', '.join(registry.names())}; concurrency {w.concurrency}",
        markup=False,
    )
    console.print("  press Ctrl+C to stop", style="dim")
    await serve_remote(w, registry, url, token, stop)
    status_console.print("stopped")


#: seconds between tries to reach the store and broker at start
_RETRY_EVERY = 0.5
#: seconds between repeats of the same reason while they stay unreachable
_SAY_AGAIN = 30.0
#: seconds of a first connect that has not answered after which the API's address is said
_SLOW_START = 1.0


async def _start(tss: TSSApp, stop: asyncio.Event, url: str | None) -> bool:
    """Connect to the store and broker, trying again every ``_RETRY_EVERY`` seconds while
    they cannot be reached: a server started before its database (or during a restart of
    it) waits rather than dying, its API (at ``url``) serving health meanwhile, and is ready
    within a moment of the store coming back. A connect attempt is cheap, so there is no
    back-off; the reason is printed when it changes and every ``_SAY_AGAIN`` seconds.
    False if ``stop`` came first.

    :raises StoreError: a local store (SQLite) cannot be opened: waiting will not help.
    """
    loop = asyncio.get_running_loop()
    said, said_at = "", float("-inf")
    tss.not_ready = Unavailable("connecting to the store and the broker")
    announced = False

    def announce() -> None:
        # Where the API is, as soon as the store is slow to answer or refuses (not after a
        # connect timeout): the banner comes only once it is reached.
        nonlocal announced
        if not announced and url is not None:
            announced = True
            status_console.print(
                f"api {url}: /readyz answers 503 until the store and broker are reached",
                markup=False,
            )

    slow = loop.call_later(_SLOW_START, announce)
    try:
        while not stop.is_set():
            try:
                if await _unless_stopped(tss.start(), stop):
                    tss.not_ready = None
                    return True
                break
            except (StoreError, BrokerError) as exc:
                await tss.close()
                if not tss.store_is_remote and isinstance(exc, StoreError):
                    raise  # a file that cannot be opened will not open by waiting
                announce()
                tss.not_ready = exc
                if str(exc) != said or loop.time() - said_at >= _SAY_AGAIN:
                    said, said_at = str(exc), loop.time()
                    status_console.print(f"{exc}; retrying every {_RETRY_EVERY:g}s", markup=False)
                await wait_first(stop, timeout=_RETRY_EVERY)
    finally:
        slow.cancel()
    await tss.close()
    return False


async def _unless_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Await ``work``; if ``stop`` is set first, cancel it and return False."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


def _run(main: Coroutine[Any, Any, None]) -> None:
    """Serve, then exit at once: a task thread that outlived the grace period cannot be
    killed (the worker abandoned it), and the interpreter would otherwise wait for it."""
    asyncio.run(main)
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if others:
        log.debug("exiting without joining %d threads", len(others))
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def server(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Run the API, a scheduler and a worker in one process, after applying the config's jobs."""
    settings = settings_of(ctx, serving="server")
    _listen_on(settings, host, port)
    scheduler, worker = settings.scheduler.enabled, settings.worker.enabled
    if not scheduler and not worker:
        raise ConfigError(
            "scheduler.enabled and worker.enabled are both false: there is nothing to serve"
        )
    _run(_serve(settings, scheduler=scheduler, worker=worker, apply_jobs=True, http=True))


def api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to listen on."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Port to listen on."),
) -> None:
    """Serve the REST API only (schedulers and workers run elsewhere on the same store).

    It does not apply the config's jobs: the schedule belongs to the schedulers (which
    apply them), and API replicas deployed apart from them may carry a stale config."""
    settings = settings_of(ctx, serving="api")
    _listen_on(settings, host, port)
    _run(_serve(settings, scheduler=False, worker=False, apply_jobs=False, http=True))


def _listen_on(settings: Settings, host: str | None, port: int | None) -> None:
    changes = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if changes:
        settings.server = settings.server.model_copy(update=changes)


def scheduler(ctx: typer.Context) -> None:
    """Run a scheduler only, after applying the config's jobs (workers run elsewhere; needs
    a shared broker such as store://)."""
    settings = settings_of(ctx, serving="scheduler")
    _run(_serve(settings, scheduler=True, worker=False, apply_jobs=True, http=False))


def worker(
    ctx: typer.Context,
    worker_id: str | None = typer.Option(None, "--worker-id", help="A stable id for this worker."),
    pool: list[str] = typer.Option(
        [], "--pool", help="A pool to take runs from (repeatable; default: the config's)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", min=1, max=10000, help="Runs at once."
    ),
    label: list[str] = typer.Option(
        [],
        "--label",
        help="A label this worker offers, `gpu` or `region=eu` (repeatable; replaces the "
        "config's worker.labels).",
    ),
    dummy: tuple[str, int] | None = typer.Option(
        None,
        "-d",
        "--dummy",
        help="TASK N: queue N runs of the job TASK when the worker starts, to try it out "
        "(TSSv5's `worker.py -d`).",
        metavar="TASK N",
    ),
) -> None:
    """Run a worker only (a scheduler runs elsewhere; needs a shared broker such as store://).
    With --url and a worker token it takes and reports runs through that server's API
    instead (no store or broker credentials here; see docs/workers.md)."""
    settings = settings_of(ctx, serving="worker")
    changes: dict[str, object] = {}
    if worker_id:
        changes["id"] = worker_id
    if pool:
        changes["pools"] = list(dict.fromkeys(pool))
    if concurrency is not None:
        changes["concurrency"] = concurrency
    if label:
        try:
            changes["labels"] = check_labels(label)
        except ValueError as exc:
            raise ValidationError(f"--label: {exc}", field="--label") from None
    if changes:
        settings.worker = settings.worker.model_copy(update=changes)
    state = ctx.find_object(CLIState) or CLIState()
    server = state.url or settings.worker.status_registry
    if server:
        if dummy is not None:
            raise ValidationError(
                "-d TASK N needs the store: it cannot be used with --url", field="--dummy"
            )
        _run(_serve_remote(settings, server, state.token))
        return
    if dummy is not None:
        from tss.service.runs import MAX_COUNT

        if not 1 <= dummy[1] <= MAX_COUNT:
            raise ValidationError(f"-d TASK N: N must be between 1 and {MAX_COUNT}", field="N")
    _run(
        _serve(settings, scheduler=False, worker=True, apply_jobs=False, http=False, dummies=dummy)
    )
