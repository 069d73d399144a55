"""The CLI on the config's own store: :class:`LocalBackend` turns each operation into a call
of the node's services (:mod:`tss.service`), opened for the command; it never reads the
store itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tss.cli.backends.base import Applied, Backend
from tss.cli.where import missing_store, where
from tss.core.alerts import Alert, Silence
from tss.core.flows import FlowGraph, FlowSummary
from tss.core.history import AuditEntry, Change, JobVersion, compared_with
from tss.core.models import Attempt, Job, JobSpec, Page, Role, Run, RunFilter, Token, WorkerInfo
from tss.core.retention import PruneReport
from tss.definitions import check_imports
from tss.store.paging import collect

if TYPE_CHECKING:
    from tss.config import Settings
    from tss.service import TSSApp


class LocalBackend(Backend):
    """The store of the config, through a :class:`TSSApp` opened for the command. Unless
    ``create``, a store that was never created is refused, not created."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        from tss.service import TSSApp

        self.tss: TSSApp = TSSApp(settings)
        self.create = create
        self.where = where(settings)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        if not self.create and not await self.tss.admin.store_exists():
            await self.tss.close()  # what looking opened (a Redis connection)
            raise missing_store(self.tss.settings)
        await self.tss.start()
        try:
            yield
        finally:
            await self.tss.close()

    def session(self) -> AbstractAsyncContextManager[None]:
        return self._session()

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
            page, _ = await self.tss.reports.list_jobs(
                prefix=prefix, tag=tag, pool=pool, paused=paused, limit=size, cursor=cursor
            )
            return page

        return await collect(fetch, limit)

    async def get_job(self, name: str) -> Job:
        return await self.tss.reports.get_job(name)

    async def next_fires(self, name: str, n: int) -> list[datetime]:
        return await self.tss.jobs.next_fires(name, n)

    async def apply(
        self, specs: list[JobSpec], *, where: str, create_only: bool = False
    ) -> Applied:
        # Here, in the user's own process, a python job's function is imported before
        # anything is stored, so a typo fails now; the API process never imports one.
        check_imports(specs, where=f"{where}: " if where else "")
        done = await self.tss.jobs.apply(specs, where=where, create_only=create_only, actor="cli")
        return list(done)

    async def delete_job(self, name: str, *, force: bool, history: bool = False) -> None:
        await self.tss.jobs.delete(name, force=force, history=history, actor="cli")

    async def set_paused(
        self, name: str, paused: bool, *, note: str | None = None, until: str | None = None
    ) -> Job:
        return await self.tss.jobs.set_paused(name, paused, note=note, until=until, actor="cli")

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
        from tss.service.pauses import PauseFilter

        selection = PauseFilter(prefix=prefix, tag=tag, pool=pool, all=all)
        if paused:
            return await self.tss.jobs.pause_matching(
                selection, note=note, until=until, actor="cli"
            )
        return await self.tss.jobs.resume_matching(selection, actor="cli")

    async def trigger(self, name: str, *, params: dict[str, Any] | None, count: int) -> list[Run]:
        made = await self.tss.runs.trigger(name, params=params, count=count, actor="cli")
        return [run for run, _ in made]

    async def execute(self, name: str, *, params: dict[str, Any] | None) -> Run:
        return await self.tss.runs.execute_now(name, params=params, actor="cli")

    # -- runs -----------------------------------------------------------------------------

    async def list_runs(self, run_filter: RunFilter, *, limit: int) -> list[Run]:
        async def fetch(size: int, cursor: str | None) -> Page:
            page, _ = await self.tss.reports.list_runs(run_filter, limit=size, cursor=cursor)
            return page

        return await collect(fetch, limit)

    async def get_run(self, run_id: str) -> Run:
        return await self.tss.reports.get_run(run_id)

    async def get_run_attempts(self, run_id: str) -> tuple[Run, list[Attempt]]:
        run, attempts, _ = await self.tss.reports.run_detail(run_id)
        return run, attempts

    async def get_logs(
        self, run_id: str, attempt: int, *, stdout_offset: int = 0, stderr_offset: int = 0
    ) -> tuple[str, str]:
        logs = await self.tss.reports.logs(
            run_id, attempt, stdout_from=stdout_offset, stderr_from=stderr_offset
        )
        return logs.stdout, logs.stderr

    async def cancel_run(self, run_id: str) -> Run:
        return await self.tss.runs.cancel(run_id, actor="cli")

    async def retry_run(self, run_id: str) -> Run:
        return await self.tss.runs.retry(run_id, actor="cli")

    # -- flows ----------------------------------------------------------------------------

    async def flow_graph(self, name: str) -> FlowGraph:
        return await self.tss.jobs.flow_graph(name)

    async def flow_runs(self, flow_id: str) -> list[Run]:
        return await self.tss.runs.flow_runs(flow_id)

    async def list_flows(self, *, limit: int) -> list[FlowSummary]:
        return await collect(
            lambda size, cursor: self.tss.reports.list_flows(limit=size, cursor=cursor), limit
        )

    # -- workers and tokens ---------------------------------------------------------------

    async def list_workers(self) -> list[WorkerInfo]:
        return await self.tss.admin.list_workers()

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None
    ) -> tuple[Token, str]:
        return await self.tss.admin.create_token(name, role, expires_at=expires_at, actor="cli")

    async def list_tokens(self) -> list[Token]:
        return await self.tss.admin.list_tokens()

    async def revoke_token(self, id_or_name: str) -> None:
        await self.tss.admin.revoke_tokens(id_or_name, actor="cli")

    # -- versions and the audit log -------------------------------------------------------

    async def job_versions(self, name: str) -> list[JobVersion]:
        return await self.tss.history.versions(name)

    async def job_diff(
        self, name: str, version: int, against: int | None
    ) -> tuple[JobVersion, int | None, list[Change]]:
        found = await self.tss.history.version(name, version)
        changes = await self.tss.history.diff(name, version, against)
        return found, compared_with(version, against), changes

    async def rollback_job(self, name: str, to: int) -> int | None:
        made = await self.tss.history.rollback(name, to, actor="cli")
        return None if made is None else made.version

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
            return await self.tss.audit.list(
                actor=actor, action=action, target=target, since=since, until=until,
                limit=size, cursor=cursor,
            )  # fmt: skip

        return await collect(fetch, limit)

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
            return await self.tss.alerts.list_alerts(
                job=job, state=state, channel=channel, limit=size, cursor=cursor
            )

        return await collect(fetch, limit)

    async def get_alert(self, alert_id: str) -> Alert:
        return await self.tss.alerts.get(alert_id)

    async def test_alert(self, channel: str) -> Alert:
        return await self.tss.alerts.test(channel, by="cli")

    async def silence(
        self, job: str, *, until: datetime | None, duration: float | None, note: str
    ) -> Silence:
        return await self.tss.alerts.silence(
            job, until=until, duration=duration, note=note, by="cli"
        )

    async def unsilence(self, job: str) -> None:
        await self.tss.alerts.unsilence(job, actor="cli")

    async def list_silences(self) -> list[Silence]:
        return await self.tss.alerts.silences()

    async def prune(self, *, dry_run: bool, job: str | None) -> PruneReport:
        return await self.tss.retention.prune(dry_run=dry_run, job=job, actor="cli")

    async def job_fires(
        self,
        name: str,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        page = await self.tss.ledger.fires(
            name, since=since, until=until, limit=limit, cursor=cursor
        )
        return page.to_dict()

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
        result = await self.tss.ledger.backfill(
            name, start=start, end=end, only_missed=only_missed, dry_run=dry_run,
            max_active=max_active, actor="cli",
        )  # fmt: skip
        return result.to_dict()

    async def backfills(self, name: str, *, limit: int) -> list[dict[str, Any]]:
        return [b.to_dict() for b in await self.tss.ledger.backfills(name, limit=limit)]

    async def stop_backfill(self, name: str, backfill_id: str) -> dict[str, Any]:
        return (await self.tss.ledger.stop_backfill(name, backfill_id, actor="cli")).to_dict()

    async def upcoming(self, *, hours: float, limit: int) -> dict[str, Any]:
        return (await self.tss.ledger.upcoming(hours=hours, limit=limit)).to_dict()
