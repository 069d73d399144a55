"""The protocol of the ``job``, ``run``, ``flow``, ``workers``, ``execute-job``, ``token``
and ``alert`` commands: what they need, in the core records the printing code shows
(:class:`~tss.core.models.Job`, :class:`~tss.core.models.Run`, ...), so a command reads and
prints the same way in both modes.

Two adapters: :class:`~tss.cli.backends.local.LocalBackend` (the config's store, through
:class:`~tss.service.TSSApp`) and :class:`~tss.cli.backends.remote.RemoteBackend` (a server's
REST API, through :class:`~tss.client.AsyncClient`). :func:`tss.cli.context.run_async`
picks one per command.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tss.core.alerts import Alert, Silence
from tss.core.flows import FlowGraph, FlowSummary
from tss.core.history import AuditEntry, Change, JobVersion
from tss.core.models import Attempt, Job, JobSpec, Role, Run, RunFilter, Token, WorkerInfo
from tss.core.retention import PruneReport

if TYPE_CHECKING:
    pass

#: what ``tss job apply`` reports for each job
Applied = list[tuple[str, str]]


class Backend(ABC):
    """The operations of the commands that work locally or remotely."""

    #: where the commands look, for messages: the server, or the store and config file
    where: str = ""

    @abstractmethod
    def session(self) -> AbstractAsyncContextManager[None]:
        """Open the store or the connection for one command, and close it after."""

    # -- jobs -----------------------------------------------------------------------------

    @abstractmethod
    async def list_jobs(
        self,
        *,
        limit: int,
        prefix: str | None = None,
        tag: str | None = None,
        pool: str | None = None,
        paused: bool | None = None,
    ) -> list[Job]:
        """Up to ``limit`` jobs by name."""

    @abstractmethod
    async def get_job(self, name: str) -> Job:
        """:raises NotFound: no such job."""

    @abstractmethod
    async def next_fires(self, name: str, n: int) -> list[datetime]:
        """The next ``n`` fire times of a job."""

    @abstractmethod
    async def apply(
        self, specs: list[JobSpec], *, where: str, create_only: bool = False
    ) -> Applied:
        """Create or update jobs; ``(name, "created" | "updated" | "unchanged")`` for each,
        in the order given. ``where`` (a file name) prefixes error messages.

        :raises Conflict: ``create_only`` and a name is taken (nothing is stored).
        """

    @abstractmethod
    async def delete_job(self, name: str, *, force: bool, history: bool = False) -> None: ...

    @abstractmethod
    async def set_paused(
        self, name: str, paused: bool, *, note: str | None = None, until: str | None = None
    ) -> Job:
        """Pause (with an optional note and end time: ISO 8601 or a duration) or resume."""

    @abstractmethod
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
        """Pause or resume every job the filter selects (``all``: every job); the names
        changed.

        :raises ValidationError: no filter and not ``all`` (field ``filter``).
        """

    @abstractmethod
    async def trigger(self, name: str, *, params: dict[str, Any] | None, count: int) -> list[Run]:
        """Queue ``count`` manual runs now (``params`` merged over the job's)."""

    @abstractmethod
    async def execute(self, name: str, *, params: dict[str, Any] | None) -> Run:
        """Run a job now, retries included, and return the ended run."""

    # -- runs -----------------------------------------------------------------------------

    @abstractmethod
    async def list_runs(self, run_filter: RunFilter, *, limit: int) -> list[Run]:
        """Up to ``limit`` runs, newest first."""

    @abstractmethod
    async def get_run(self, run_id: str) -> Run:
        """:raises NotFound: no such run."""

    @abstractmethod
    async def get_run_attempts(self, run_id: str) -> tuple[Run, list[Attempt]]:
        """A run and its attempts, oldest first."""

    @abstractmethod
    async def get_logs(
        self, run_id: str, attempt: int, *, stdout_offset: int = 0, stderr_offset: int = 0
    ) -> tuple[str, str]:
        """What an attempt wrote, ``(stdout, stderr)``, each from its offset on.

        :raises NotFound: no such run, or it has no such attempt (yet).
        """

    @abstractmethod
    async def cancel_run(self, run_id: str) -> Run: ...

    @abstractmethod
    async def retry_run(self, run_id: str) -> Run: ...

    # -- flows ----------------------------------------------------------------------------

    @abstractmethod
    async def flow_graph(self, name: str) -> FlowGraph:
        """The flow a run of ``name`` starts.

        :raises NotFound: no such job.
        """

    @abstractmethod
    async def flow_runs(self, flow_id: str) -> list[Run]:
        """Every run of a flow, oldest first.

        :raises NotFound: no such flow.
        """

    @abstractmethod
    async def list_flows(self, *, limit: int) -> list[FlowSummary]:
        """Up to ``limit`` flow runs, newest first."""

    # -- workers and tokens ---------------------------------------------------------------

    @abstractmethod
    async def list_workers(self) -> list[WorkerInfo]:
        """Every registered worker, by id."""

    @abstractmethod
    async def create_token(
        self, name: str, role: Role, *, expires_at: datetime | None
    ) -> tuple[Token, str]:
        """A new API token and its text (the only time the text exists)."""

    @abstractmethod
    async def list_tokens(self) -> list[Token]:
        """Every token, revoked ones included, oldest first."""

    @abstractmethod
    async def revoke_token(self, id_or_name: str) -> None:
        """:raises NotFound: no token has that id or name."""

    # -- versions and the audit log -------------------------------------------------------

    @abstractmethod
    async def job_versions(self, name: str) -> list[JobVersion]:
        """Every version of a job, newest first (a deleted job's too).

        :raises NotFound: no job of that name was ever stored.
        """

    @abstractmethod
    async def job_diff(
        self, name: str, version: int, against: int | None
    ) -> tuple[JobVersion, int | None, list[Change]]:
        """A version, the version it is compared with (``against``, or the one before it;
        None for none) and what changed from that one to it.

        :raises NotFound: either version is not stored (naming ``version`` or ``against``).
        """

    @abstractmethod
    async def rollback_job(self, name: str, to: int) -> int | None:
        """Make version ``to`` the job's definition again; the new version's number, or
        None when the job had that definition already.

        :raises NotFound: no such version (field ``to``).
        :raises ValidationError: ``to`` is a deletion, or no longer valid (field ``to``).
        """

    @abstractmethod
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
        """Up to ``limit`` audit entries, newest first, filtered."""

    # -- alerts and silences --------------------------------------------------------------

    @abstractmethod
    async def list_alerts(
        self,
        *,
        limit: int,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
    ) -> list[Alert]:
        """Up to ``limit`` alerts, newest first."""

    @abstractmethod
    async def get_alert(self, alert_id: str) -> Alert:
        """:raises NotFound: no such alert."""

    @abstractmethod
    async def test_alert(self, channel: str) -> Alert:
        """Send a test message through ``channel`` now; the alert says whether it was
        delivered (``state``) or why not (``error``).

        :raises NotFound: no channel of that name.
        """

    @abstractmethod
    async def silence(
        self, job: str, *, until: datetime | None, duration: float | None, note: str
    ) -> Silence:
        """Silence ``job``'s alerts until ``until`` or for ``duration`` seconds.

        :raises NotFound: no such job.
        :raises ValidationError: a bad time, duration or note (field ``until``,
            ``duration`` or ``note``).
        """

    @abstractmethod
    async def unsilence(self, job: str) -> None:
        """:raises NotFound: the job is not silenced."""

    @abstractmethod
    async def list_silences(self) -> list[Silence]:
        """The silences not yet over, by job."""

    @abstractmethod
    async def prune(self, *, dry_run: bool, job: str | None) -> PruneReport:
        """Prune old history by the ``retention:`` policy now (or, ``dry_run``, count what
        would go); ``job``: only that job's runs.

        :raises NotFound: ``job`` names no job and no runs of one.
        """

    # -- the fire ledger, backfills, upcoming (plain dicts: the API's JSON shapes) --------

    @abstractmethod
    async def job_fires(
        self,
        name: str,
        *,
        since: datetime | None,
        until: datetime | None,
        limit: int,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """The job's fire ledger over ``[since, until)`` (``GET .../fires``'s shape), from
        ``cursor`` (a page's ``next_cursor``) on.

        :raises NotFound: no such job.
        :raises ValidationError: no schedule, or a bad window (naming the field).
        """

    @abstractmethod
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
        """Make (or, dry, list) the job's past fires in ``[start, end)`` that have no run
        (``POST .../backfill``'s shape).

        :raises ValidationError: a bad window or ``max_active`` (naming the field).
        """

    @abstractmethod
    async def backfills(self, name: str, *, limit: int) -> list[dict[str, Any]]:
        """The job's backfills, newest first (``GET .../backfills``'s items).

        :raises NotFound: no such job (and no backfill of that name).
        """

    @abstractmethod
    async def stop_backfill(self, name: str, backfill_id: str) -> dict[str, Any]:
        """Stop the job's active backfill; the stopped record (``POST .../stop``'s shape).

        :raises NotFound: not one of the job's backfills (field ``backfill``).
        :raises Conflict: done or stopped already (field ``backfill``).
        """

    @abstractmethod
    async def upcoming(self, *, hours: float, limit: int) -> dict[str, Any]:
        """The next fires of every unpaused job and the load per minute (``GET
        /api/v1/upcoming``'s shape)."""
