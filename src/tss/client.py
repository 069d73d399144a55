"""Python clients for the TSS REST API: :class:`Client` (blocking) and :class:`AsyncClient`.

::

    from tss import Client

    with Client("http://127.0.0.1:8000", token="tss_...") as tss:
        run = tss.trigger("nightly-report", params={"day": "2026-11-23"})
        print(tss.get_run(run.id).state)

Both clients share one request builder per endpoint (:class:`tss.calls.Calls`) and one
response reader (:func:`tss.calls.read`); each method is a single line that sends what the
builder made.
Errors arrive as the TSS exceptions the server raised, with its ``code`` and ``field``
(:func:`tss.errors.error_for_code`); an unreachable server raises :class:`Unavailable`.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx

from tss.api.schemas import (
    AlertOut,
    AlertPage,
    ChangedJobs,
    EventPage,
    FlowGraphOut,
    FlowPage,
    FlowRunOut,
    JobHealthOut,
    JobOut,
    JobPage,
    LatenessOut,
    LogsOut,
    PruneOut,
    QueuesOut,
    RunOut,
    RunPage,
    SilenceOut,
    SilencePage,
    StatsOut,
    TokenCreated,
    TokenPage,
    WorkerOut,
    WorkerPage,
)
from tss.api.schemas.history import AuditPage, RollbackOut, VersionDetail, VersionPage
from tss.api.schemas.ledger import BackfillOut, BackfillRecord, FirePage, UpcomingOut
from tss.calls import Call, Calls, auth_headers, read, unreachable, verify_of
from tss.core.models import JobSpec

T = TypeVar("T")


class AsyncClient:
    """The TSS REST API from asyncio code. Use as ``async with AsyncClient(url, token)``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=auth_headers(token), timeout=timeout,
            verify=verify_of(verify), transport=transport,
        )  # fmt: skip

    async def send(self, call: Call[T]) -> T:
        """Send one built request and read its answer."""
        try:
            response = await self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return read(call, response)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # jobs
    async def list_jobs(self, **query: Any) -> JobPage:
        """Query keys as ``GET /api/v1/jobs``: prefix, tag, pool, paused, last_state, sort,
        limit, cursor, page."""
        return await self.send(Calls.list_jobs(**query))

    async def get_job(self, name: str) -> JobOut:
        return await self.send(Calls.get_job(name))

    async def create_job(self, spec: JobSpec | dict[str, Any]) -> JobOut:
        return await self.send(Calls.create_job(spec))

    async def replace_job(
        self, spec: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return await self.send(Calls.replace_job(spec, expected_version))

    async def patch_job(
        self, name: str, changes: dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return await self.send(Calls.patch_job(name, changes, expected_version))

    async def delete_job(self, name: str, *, force: bool = False, history: bool = False) -> None:
        await self.send(Calls.delete_job(name, force, history))

    async def pause_job(
        self, name: str, *, note: str | None = None, until: str | datetime | None = None
    ) -> JobOut:
        """``until``: a datetime, an ISO 8601 text or a duration from now (``2h``)."""
        return await self.send(Calls.set_paused(name, True, note, until))

    async def resume_job(self, name: str) -> JobOut:
        return await self.send(Calls.set_paused(name, False))

    async def pause_jobs(self, **body: Any) -> ChangedJobs:
        """Pause every job a filter selects. Body keys: prefix, tag, pool, names, all,
        note, until."""
        return await self.send(Calls.set_paused_matching(True, **body))

    async def resume_jobs(self, **body: Any) -> ChangedJobs:
        """Resume every paused job a filter selects. Body keys: prefix, tag, pool, names,
        all."""
        return await self.send(Calls.set_paused_matching(False, **body))

    async def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        return (await self.send(Calls.next_fires(name, n))).times

    async def trigger(self, name: str, **body: Any) -> RunOut:
        """Body keys: params, run_at, priority, idempotency_key, with_descendants."""
        return await self.send(Calls.trigger(name, **body))

    async def trigger_many(self, name: str, count: int, **body: Any) -> list[RunOut]:
        """``count`` runs of a job in one call (body keys as :meth:`trigger`)."""
        return await self.send(Calls.trigger_many(name, count, **body))

    async def apply_jobs(
        self, specs: Sequence[JobSpec | dict[str, Any]], *, create_only: bool = False
    ) -> list[tuple[str, str]]:
        """Create or update jobs as one batch, all checked before any is stored; returns
        ``(name, "created" | "updated" | "unchanged")`` per job, in the order given."""
        return await self.send(Calls.apply_jobs(specs, create_only))

    # flows
    async def job_flow(self, name: str) -> FlowGraphOut:
        """The flow a run of ``name`` starts: nodes and edges with their conditions."""
        return await self.send(Calls.job_flow(name))

    async def list_flows(self, **query: Any) -> FlowPage:
        """Flow runs, newest first, with their states. Query keys: limit, cursor."""
        return await self.send(Calls.list_flows(**query))

    async def get_flow(self, flow_id: str) -> FlowRunOut:
        """A flow run's runs and states (its id is the id of the run that started it)."""
        return await self.send(Calls.get_flow(flow_id))

    async def cancel_flow(self, flow_id: str) -> FlowRunOut:
        """Cancel every run of a flow that has not ended."""
        return await self.send(Calls.cancel_flow(flow_id))

    # runs
    async def list_runs(self, **query: Any) -> RunPage:
        """Query keys: job, state (a list), since, until, limit, cursor, page."""
        return await self.send(Calls.list_runs(**query))

    async def get_run(self, run_id: str) -> RunOut:
        return await self.send(Calls.get_run(run_id))

    async def run_logs(self, run_id: str, **query: Any) -> LogsOut:
        """Query keys: attempt, stdout_offset, stderr_offset."""
        return await self.send(Calls.run_logs(run_id, **query))

    async def cancel_run(self, run_id: str) -> RunOut:
        return await self.send(Calls.run_action(run_id, "cancel"))

    async def retry_run(self, run_id: str) -> RunOut:
        return await self.send(Calls.run_action(run_id, "retry"))

    # workers, events, stats, tokens
    async def list_workers(self, **query: Any) -> WorkerPage:
        return await self.send(Calls.list_workers(**query))

    async def report_worker(self, **status: Any) -> WorkerOut:
        return await self.send(Calls.report_worker(**status))

    async def list_events(self, **query: Any) -> EventPage:
        return await self.send(Calls.list_events(**query))

    async def stats(self, window: int = 3600) -> StatsOut:
        return await self.send(Calls.stats(window))

    async def queue_stats(self) -> QueuesOut:
        """Queued runs per pool, with the workers up that serve each."""
        return await self.send(Calls.queue_stats())

    async def lateness_stats(self, window: int = 3600) -> LatenessOut:
        """How late scheduled runs started over the last ``window`` seconds."""
        return await self.send(Calls.lateness_stats(window))

    async def job_health(self, jobs: Sequence[str]) -> JobHealthOut:
        """Recent success rate and durations of up to 200 jobs."""
        return await self.send(Calls.job_health(jobs))

    async def list_tokens(self) -> TokenPage:
        return await self.send(Calls.list_tokens())

    async def create_token(
        self, name: str, role: str, *, expires_at: datetime | None = None
    ) -> TokenCreated:
        return await self.send(Calls.create_token(name, role, expires_at))

    async def revoke_token(self, id_or_name: str) -> None:
        await self.send(Calls.revoke_token(id_or_name))

    # alerts and silences
    async def list_alerts(self, **query: Any) -> AlertPage:
        """Alerts, newest first. Query keys: job, state, channel, limit, cursor."""
        return await self.send(Calls.list_alerts(**query))

    async def get_alert(self, alert_id: str) -> AlertOut:
        return await self.send(Calls.get_alert(alert_id))

    async def test_alert(self, channel: str) -> AlertOut:
        """Send a test message through a configured channel now; the alert says whether it
        was delivered (``state``) or why not (``error``)."""
        return await self.send(Calls.test_alert(channel))

    async def list_silences(self) -> SilencePage:
        """The jobs whose alerts are silenced now."""
        return await self.send(Calls.list_silences())

    async def silence_job(
        self,
        name: str,
        *,
        until: datetime | None = None,
        duration: float | None = None,
        note: str = "",
    ) -> SilenceOut:
        """Silence a job's alerts until ``until`` or for ``duration`` seconds (one of them)."""
        return await self.send(Calls.silence_job(name, until, duration, note))

    async def unsilence_job(self, name: str) -> None:
        await self.send(Calls.unsilence_job(name))

    # versions and the audit log
    async def job_versions(self, name: str) -> VersionPage:
        """Every version of a job, newest first (a deleted job's too)."""
        return await self.send(Calls.job_versions(name))

    async def job_version(
        self, name: str, version: int, *, against: int | None = None
    ) -> VersionDetail:
        """One version, with what changed from ``against`` (default: the one before)."""
        return await self.send(Calls.job_version(name, version, against))

    async def rollback_job(self, name: str, to: int) -> RollbackOut:
        """Make version ``to`` the job's definition again, as a new version (admin)."""
        return await self.send(Calls.rollback_job(name, to))

    async def list_audit(self, **query: Any) -> AuditPage:
        """Query keys as ``GET /api/v1/audit`` (admin): actor, action, target, since,
        until, limit, cursor."""
        return await self.send(Calls.list_audit(**query))

    # the fire ledger, backfills and upcoming fires
    async def job_fires(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> FirePage:
        """Every fire of the job's schedule in ``[since, until)`` and what became of it."""
        return await self.send(Calls.job_fires(name, since, until, limit, cursor))

    async def backfill_job(self, name: str, **body: Any) -> BackfillOut:
        """Make the job's past fires in a window (admin). Keys as ``POST
        /api/v1/jobs/{name}/backfill``: ``from`` (pass it as ``**{"from": t}``), ``to``,
        ``only_missed``, ``dry_run``, ``max_active``."""
        return await self.send(Calls.backfill_job(name, body))

    async def backfills(self, name: str, *, limit: int | None = None) -> list[BackfillRecord]:
        """The job's backfills, newest first (at most ``limit``, 1-1000; default 100):
        each one's fires, how many were made, and its state (active, done, stopped)."""
        return await self.send(Calls.backfills(name, limit))

    async def stop_backfill(self, name: str, backfill_id: str) -> BackfillRecord:
        """Stop the job's active backfill ``backfill_id`` (operator): no more of its fires
        are made; the runs it made stay. Raises NotFound (field ``backfill``) for an id
        that is not one of the job's backfills, Conflict when it is done or stopped."""
        return await self.send(Calls.stop_backfill(name, backfill_id))

    async def upcoming(self, *, hours: float = 24, limit: int = 200) -> UpcomingOut:
        """The next fires of every unpaused job and the load per minute."""
        return await self.send(Calls.upcoming(hours, limit))

    async def prune(self, *, dry_run: bool = False, job: str | None = None) -> PruneOut:
        """Prune old history by the server's ``retention:`` policy now (admin), or with
        ``dry_run`` count what would go; ``job``: only that job's runs."""
        return await self.send(Calls.prune(dry_run, job))


class Client:
    """The TSS REST API from blocking code. Use as ``with Client(url, token)``."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, headers=auth_headers(token), timeout=timeout,
            verify=verify_of(verify), transport=transport,
        )  # fmt: skip

    def send(self, call: Call[T]) -> T:
        """Send one built request and read its answer."""
        try:
            response = self._http.send(call.request(self._http))
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from exc
        return read(call, response)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # jobs
    def list_jobs(self, **query: Any) -> JobPage:
        """Query keys as ``GET /api/v1/jobs``: prefix, tag, pool, paused, last_state, sort,
        limit, cursor, page."""
        return self.send(Calls.list_jobs(**query))

    def get_job(self, name: str) -> JobOut:
        return self.send(Calls.get_job(name))

    def create_job(self, spec: JobSpec | dict[str, Any]) -> JobOut:
        return self.send(Calls.create_job(spec))

    def replace_job(
        self, spec: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return self.send(Calls.replace_job(spec, expected_version))

    def patch_job(
        self, name: str, changes: dict[str, Any], *, expected_version: int | None = None
    ) -> JobOut:
        return self.send(Calls.patch_job(name, changes, expected_version))

    def delete_job(self, name: str, *, force: bool = False, history: bool = False) -> None:
        self.send(Calls.delete_job(name, force, history))

    def pause_job(
        self, name: str, *, note: str | None = None, until: str | datetime | None = None
    ) -> JobOut:
        """``until``: a datetime, an ISO 8601 text or a duration from now (``2h``)."""
        return self.send(Calls.set_paused(name, True, note, until))

    def resume_job(self, name: str) -> JobOut:
        return self.send(Calls.set_paused(name, False))

    def pause_jobs(self, **body: Any) -> ChangedJobs:
        """As :meth:`AsyncClient.pause_jobs`."""
        return self.send(Calls.set_paused_matching(True, **body))

    def resume_jobs(self, **body: Any) -> ChangedJobs:
        """As :meth:`AsyncClient.resume_jobs`."""
        return self.send(Calls.set_paused_matching(False, **body))

    def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        return self.send(Calls.next_fires(name, n)).times

    def trigger(self, name: str, **body: Any) -> RunOut:
        """Body keys: params, run_at, priority, idempotency_key, with_descendants."""
        return self.send(Calls.trigger(name, **body))

    def trigger_many(self, name: str, count: int, **body: Any) -> list[RunOut]:
        """``count`` runs of a job in one call (body keys as :meth:`trigger`)."""
        return self.send(Calls.trigger_many(name, count, **body))

    def apply_jobs(
        self, specs: Sequence[JobSpec | dict[str, Any]], *, create_only: bool = False
    ) -> list[tuple[str, str]]:
        """Create or update jobs as one batch, all checked before any is stored; returns
        ``(name, "created" | "updated" | "unchanged")`` per job, in the order given."""
        return self.send(Calls.apply_jobs(specs, create_only))

    # flows
    def job_flow(self, name: str) -> FlowGraphOut:
        """The flow a run of ``name`` starts: nodes and edges with their conditions."""
        return self.send(Calls.job_flow(name))

    def list_flows(self, **query: Any) -> FlowPage:
        """Flow runs, newest first, with their states. Query keys: limit, cursor."""
        return self.send(Calls.list_flows(**query))

    def get_flow(self, flow_id: str) -> FlowRunOut:
        """A flow run's runs and states (its id is the id of the run that started it)."""
        return self.send(Calls.get_flow(flow_id))

    def cancel_flow(self, flow_id: str) -> FlowRunOut:
        """Cancel every run of a flow that has not ended."""
        return self.send(Calls.cancel_flow(flow_id))

    # runs
    def list_runs(self, **query: Any) -> RunPage:
        """Query keys: job, state (a list), since, until, limit, cursor, page."""
        return self.send(Calls.list_runs(**query))

    def get_run(self, run_id: str) -> RunOut:
        return self.send(Calls.get_run(run_id))

    def run_logs(self, run_id: str, **query: Any) -> LogsOut:
        """Query keys: attempt, stdout_offset, stderr_offset."""
        return self.send(Calls.run_logs(run_id, **query))

    def cancel_run(self, run_id: str) -> RunOut:
        return self.send(Calls.run_action(run_id, "cancel"))

    def retry_run(self, run_id: str) -> RunOut:
        return self.send(Calls.run_action(run_id, "retry"))

    # workers, events, stats, tokens
    def list_workers(self, **query: Any) -> WorkerPage:
        return self.send(Calls.list_workers(**query))

    def report_worker(self, **status: Any) -> WorkerOut:
        return self.send(Calls.report_worker(**status))

    def list_events(self, **query: Any) -> EventPage:
        return self.send(Calls.list_events(**query))

    def stats(self, window: int = 3600) -> StatsOut:
        return self.send(Calls.stats(window))

    def queue_stats(self) -> QueuesOut:
        """Queued runs per pool, with the workers up that serve each."""
        return self.send(Calls.queue_stats())

    def lateness_stats(self, window: int = 3600) -> LatenessOut:
        """How late scheduled runs started over the last ``window`` seconds."""
        return self.send(Calls.lateness_stats(window))

    def job_health(self, jobs: Sequence[str]) -> JobHealthOut:
        """Recent success rate and durations of up to 200 jobs."""
        return self.send(Calls.job_health(jobs))

    def list_tokens(self) -> TokenPage:
        return self.send(Calls.list_tokens())

    def create_token(
        self, name: str, role: str, *, expires_at: datetime | None = None
    ) -> TokenCreated:
        return self.send(Calls.create_token(name, role, expires_at))

    def revoke_token(self, id_or_name: str) -> None:
        self.send(Calls.revoke_token(id_or_name))

    # alerts and silences
    def list_alerts(self, **query: Any) -> AlertPage:
        """Alerts, newest first. Query keys: job, state, channel, limit, cursor."""
        return self.send(Calls.list_alerts(**query))

    def get_alert(self, alert_id: str) -> AlertOut:
        return self.send(Calls.get_alert(alert_id))

    def test_alert(self, channel: str) -> AlertOut:
        """Send a test message through a configured channel now; the alert says whether it
        was delivered (``state``) or why not (``error``)."""
        return self.send(Calls.test_alert(channel))

    def list_silences(self) -> SilencePage:
        """The jobs whose alerts are silenced now."""
        return self.send(Calls.list_silences())

    def silence_job(
        self,
        name: str,
        *,
        until: datetime | None = None,
        duration: float | None = None,
        note: str = "",
    ) -> SilenceOut:
        """Silence a job's alerts until ``until`` or for ``duration`` seconds (one of them)."""
        return self.send(Calls.silence_job(name, until, duration, note))

    def unsilence_job(self, name: str) -> None:
        self.send(Calls.unsilence_job(name))

    # versions and the audit log
    def job_versions(self, name: str) -> VersionPage:
        """Every version of a job, newest first (a deleted job's too)."""
        return self.send(Calls.job_versions(name))

    def job_version(self, name: str, version: int, *, against: int | None = None) -> VersionDetail:
        """One version, with what changed from ``against`` (default: the one before)."""
        return self.send(Calls.job_version(name, version, against))

    def rollback_job(self, name: str, to: int) -> RollbackOut:
        """Make version ``to`` the job's definition again, as a new version (admin)."""
        return self.send(Calls.rollback_job(name, to))

    def list_audit(self, **query: Any) -> AuditPage:
        """Query keys as ``GET /api/v1/audit`` (admin): actor, action, target, since,
        until, limit, cursor."""
        return self.send(Calls.list_audit(**query))

    # the fire ledger, backfills and upcoming fires
    def job_fires(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> FirePage:
        """Every fire of the job's schedule in ``[since, until)`` and what became of it."""
        return self.send(Calls.job_fires(name, since, until, limit, cursor))

    def backfill_job(self, name: str, **body: Any) -> BackfillOut:
        """Make the job's past fires in a window (admin). Keys as ``POST
        /api/v1/jobs/{name}/backfill``: ``from`` (pass it as ``**{"from": t}``), ``to``,
        ``only_missed``, ``dry_run``, ``max_active``."""
        return self.send(Calls.backfill_job(name, body))

    def backfills(self, name: str, *, limit: int | None = None) -> list[BackfillRecord]:
        """The job's backfills, newest first (at most ``limit``, 1-1000; default 100):
        each one's fires, how many were made, and its state (active, done, stopped)."""
        return self.send(Calls.backfills(name, limit))

    def stop_backfill(self, name: str, backfill_id: str) -> BackfillRecord:
        """Stop the job's active backfill ``backfill_id`` (operator): no more of its fires
        are made; the runs it made stay. Raises NotFound (field ``backfill``) for an id
        that is not one of the job's backfills, Conflict when it is done or stopped."""
        return self.send(Calls.stop_backfill(name, backfill_id))

    def upcoming(self, *, hours: float = 24, limit: int = 200) -> UpcomingOut:
        """The next fires of every unpaused job and the load per minute."""
        return self.send(Calls.upcoming(hours, limit))

    def prune(self, *, dry_run: bool = False, job: str | None = None) -> PruneOut:
        """Prune old history by the server's ``retention:`` policy now (admin), or with
        ``dry_run`` count what would go; ``job``: only that job's runs."""
        return self.send(Calls.prune(dry_run, job))


__all__ = ["AsyncClient", "Call", "Client"]
