"""The store port by role: what the jobs service, the scheduler and worker, the history
readers and the admin side each need of a store. :class:`tss.store.base.Store` inherits all
four, so a backend implements one class; a consumer can name the role it uses.

Every method is a coroutine. Times in and out are aware UTC datetimes. Each method that
changes run state writes one event per transition in the same transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from tss.core.alerts import Alert, AlertUpdate, Silence
from tss.core.firing import Planner
from tss.core.history import AuditEntry, JobVersion
from tss.core.ledger import Backfill
from tss.core.models import (
    Attempt,
    DashboardSession,
    ErrorInfo,
    Event,
    Job,
    JobFilter,
    JobSpec,
    NewRun,
    Outcome,
    Page,
    PauseInfo,
    Run,
    RunFilter,
    Token,
    WorkerInfo,
)
from tss.core.retention import PrunedFire, RowKind
from tss.core.states import RunState
from tss.core.workers import Room, can_take
from tss.errors import Conflict


class JobStore(ABC):
    """The jobs: their definitions, versions, pauses and dependency edges."""

    @abstractmethod
    async def create_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        """Store a new job, and its version (change ``created``, or ``rolled_back`` when
        ``rolled_back``, by ``actor``) in the same transaction (:class:`AuditStore`).

        :raises Conflict: a job with that name exists (field ``name``).
        """

    @abstractmethod
    async def update_job(
        self,
        spec: JobSpec,
        next_fire_at: datetime | None,
        *,
        expected_version: int | None = None,
        actor: str = "user",
        rolled_back: bool = False,
    ) -> Job:
        """Replace a job's definition and next fire time; its version goes up by one and is
        recorded (change ``updated``, or ``rolled_back`` when ``rolled_back``, by ``actor``)
        in the same transaction.

        The job's fires made ahead of their time are withdrawn (reason ``job changed``, see
        :meth:`set_paused`). When the schedule is the same
        (:func:`tss.core.firing.refires_withdrawn`) ``next_fire_at`` is rewound to the
        earliest of them, so they are made again from the new definition; when it changed,
        ``next_fire_at`` stands and the old schedule leaves no fire.

        :raises NotFound: no such job.
        :raises Conflict: ``expected_version`` is given and is not the stored version.
        """

    @abstractmethod
    async def get_job(self, name: str) -> Job:
        """:raises NotFound: no such job."""

    @abstractmethod
    async def get_jobs(self, names: Sequence[str]) -> dict[str, Job]:
        """The jobs that exist among ``names``, by name."""

    @abstractmethod
    async def downstream(self, name: str) -> dict[str, JobSpec]:
        """The definitions of every job downstream of ``name`` (that depends on it, directly
        or through others), by name; empty when none does or there is no such job. Read
        from the dependency edges, not by scanning every job."""

    @abstractmethod
    async def list_jobs(
        self,
        job_filter: JobFilter | None = None,
        *,
        sort: str = "name",
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        """Jobs that ``job_filter`` selects (:meth:`JobFilter.matches`), in ``sort`` order
        (one of :data:`tss.core.models.JOB_SORTS`; ties broken by name; a missing
        ``next_fire_at`` sorts as the latest time). ``cursor`` is the opaque ``next_cursor``
        of the previous page; ``offset`` skips that many items instead (page numbers).
        ``total`` counts every match.

        :raises ValidationError: an unknown ``sort`` (field ``sort``) or a malformed
            ``cursor`` (field ``cursor``).
        """

    @abstractmethod
    async def last_runs(self, names: Sequence[str]) -> dict[str, Run]:
        """The newest run of each named job that has one, by job name."""

    @abstractmethod
    async def delete_job(self, name: str, *, actor: str = "user") -> None:
        """Delete a job. Its runs stay as history; its fires made ahead of time are withdrawn
        (see :meth:`set_paused`), so none of them runs. Its versions stay too, and one more
        (change ``deleted``, no spec, by ``actor``) is recorded in the same transaction.

        :raises NotFound: no such job.
        """

    @abstractmethod
    async def set_paused(self, name: str, paused: bool, *, pause: PauseInfo | None = None) -> Job:
        """Pause or resume a job. A paused job does not fire. Pausing stores ``pause`` (who,
        when, why, until when) as the job's :attr:`~tss.core.records.Job.pause`, replacing
        any it had; resuming clears it. Pausing withdraws its fires
        made ahead of time (``trigger='schedule'`` runs still ``scheduled``, or ``queued``
        with ``not_before`` to come): each is cancelled with its ``scheduled_for`` cleared,
        so that the fire is free to be made again, and ``next_fire_at`` is rewound to the
        earliest of them (:func:`tss.core.firing.rewound`). So a resume before a fire's
        time fires it on time, once; fires whose time passed while paused are subject to
        the misfire policy when it resumes, as if nothing had been made ahead.

        :raises NotFound: no such job.
        """


def check_definition(stored: Job, kept: Job) -> None:
    """That ``kept`` (a job as read earlier) is still the ``stored`` one: the same version of
    the same job, not one deleted and made again under its name.

    :raises Conflict: it is not (``field="version"``).
    """
    if (stored.version, stored.created_at) != (kept.version, kept.created_at):
        raise Conflict.stale_version(kept.name, stored.version, kept.version)


class Claim(NamedTuple):
    """What a worker claims with (:meth:`RunStore.claim_next`): up to ``limit`` queued runs
    of its distinct ``pools``, for ``worker_id`` with a lease of ``lease`` seconds, whose
    resources fit together in ``room``, whose task type is one of ``types`` (None: any) and
    whose required labels are all among ``labels`` (:func:`tss.core.workers.can_take`). In
    this order, the stores' own claim functions take the same arguments."""

    pools: list[str]
    limit: int
    worker_id: str
    lease: float
    room: Room
    types: frozenset[str] | None = None
    labels: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        pools: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        room: Room,
        types: Collection[str] | None,
        labels: Collection[str],
    ) -> Claim:
        """A claim with its pools made distinct and its types and labels made sets."""
        return cls(
            list(dict.fromkeys(pools)), limit, worker_id, lease, room,
            None if types is None else frozenset(types), frozenset(labels),
        )  # fmt: skip

    @property
    def wants(self) -> bool:
        """Whether this claim can take anything: it has pools, a positive limit and, if it
        names task types, at least one."""
        return bool(self.pools) and self.limit > 0 and self.types != frozenset()

    def takes(self, run: Run) -> bool:
        """Whether this claim may take ``run`` by its task type and required labels (its
        resources are :attr:`room`'s concern)."""
        return can_take(run.policy, self.types, self.labels)


class RunStore(ABC):
    """The hot path of runs, used by the scheduler and the worker: firing, promoting,
    creating, publishing (the outbox), claiming, leases, finishing, cancelling."""

    @abstractmethod
    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        """Fire up to ``limit`` unpaused jobs whose ``next_fire_at`` is at or before the
        store's now plus ``horizon`` seconds, in one atomic step per batch. The planner gets
        the store's now (not now plus horizon): fires still ahead become ``scheduled`` runs.

        For each claimed job the ``planner`` decides the runs; the store then, atomically:
        cancels the job's active runs if asked, inserts the runs (a run whose
        ``(job, scheduled_for)`` exists already is silently not inserted: exactly one run
        per fire), and sets ``next_fire_at`` only if it is still the value the planner saw.
        Concurrent callers never claim the same job at once.

        :returns: the created runs that are ``queued`` (to publish) and how many jobs fired.
        """

    @abstractmethod
    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        """Move up to ``limit`` ``scheduled`` and ``retrying`` runs whose ``not_before`` has
        passed (store clock), or comes within ``ahead`` seconds, to ``queued``; return them
        (to publish). A run queued ahead keeps its ``not_before``: it is announced early and
        its worker holds it until then (see ``scheduler.announce_ahead``)."""

    @abstractmethod
    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        """The earliest time anything becomes due: the next fire of an unpaused job less
        ``horizon`` seconds, or the ``not_before`` of a ``scheduled`` or ``retrying`` run
        less ``ahead`` seconds. None when nothing is pending."""

    @abstractmethod
    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        """Insert runs; return each with ``True`` when created.

        A run whose ``(job, idempotency_key)`` or, for ``trigger='schedule'``,
        ``(job, scheduled_for)`` exists already is not inserted: the existing run is
        returned with ``False``.
        """

    @abstractmethod
    async def get_job(self, name: str) -> Job:
        """The job named ``name`` (:meth:`JobStore.get_job`: runs are made from jobs).

        :raises NotFound: no such job.
        """

    async def create_runs_of(
        self, job: Job, runs: Sequence[NewRun], *, actor: str
    ) -> list[tuple[Run, bool]]:
        """:meth:`create_runs` for runs built from ``job`` as it was read earlier: only if
        it is still that definition (the same version of the same job, not one deleted and
        made again under its name), so a caller may keep the jobs it read.

        This default reads the job first; a store that can check it in the same step as
        the insert does so (PostgreSQL: one round trip for a trigger).

        :raises NotFound: the job is gone.
        :raises Conflict: the job changed (``field="version"``); nothing was written.
        """
        check_definition(await self.get_job(job.name), job)
        return await self.create_runs(runs, actor=actor)

    @abstractmethod
    async def mark_published(self, run_ids: Sequence[str]) -> None:
        """Record that these queued runs were handed to the broker (the outbox)."""

    @abstractmethod
    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        """Queued runs to (re)publish: never published and queued over ``older_than``
        seconds ago, or published over ``republish_after`` seconds ago yet still queued."""

    @abstractmethod
    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        """Queued runs in ``pools``, highest priority then oldest first (for the store broker).
        Reading does not claim: :meth:`claim_runs` decides who gets them."""

    @abstractmethod
    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        """Claim the given runs for a worker: each still ``queued`` goes to ``running``, its
        attempt number goes up by one (the fencing token), it is leased for ``lease``
        seconds and an attempt row is written. Runs no longer queued are left alone
        (a duplicate delivery is dropped here). Returns the claimed runs."""

    async def claim_next(
        self,
        pools: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease: float,
        room: Room,
        types: Collection[str] | None = None,
        labels: Collection[str] = (),
    ) -> list[Run]:
        """Claim up to ``limit`` queued runs of ``pools`` for a worker, highest priority then
        oldest first, taking only runs whose resources fit together in ``room`` (a run
        that does not fit is passed over, not waited for), whose task type is among
        ``types`` (None: any type) and whose job's ``requires`` labels are all among
        ``labels`` (a worker with none takes only runs that require none). Claims as
        :meth:`claim_runs`.

        A run the worker cannot take by type or labels is passed over inside the store's
        claim, however many of them are ahead: it never blocks the runs behind it.
        Concurrent callers take disjoint runs where the store can lock rows (PostgreSQL:
        ``SKIP LOCKED``), so two workers never queue up on the same head of the queue. A
        store does the work in :meth:`_claim_next`."""
        claim = Claim.of(pools, limit, worker_id, lease, room, types, labels)
        if not claim.wants:
            return []
        return await self._claim_next(claim)

    async def _claim_next(self, claim: Claim) -> list[Run]:
        """:meth:`claim_next` of a claim that :attr:`~Claim.wants` something. This default reads
        then claims; a run another worker takes in between is simply not returned. It
        filters by type and labels after reading, so runs it cannot take ahead in the queue
        hold back the ones behind them: every store of TSS overrides it."""
        runs = await self.fetch_queued(claim.pools, limit=claim.limit)
        chosen = claim.room.fit_runs(run for run in runs if claim.takes(run))
        return await self.claim_runs(chosen, worker_id=claim.worker_id, lease=claim.lease)

    async def finish_and_claim(
        self,
        outcomes: Sequence[Outcome],
        *,
        actor: str,
        pools: Sequence[str],
        limit: int,
        worker_id: str,
        lease: float,
        room: Room,
        types: Collection[str] | None = None,
        labels: Collection[str] = (),
    ) -> tuple[list[bool], list[Run]]:
        """:meth:`finish_runs` then :meth:`claim_next`: a worker reports the attempts that
        ended and takes the runs it now has room for (and the types and labels for); the
        outcomes are recorded whatever the claim finds. A store does the work in
        :meth:`_finish_and_claim`."""
        claim = Claim.of(pools, limit, worker_id, lease, room, types, labels)
        if not claim.wants:
            return await self.finish_runs(outcomes, actor=actor), []
        return await self._finish_and_claim(list(outcomes), actor, claim)

    async def _finish_and_claim(
        self, outcomes: list[Outcome], actor: str, claim: Claim
    ) -> tuple[list[bool], list[Run]]:
        """:meth:`finish_and_claim` of a claim that :attr:`~Claim.wants` something. This default
        takes two steps; a store that can do both in one round trip overrides it (Redis: one
        script; PostgreSQL: one statement; SQLite: one transaction)."""
        accepted = await self.finish_runs(outcomes, actor=actor)
        return accepted, await self._claim_next(claim)

    @abstractmethod
    async def heartbeat(
        self,
        worker_id: str,
        held: Sequence[tuple[str, int]],
        *,
        lease: float,
    ) -> list[str]:
        """Record the worker alive and extend the lease of each ``(run_id, attempt)`` it
        holds. Returns the run ids it no longer holds (cancelled, reaped, or fenced off):
        the worker must stop executing them."""

    @abstractmethod
    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        """Record outcomes, in one transaction. An outcome is accepted only when its run is
        ``running`` with exactly that attempt number (fencing) and, with
        ``require_expired``, its lease has expired. Accepted outcomes move the run to
        ``outcome.target``, close the attempt with its result, error and logs, and write
        the events. Returns, per outcome, whether it was accepted."""

    @abstractmethod
    async def expired_runs(self, *, limit: int) -> list[Run]:
        """``running`` runs whose lease has expired (store clock)."""

    @abstractmethod
    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        """``running`` runs that started more than their timeout plus ``grace`` seconds ago."""

    @abstractmethod
    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        """Cancel runs that are not terminal; returns those cancelled. A running run's
        worker learns of it at its next heartbeat."""

    @abstractmethod
    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        """Fail runs that are still ``queued``, without an attempt: each goes to
        ``failed`` with ``error`` (its message is also the run's reason), and the waiting
        runs of their flows are decided. A run no longer queued (a worker took it, it was
        cancelled) is left alone. Returns the runs failed. For runs no live worker can
        take (see :mod:`tss.core.waiting`)."""

    @abstractmethod
    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        """Store the output so far of attempts that are still running, each given as
        ``(run_id, attempt, stdout, stderr)``, so it can be read while they run. An attempt
        that has ended keeps its final logs: a late save changes nothing."""


class HistoryStore(ABC):
    """What happened, read back: runs, flows, attempts, logs, throughput, events."""

    @abstractmethod
    async def get_run(self, run_id: str) -> Run:
        """:raises NotFound: no such run."""

    @abstractmethod
    async def list_runs(
        self,
        run_filter: RunFilter | None = None,
        *,
        limit: int = 50,
        cursor: str | None = None,
        offset: int = 0,
    ) -> Page:
        """Runs, newest first; ``cursor`` is the ``next_cursor`` of the previous page;
        ``offset`` skips that many runs instead (page numbers).

        :raises ValidationError: a malformed ``cursor`` (field ``cursor``).
        """

    @abstractmethod
    async def count_runs(self, run_filter: RunFilter | None = None) -> dict[RunState, int]:
        """How many runs are in each state."""

    @abstractmethod
    async def list_flows(self, *, limit: int = 50, cursor: str | None = None) -> Page:
        """Flow runs, newest first: a :class:`~tss.core.flows.FlowSummary` for each run
        that started a flow (a run whose ``flow_id`` is its own id), summing up the current
        runs of its flow. Reads the runs that started flows, not the whole run history.
        ``cursor`` is the ``next_cursor`` of the previous page; ``total`` is None.

        :raises ValidationError: a malformed ``cursor``, or one made for another listing
            (field ``cursor``).
        """

    @abstractmethod
    async def throughput(
        self, *, since: datetime, bucket: int = 60
    ) -> list[tuple[datetime, RunState, int]]:
        """Runs that ended at or after ``since``, counted per ``bucket`` seconds (aligned
        to the epoch) and final state: ``(bucket start, state, count)``, oldest first."""

    @abstractmethod
    async def delete_ended_runs(
        self, job: str, *, limit: int, ended_before: datetime | None = None, keep_last: int = 0
    ) -> int:
        """Delete up to ``limit`` runs of ``job`` that have ended (before ``ended_before``
        when given), oldest first, with their attempts, logs and events; returns how many.
        The job's ``keep_last`` newest runs (by id, whatever their state) stay, and so does
        a run of a flow that still has a run going (its flow needs it). Only runs whose id
        is below :func:`tss.core.retention.id_bound` of the cutoff are read (ids carry
        their creation time), so a call costs what it deletes, not the job's history.

        A deleted scheduled run (trigger ``schedule``) leaves a
        :class:`~tss.core.retention.PrunedFire` in the fire ledger, in the same transaction
        (a fire pruned twice keeps its newest run's row). A deleted run's fire and
        idempotency key are free again; event ids are never reused. Call again until it
        returns less than ``limit``: each call is one short transaction."""

    @abstractmethod
    async def list_attempts(self, run_id: str) -> list[Attempt]:
        """The attempts of a run, first first.

        :raises NotFound: no such run.
        """

    @abstractmethod
    async def get_logs(self, run_id: str, attempt: int | None = None) -> tuple[str, str]:
        """``(stdout, stderr)`` of one attempt (the last when ``attempt`` is None).

        :raises NotFound: no such run or attempt.
        """

    @abstractmethod
    async def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none)."""

    @abstractmethod
    async def list_events(
        self, *, after: int = 0, limit: int = 100, run_id: str | None = None
    ) -> list[Event]:
        """Events with an id greater than ``after``, oldest first."""


class AdminStore(ABC):
    """Workers, API tokens and dashboard sessions."""

    @abstractmethod
    async def register_worker(self, info: WorkerInfo) -> None:
        """Record a worker as up, now, with ``info.running`` runs (replacing an earlier
        registration under the same id)."""

    @abstractmethod
    async def set_worker_state(self, worker_id: str, state: str) -> None:
        """Set a worker's state (``up``, ``draining``, ``down``, ``dead``)."""

    @abstractmethod
    async def list_workers(self) -> list[WorkerInfo]:
        """Every registered worker, with its last heartbeat and running count."""

    @abstractmethod
    async def mark_dead_workers(self, *, dead_after: float) -> list[str]:
        """Mark ``up``/``draining`` workers silent for ``dead_after`` seconds as ``dead``."""

    @abstractmethod
    async def create_token(self, token: Token) -> None:
        """Store a new token.

        :raises Conflict: a token with that id exists.
        """

    @abstractmethod
    async def get_token(self, token_id: str) -> Token:
        """:raises NotFound: no such token."""

    @abstractmethod
    async def list_tokens(self) -> list[Token]:
        """Every token, revoked ones included, oldest first."""

    @abstractmethod
    async def revoke_tokens(self, id_or_name: str) -> list[Token]:
        """Revoke the unrevoked tokens whose id or name is ``id_or_name`` (store clock);
        return them as revoked. Revoking a revoked token again changes nothing.

        :raises NotFound: no token has that id or name.
        """

    @abstractmethod
    async def touch_token(self, token_id: str) -> None:
        """Record that a token was just used (store clock). Unknown ids are ignored."""

    @abstractmethod
    async def create_session(self, session: DashboardSession) -> None:
        """Store a new dashboard session; sessions that expired by the store clock may be
        deleted on the way (a session is never read after its expiry).

        :raises Conflict: a session with that ``id_hash`` exists.
        """

    @abstractmethod
    async def get_session(self, id_hash: str) -> DashboardSession:
        """The session whose id hashes to ``id_hash``, expired or not (the caller checks
        ``expires_at`` against the store clock).

        :raises NotFound: no such session (never made, ended, or expired and deleted).
        """

    @abstractmethod
    async def delete_session(self, id_hash: str) -> None:
        """End a session. An unknown ``id_hash`` is ignored."""


class AlertStore(ABC):
    """Alerts: the messages to deliver (their outbox), the alert keeper's lease with its saved
    state, and silences. The cause of an alert is an event the store wrote in the
    transaction of the change (the event log is the outbox of alerts); an alert's id is
    made from its cause, so raising one twice stores it once."""

    @abstractmethod
    async def add_alerts(self, alerts: Sequence[Alert]) -> list[bool]:
        """Store new alerts in one transaction: True for each stored, False for each whose
        id is stored already (that one is left as it is)."""

    @abstractmethod
    async def due_alerts(self, *, limit: int) -> list[Alert]:
        """Up to ``limit`` ``pending`` alerts whose ``next_at`` has come (store clock),
        oldest ``next_at`` first."""

    @abstractmethod
    async def settle_alerts(self, updates: Sequence[AlertUpdate]) -> None:
        """Record the end of delivery attempts (state, attempts, next_at, error, sent_at);
        updates of unknown ids are ignored. A ``next_at`` of None leaves it as it is."""

    @abstractmethod
    async def list_alerts(
        self,
        *,
        job: str | None = None,
        state: str | None = None,
        channel: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Alerts, newest ``created_at`` first (ties by id), ``limit`` at a time; the cursor
        is opaque (:mod:`tss.store.paging`, kind ``alerts``).

        :raises ValidationError: a malformed cursor or a limit outside 1..1000.
        """

    @abstractmethod
    async def get_alert(self, alert_id: str) -> Alert:
        """:raises NotFound: no such alert."""

    @abstractmethod
    async def take_lease(self, name: str, holder: str, ttl: float) -> dict[str, Any] | None:
        """Hold the lease ``name`` for ``ttl`` seconds from now (store clock) if nobody
        else holds it (free, expired, or ``holder`` holds it already) and return the state
        last saved with it (``{}`` at first); None when another holder has it."""

    @abstractmethod
    async def save_lease(self, name: str, holder: str, state: dict[str, Any]) -> bool:
        """Save ``state`` with the lease, if ``holder`` still holds it (an expired lease
        not yet taken by another counts as held); False otherwise (nothing saved)."""

    async def release_lease(self, name: str, holder: str) -> None:
        """Let the lease ``name`` go if ``holder`` holds it, so another holder takes it at
        once rather than when it expires (a process that stops cleanly); its saved state
        stays. Nothing happens when another holder has it."""
        await self.take_lease(name, holder, 0.0)

    @abstractmethod
    async def put_silence(self, silence: Silence) -> None:
        """Silence a job until ``silence.until``, replacing its silence if it has one."""

    @abstractmethod
    async def delete_silence(self, job: str) -> bool:
        """End a job's silence; False when it had none."""

    @abstractmethod
    async def list_silences(self) -> list[Silence]:
        """Silences not yet over (``until`` after now, store clock), by job name."""


class AuditStore(ABC):
    """What changed, and who: the versions of each job (written by :class:`JobStore` in the
    same transaction as the change) and the audit log (written by the service after each
    successful write)."""

    @abstractmethod
    async def list_versions(self, job: str) -> list[JobVersion]:
        """Every version of job ``job``, newest first; those of a deleted job too (the last
        one is its deletion). Empty when no job of that name was ever stored."""

    @abstractmethod
    async def get_version(self, job: str, version: int) -> JobVersion:
        """:raises NotFound: no such version of that job (field ``version``)."""

    @abstractmethod
    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append entries to the audit log; the store gives each its id (the ``id`` passed
        is ignored: pass 0), which grows with every entry."""

    @abstractmethod
    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        """Audit entries, newest first (by id), that match every filter given: exactly
        ``actor``, ``action`` and ``target``, ``at`` at or after ``since`` and before
        ``until``. ``cursor`` is the ``next_cursor`` of the previous page.

        :raises ValidationError: a malformed cursor or a limit outside 1..1000.
        """


class PauseStore(ABC):
    """Pauses that end by themselves: the jobs paused ``until`` a time that has come."""

    @abstractmethod
    async def resume_due_pauses(self, *, limit: int) -> list[Job]:
        """Resume up to ``limit`` paused jobs whose :attr:`PauseInfo.until` is at or
        before the store's now, earliest first, as :meth:`JobStore.set_paused` would, and
        return them as resumed. A job is resumed by one call only: two schedulers sweeping
        at once never both return it (each is resumed under its row's lock, or in one
        script, on the condition that it is still paused until that time)."""


class RetentionStore(ABC):
    """Retention (:mod:`tss.core.retention`): counting and pruning old history a bounded
    batch at a time, and the fire ledger the pruned scheduled runs leave. Runs are pruned
    with :meth:`HistoryStore.delete_ended_runs`."""

    @abstractmethod
    async def run_jobs(self) -> list[str]:
        """The names of the jobs that have runs, deleted jobs included, in name order; read
        from the job index of the runs (one step per job), not from the runs."""

    @abstractmethod
    async def count_ended_runs(
        self, job: str, *, ended_before: datetime, keep_last: int = 0
    ) -> int:
        """How many runs :meth:`HistoryStore.delete_ended_runs` with these arguments would
        delete in all, called until it returns 0 (the dry run of a prune)."""

    @abstractmethod
    async def prune_rows(self, kind: RowKind, *, before: datetime, limit: int) -> int:
        """Delete up to ``limit`` rows of one kind, oldest first, in one short transaction;
        returns how many. ``alerts``: settled alerts (not ``pending``) created before
        ``before``; ``silences``: silences that ended before it; ``ledger``: fire ledger
        rows of fires before it; ``audit``: audit entries made before it."""

    @abstractmethod
    async def count_rows(self, kind: RowKind, *, before: datetime) -> int:
        """How many rows :meth:`prune_rows` would delete in all, called until it returns 0."""

    @abstractmethod
    async def list_pruned_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[PrunedFire]:
        """The fire ledger of ``job``: its pruned fires scheduled at or after ``since`` and
        before ``until``, oldest first, at most ``limit``."""


class LedgerStore(ABC):
    """The fire ledger's read of a job's fires, and backfills (:mod:`tss.core.ledger`)."""

    @abstractmethod
    async def list_fires(
        self, job: str, since: datetime, until: datetime, *, limit: int
    ) -> list[Run]:
        """The runs of ``job`` made for schedule fires (``trigger='schedule'``) whose
        ``scheduled_for`` is at or after ``since`` and before ``until``, oldest fire first,
        at most ``limit``. Read by fire (the one-run-per-fire index), not by run history."""

    @abstractmethod
    async def active_runs_of(self, job: str) -> list[Run]:
        """The runs of ``job`` that are active (scheduled, queued, running, retrying), read
        from the index of active runs, not the job's history (a backfill's ``max_active``)."""

    @abstractmethod
    async def add_backfill(self, backfill: Backfill) -> None:
        """Store a new backfill record.

        :raises Conflict: a backfill with that id exists (field ``id``).
        """

    @abstractmethod
    async def list_backfills(self, job: str, *, limit: int = 100) -> list[Backfill]:
        """The backfills of ``job``, newest first, at most ``limit``."""

    @abstractmethod
    async def get_backfill(self, backfill_id: str) -> Backfill | None:
        """The backfill with that id, or None."""

    @abstractmethod
    async def active_backfills(self, *, limit: int = 100) -> list[Backfill]:
        """Backfills still making their fires (state ``active``), oldest first."""

    @abstractmethod
    async def update_backfill(self, backfill_id: str, *, made: int, state: str) -> None:
        """Record how many of a backfill's fires were made, and its state. An unknown id is
        ignored, and so is a backfill no longer ``active``: ``done`` and ``stopped`` are
        final, so a scheduler step that read a backfill before someone stopped it does not
        set it going again."""
