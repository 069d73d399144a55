"""The CLI against a running server (``--url`` / ``TSS_URL``): :class:`RemoteBackend` calls
the REST API through :class:`~tss.client.AsyncClient` and turns its answers back into the
core records the commands print, so the output is the same as against the local store.

Each operation is one request (a listing one per page): ``tss job apply`` sends the file's
jobs as one batch, which the server checks whole before it stores any, and ``tss job run
--count N`` asks for N runs at once. One difference remains: ``tss execute-job`` queues
the run for the server's workers instead of running it in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from tss.api.schemas.history import VersionOut
from tss.cli.backends.base import Applied, Backend
from tss.cli.backends.wire import (
    alert_of,
    attempt_of,
    flow_summary_of,
    graph_of,
    job_of,
    silence_of,
    token_of,
)
from tss.cli.output import in_source, status_console
from tss.client import AsyncClient
from tss.core.alerts import Alert, Silence
from tss.core.flows import FlowGraph, FlowSummary
from tss.core.history import AuditEntry, Change, JobVersion
from tss.core.models import Attempt, Job, JobSpec, Page, Role, Run, RunFilter, Token, WorkerInfo
from tss.core.retention import PruneReport
from tss.errors import (
    Conflict,
    Forbidden,
    TSSError,
    Unauthorized,
    Unavailable,
    ValidationError,
)
from tss.store.paging import collect

#: the most items the API gives in one page
PAGE = 500
#: seconds between two looks at a run that is being waited for
POLL = 0.3


def server_url(url: str) -> str:
    """``url`` as the client wants it: no trailing ``/`` nor ``/api/v1`` (the server's
    banner shows the API's address with it).

    :raises ValidationError: not an ``http(s)://host[:port]`` URL.
    """
    text = url.strip().rstrip("/").removesuffix("/api/v1")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(
            f"--url: {url!r} is not a server URL (e.g. http://127.0.0.1:8000)", field="url"
        )
    return text


class RemoteBackend(Backend):
    """A TSS server's REST API, with an API token (``--token`` / ``TSS_TOKEN``)."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = server_url(url)
        self.where = self.url
        self.token = token or None
        self._client: AsyncClient | None = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise RuntimeError("RemoteBackend used outside its session()")
        return self._client

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        async with AsyncClient(self.url, self.token) as client:
            self._client = client
            try:
                yield
            except TSSError as exc:
                raise self.explain(exc) from exc
            finally:
                self._client = None

    def session(self) -> AbstractAsyncContextManager[None]:
        return self._session()

    def explain(self, exc: TSSError) -> TSSError:
        """``exc`` with what a CLI user needs to know: the server, and how to give a token."""
        if isinstance(exc, Forbidden):
            return Forbidden(f"{self.url} refused: {exc.message}", field=exc.field)
        if isinstance(exc, Unauthorized):
            if self.token is None:
                message = (
                    f"{self.url} needs an API token: give one with --token or TSS_TOKEN "
                    "(an admin makes one with 'tss token create')"
                )
            else:
                message = f"{self.url} refused the token: {exc.message}; check --token or TSS_TOKEN"
            return Unauthorized(message, field="token")
        if isinstance(exc, Unavailable) and self.url not in exc.message:
            return Unavailable(f"{self.url}: {exc.message}", field=exc.field)
        return exc

    # -- jobs -----------------------------------------------------------------------------

    async def list_jobs(
        self,
        *,
        limit: int,
        prefix: str | None = None,
        tag: str | None = None,
        pool: str | None = None,
        paused: bool | None = None,
    ) -> list[Job]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_jobs(
                prefix=prefix, tag=tag, pool=pool, paused=paused, limit=size, cursor=cursor
            )
            return Page([job_of(j) for j in page.items], page.next_cursor, page.total)

        return await collect(fetch, limit, page_size=PAGE)

    async def get_job(self, name: str) -> Job:
        return job_of(await self.client.get_job(name))

    async def next_fires(self, name: str, n: int) -> list[datetime]:
        return await self.client.next_fires(name, n)

    async def apply(
        self, specs: list[JobSpec], *, where: str, create_only: bool = False
    ) -> Applied:
        try:
            return await self.client.apply_jobs(specs, create_only=create_only)
        except (ValidationError, Conflict) as exc:
            raise in_source(where, exc) from exc

    async def delete_job(self, name: str, *, force: bool, history: bool = False) -> None:
        await self.client.delete_job(name, force=force, history=history)

    async def set_paused(
        self, name: str, paused: bool, *, note: str | None = None, until: str | None = None
    ) -> Job:
        client = self.client
        if paused:
            return job_of(await client.pause_job(name, note=note, until=until))
        return job_of(await client.resume_job(name))

    async def set_paused_matching(
        self,
        paused: bool,
        *,
        prefix: str | None = None,
        tag: str | None = None,
        pool: str | None = None,
        all: bool = False,
        note: str | None = None,
        until: str | None = None,
    ) -> list[str]:
        selection = {"prefix": prefix, "tag": tag, "pool": pool, "all": all or None}
        if paused:
            done = await self.client.pause_jobs(**selection, note=note, until=until)
        else:
            done = await self.client.resume_jobs(**selection)
        return done.items

    async def trigger(self, name: str, *, params: dict[str, Any] | None, count: int) -> list[Run]:
        return list(await self.client.trigger_many(name, count, params=params))

    async def execute(self, name: str, *, params: dict[str, Any] | None) -> Run:
        (run,) = await self.trigger(name, params=params, count=1)
        if not any(w.state == "up" for w in await self.list_workers()):
            status_console.print(
                f"[yellow]no worker of {self.url} is up[/]: run {run.id} waits until one starts"
            )
        return await _until(lambda: self.get_run(run.id), run)

    # -- runs -----------------------------------------------------------------------------

    async def list_runs(self, run_filter: RunFilter, *, limit: int) -> list[Run]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_runs(
                job=run_filter.job,
                state=list(run_filter.states) or None,
                since=run_filter.since,
                until=run_filter.until,
                limit=size,
                cursor=cursor,
            )
            return Page(list(page.items), page.next_cursor, page.total)

        return await collect(fetch, limit, page_size=PAGE)

    async def get_run(self, run_id: str) -> Run:
        return await self.client.get_run(run_id)

    async def get_run_attempts(self, run_id: str) -> tuple[Run, list[Attempt]]:
        out = await self.client.get_run(run_id)
        return out, [attempt_of(out.id, a) for a in out.attempts or []]

    async def get_logs(
        self, run_id: str, attempt: int, *, stdout_offset: int = 0, stderr_offset: int = 0
    ) -> tuple[str, str]:
        logs = await self.client.run_logs(
            run_id, attempt=attempt, stdout_offset=stdout_offset, stderr_offset=stderr_offset
        )
        return logs.stdout, logs.stderr

    async def cancel_run(self, run_id: str) -> Run:
        return await self.client.cancel_run(run_id)

    async def retry_run(self, run_id: str) -> Run:
        return await self.client.retry_run(run_id)

    # -- workers and tokens ---------------------------------------------------------------

    async def flow_graph(self, name: str) -> FlowGraph:
        return graph_of(await self.client.job_flow(name))

    async def flow_runs(self, flow_id: str) -> list[Run]:
        return list((await self.client.get_flow(flow_id)).runs)

    async def list_flows(self, *, limit: int) -> list[FlowSummary]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_flows(limit=size, cursor=cursor)
            return Page([flow_summary_of(f) for f in page.items], page.next_cursor)

        return await collect(fetch, limit, page_size=PAGE)

    async def list_workers(self) -> list[WorkerInfo]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_workers(limit=size, cursor=cursor)
            return Page(list(page.items), page.next_cursor, page.total)

        return await collect(fetch, None, page_size=PAGE)

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None
    ) -> tuple[Token, str]:
        made = await self.client.create_token(name, role, expires_at=expires_at)
        return token_of(made), made.token

    async def list_tokens(self) -> list[Token]:
        return [token_of(t) for t in (await self.client.list_tokens()).items]

    async def revoke_token(self, id_or_name: str) -> None:
        await self.client.revoke_token(id_or_name)

    # -- versions and the audit log -------------------------------------------------------

    async def job_versions(self, name: str) -> list[JobVersion]:
        return [version_of(v) for v in (await self.client.job_versions(name)).items]

    async def job_diff(
        self, name: str, version: int, against: int | None
    ) -> tuple[JobVersion, int | None, list[Change]]:
        found = await self.client.job_version(name, version, against=against)
        changes = [Change(c.path, c.old, c.new, c.kind) for c in found.changes]  # type: ignore[arg-type]
        return version_of(found), found.against, changes

    async def rollback_job(self, name: str, to: int) -> int | None:
        return (await self.client.rollback_job(name, to)).version

    async def list_audit(
        self,
        *,
        limit: int,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_audit(
                actor=actor, action=action, target=target, since=since, until=until,
                limit=size, cursor=cursor,
            )  # fmt: skip
            items = [
                AuditEntry(e.id, e.at, e.actor, e.action, e.target, e.details) for e in page.items
            ]
            return Page(items, page.next_cursor)

        return await collect(fetch, limit, page_size=PAGE)

    # -- alerts and silences --------------------------------------------------------------

    async def list_alerts(
        self,
        *,
        limit: int,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
    ) -> list[Alert]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page = await self.client.list_alerts(
                job=job, state=state, channel=channel, limit=size, cursor=cursor
            )
            return Page([alert_of(a) for a in page.items], page.next_cursor, page.total)

        return await collect(fetch, limit, page_size=PAGE)

    async def get_alert(self, alert_id: str) -> Alert:
        return alert_of(await self.client.get_alert(alert_id))

    async def test_alert(self, channel: str) -> Alert:
        return alert_of(await self.client.test_alert(channel))

    async def silence(
        self, job: str, *, until: datetime | None, duration: float | None, note: str
    ) -> Silence:
        made = await self.client.silence_job(job, until=until, duration=duration, note=note)
        return silence_of(made)

    async def unsilence(self, job: str) -> None:
        await self.client.unsilence_job(job)

    async def list_silences(self) -> list[Silence]:
        return [silence_of(s) for s in (await self.client.list_silences()).items]

    async def prune(self, *, dry_run: bool, job: str | None) -> PruneReport:
        out = await self.client.prune(dry_run=dry_run, job=job)
        return PruneReport(out.dry_run, dict(out.counts), dict(out.runs_by_job))

    async def job_fires(
        self,
        name: str,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = await self.client.job_fires(
            name, since=since, until=until, limit=limit, cursor=cursor
        )
        return page.model_dump(mode="json")

    async def backfill(
        self,
        name: str,
        *,
        start: datetime,
        end: datetime,
        only_missed: bool,
        dry_run: bool,
        max_active: int | None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"from": start, "to": end, "only_missed": only_missed,
                                "dry_run": dry_run, "max_active": max_active}  # fmt: skip
        return (await self.client.backfill_job(name, **body)).model_dump(mode="json")

    async def backfills(self, name: str, *, limit: int) -> list[dict[str, Any]]:
        found = await self.client.backfills(name, limit=limit)
        return [b.model_dump(mode="json") for b in found]

    async def stop_backfill(self, name: str, backfill_id: str) -> dict[str, Any]:
        return (await self.client.stop_backfill(name, backfill_id)).model_dump(mode="json")

    async def upcoming(self, *, hours: float, limit: int) -> dict[str, Any]:
        return (await self.client.upcoming(hours=hours, limit=limit)).model_dump(mode="json")


async def _until(fetch: Callable[[], Awaitable[Run]], run: Run) -> Run:
    """Poll ``fetch`` until the run has ended."""
    while not run.state.terminal:
        await asyncio.sleep(POLL)
        run = await fetch()
    return run


def version_of(out: VersionOut) -> JobVersion:
    """A job version as the API gave it (its secret values masked unless an admin asked)."""
    return JobVersion(out.job, out.version, out.at, out.actor, out.change, out.spec)  # type: ignore[arg-type]
