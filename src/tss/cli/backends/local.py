"""The CLI on the config's own store: :class:`LocalBackend` runs each operation through a
:class:`~tss.app.TSSApp` opened for the command."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tss.cli.backends.base import Applied, Backend
from tss.cli.where import require_store, where
from tss.core.flows import FlowGraph, FlowSummary
from tss.core.models import (
    Attempt,
    Job,
    JobFilter,
    JobSpec,
    Page,
    Role,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.definitions import check_imports
from tss.store.base import collect

if TYPE_CHECKING:
    from tss.app import TSSApp
    from tss.config import Settings


class LocalBackend(Backend):
    """The store of the config, through a :class:`TSSApp` opened for the command. Unless
    ``create``, a SQLite store whose file does not exist is refused, not created."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        from tss.app import TSSApp

        self.tss: TSSApp = TSSApp(settings)
        self.create = create
        self.where = where(settings)

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[None]:
        if not self.create:
            await require_store(self.tss.settings, self.tss.store)
        await self.tss.start()
        try:
            yield
        finally:
            await self.tss.close()

    def session(self) -> AbstractAsyncContextManager[None]:
        return self._session()

    async def list_jobs(
        self,
        *,
        limit: int,
        prefix: str | None = None,
        tag: str | None = None,
        pool: str | None = None,
        paused: bool | None = None,
    ) -> list[Job]:
        def fetch(size: int, cursor: str | None) -> Awaitable[Page]:
            selected = JobFilter(prefix=prefix, tag=tag, pool=pool, paused=paused)
            return self.tss.store.list_jobs(selected, limit=size, cursor=cursor)

        return await collect(fetch, limit)

    async def get_job(self, name: str) -> Job:
        return await self.tss.store.get_job(name)

    async def next_fires(self, name: str, n: int) -> list[datetime]:
        return await self.tss.next_fires(name, n)

    async def apply(
        self, specs: list[JobSpec], *, where: str, create_only: bool = False
    ) -> Applied:
        # Here, in the user's own process, a python job's function is imported before
        # anything is stored, so a typo fails now; the API process never imports one.
        check_imports(specs, where=f"{where}: " if where else "")
        return list(await self.tss.apply(specs, where=where, create_only=create_only))

    async def delete_job(self, name: str, *, force: bool) -> None:
        await self.tss.delete_job(name, force=force)

    async def set_paused(self, name: str, paused: bool) -> Job:
        return await self.tss.set_paused(name, paused)

    async def trigger(self, name: str, *, params: dict[str, Any] | None, count: int) -> list[Run]:
        return [run for run, _ in await self.tss.trigger(name, params=params, count=count)]

    async def execute(self, name: str, *, params: dict[str, Any] | None) -> Run:
        return await self.tss.execute_now(name, params=params)

    async def list_runs(self, run_filter: RunFilter, *, limit: int) -> list[Run]:
        def fetch(size: int, cursor: str | None) -> Awaitable[Page]:
            return self.tss.store.list_runs(run_filter, limit=size, cursor=cursor)

        return await collect(fetch, limit)

    async def get_run(self, run_id: str) -> Run:
        return await self.tss.store.get_run(run_id)

    async def get_run_attempts(self, run_id: str) -> tuple[Run, list[Attempt]]:
        store = self.tss.store
        return await store.get_run(run_id), await store.list_attempts(run_id)

    async def get_logs(
        self, run_id: str, attempt: int, *, stdout_offset: int = 0, stderr_offset: int = 0
    ) -> tuple[str, str]:
        out, err = await self.tss.store.get_logs(run_id, attempt)
        return out[stdout_offset:], err[stderr_offset:]

    async def cancel_run(self, run_id: str) -> Run:
        return await self.tss.cancel_run(run_id)

    async def retry_run(self, run_id: str) -> Run:
        return await self.tss.retry_run(run_id)

    async def flow_graph(self, name: str) -> FlowGraph:
        return await self.tss.flow_graph(name)

    async def flow_runs(self, flow_id: str) -> list[Run]:
        return await self.tss.flow_runs(flow_id)

    async def list_flows(self, *, limit: int) -> list[FlowSummary]:
        def fetch(size: int, cursor: str | None) -> Awaitable[Page]:
            return self.tss.store.list_flows(limit=size, cursor=cursor)

        return await collect(fetch, limit)

    async def list_workers(self) -> list[WorkerInfo]:
        return await self.tss.store.list_workers()

    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None
    ) -> tuple[Token, str]:
        return await self.tss.create_token(name, role, expires_at=expires_at)

    async def list_tokens(self) -> list[Token]:
        return await self.tss.store.list_tokens()

    async def revoke_token(self, id_or_name: str) -> None:
        await self.tss.store.revoke_tokens(id_or_name)
