"""The fire ledger of a job ("why did it (not) fire?"), backfills, and the upcoming fires of
every job (:mod:`tss.core.ledger` decides; this reads what it needs and writes backfills).

A backfill's runs are ordinary schedule fires: ``trigger='schedule'`` with their
``scheduled_for``, created through :meth:`~tss.store.roles.RunStore.create_runs`, whose
one-run-per-fire uniqueness makes each fire at most once however often a backfill is
asked for or resumed. With ``max_active`` the scheduler's backfill step
(:meth:`Ledger.advance`) makes the rest as earlier ones end.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

from tss.core.filters import JobFilter
from tss.core.history import AuditEntry
from tss.core.ids import new_id
from tss.core.jobspec import JobSpec
from tss.core.ledger import (
    MAX_BACKFILL,
    MAX_FIRES,
    Backfill,
    JobFacts,
    LedgerPage,
    PauseSpan,
    ScheduleChange,
    anchor_of,
    backfill_targets_in,
    build_in,
    eras,
    intended_in,
    pause_spans,
)
from tss.core.records import Job, NewRun, Run, RunPolicy
from tss.core.schedules import iter_fires
from tss.core.states import RunState
from tss.core.timeutil import from_micros, to_utc
from tss.errors import Conflict, NotFound, ValidationError
from tss.service.base import NodeService

#: the default ledger window: this far back from now, and ahead
DEFAULT_BACK = timedelta(days=1)
DEFAULT_AHEAD = timedelta(hours=1)
#: the longest upcoming horizon, in hours
MAX_HOURS = 168
#: the most fires one job adds to the upcoming view (a 1-second cron is cut and said so)
PER_JOB = 2000
#: the most fires the upcoming view computes over all jobs
UPCOMING_BUDGET = 200_000
#: the runs one step of a backfill creates at most
BACKFILL_BATCH = 500
#: the most backfills one scheduler step advances
BACKFILL_STEP = 20
#: the most backfills one listing gives
MAX_BACKFILLS = 1000
#: what a backfill id may look like (TSS makes 32 hex digits)
_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: how many audit entries are read per page when looking for a job's pauses (and pages)
_AUDIT_PAGE, _AUDIT_PAGES = 200, 10


def facts_of(job: Job) -> JobFacts:
    """What the ledger needs of a stored job.

    :raises ValidationError: the job has no schedule (field ``name``).
    """
    spec = job.spec
    if spec.schedule is None:
        raise ValidationError(
            f"job {spec.name!r} has no schedule, so it has no fires", field="name"
        )
    return JobFacts(spec.name, spec.schedule, job.created_at, job.next_fire_at, spec.concurrency)


def fire_run(job: Job, fire: datetime) -> NewRun:
    """The queued run of ``job`` for its fire at ``fire``, made as a scheduler makes one
    (:func:`tss.core.firing.fire_job`): the job's params, priority, pool and policy."""
    spec = job.spec
    return NewRun(
        id=new_id(),
        job=spec.name,
        state=RunState.QUEUED,
        trigger="schedule",
        params=dict(spec.params),
        priority=spec.priority,
        pool=spec.pool,
        policy=RunPolicy.of(spec),
        scheduled_for=fire,
    )


@dataclass(slots=True)
class BackfillResult:
    """What a backfill did, or (``dry_run``) would do: the fires it makes, in order."""

    job: str
    fires: list[datetime]
    dry_run: bool
    created: int = 0
    existing: int = 0
    backfill: Backfill | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "dry_run": self.dry_run,
            "count": len(self.fires),
            "fires": [f.isoformat() for f in self.fires],
            "created": self.created,
            "existing": self.existing,
            "backfill": None if self.backfill is None else self.backfill.to_dict(),
        }


@dataclass(slots=True)
class Upcoming:
    """The next fires of every unpaused scheduled job over ``[now, until)``, and the load
    per minute (fires per minute, UTC) with its busiest minutes."""

    now: datetime
    until: datetime
    fires: list[tuple[datetime, str]]
    total: int
    load: dict[datetime, int]
    capped: list[str] = field(default_factory=list)
    uncounted: list[str] = field(default_factory=list)
    truncated: bool = False

    def peaks(self, n: int = 10) -> list[tuple[datetime, int]]:
        """The ``n`` busiest minutes, busiest (then earliest) first."""
        return sorted(self.load.items(), key=lambda item: (-item[1], item[0]))[:n]

    def to_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "until": self.until.isoformat(),
            "total": self.total,
            "truncated": self.truncated,
            "fires": [{"at": at.isoformat(), "job": job} for at, job in self.fires],
            "load": [{"minute": m.isoformat(), "count": n} for m, n in sorted(self.load.items())],
            "peaks": [{"minute": m.isoformat(), "count": n} for m, n in self.peaks()],
            "capped": self.capped,
            "uncounted": self.uncounted,
            "per_job": PER_JOB,
        }


class Ledger(NodeService):
    """The fire ledger, backfills and the upcoming view."""

    # -- the ledger ------------------------------------------------------------------------

    async def fires(
        self,
        name: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = MAX_FIRES,
        cursor: str | None = None,
    ) -> LedgerPage:
        """Every fire ``name``'s schedule intended in ``[since, until)`` (default: the last
        day and the next hour), with what became of it; at most ``limit``, the rest after
        ``next_cursor``.

        :raises NotFound: no such job.
        :raises ValidationError: ``since`` not before ``until``, a limit outside 1..1000 or
            a malformed cursor, naming the field. A job without a schedule has no fires.
        """
        if not 1 <= limit <= MAX_FIRES:
            raise ValidationError(
                f"limit must be between 1 and {MAX_FIRES}, not {limit}", field="limit"
            )
        now = await self._store.now()
        since = to_utc(since) if since is not None else now - DEFAULT_BACK
        until = to_utc(until) if until is not None else now + DEFAULT_AHEAD
        if since >= until:
            raise ValidationError("since must be earlier than until", field="since")
        start = since
        if cursor is not None:
            start = max(since, _after_cursor(cursor))
        job = await self._store.get_job(name)
        if job.spec.schedule is None:  # no schedule, no fires (its runs are triggered)
            return LedgerPage(name, "UTC", "no schedule", start, until)
        periods = eras(facts_of(job), await self._changes(job))
        end = until
        planned = intended_in(periods, start, until, limit=limit + 1)
        if len(planned) > limit:
            end = planned[limit]
        runs = await self._store.list_fires(name, start, end, limit=limit + 1)
        if len(runs) > limit:
            end = runs[limit].scheduled_for or end
            runs = runs[:limit]
        pruned = await self._store.list_pruned_fires(name, start, end, limit=limit + 1)
        if len(pruned) > limit:
            end = min(end, pruned[limit].scheduled_for)
            pruned = pruned[:limit]
        return build_in(
            periods, since=start, until=end, now=now, runs=runs,
            pauses=await self._pauses(job, start, end, now),
            backfills=await self._store.list_backfills(name), pruned=pruned,
            limit=limit, full_until=until,
        )  # fmt: skip

    async def _changes(self, job: Job) -> list[ScheduleChange]:
        """The schedules ``job``'s versions set in its current life (since it was last
        made), oldest first. A version that no longer reads as a job (an older format) or
        had no schedule is left out: the schedule around it stands for it."""
        found: list[ScheduleChange] = []
        for version in await self._store.list_versions(job.name):  # newest first
            if version.change == "deleted" or version.spec is None:
                break  # an earlier job of the same name
            try:
                spec = JobSpec.model_validate(version.spec)
            except ValueError:
                continue
            if spec.schedule is not None:
                found.append(
                    ScheduleChange(
                        version.at, version.version, version.actor, spec.schedule,
                        spec.concurrency,
                    )
                )  # fmt: skip
        found.reverse()
        return found

    async def _pauses(
        self, job: Job, since: datetime, until: datetime, now: datetime
    ) -> list[PauseSpan]:
        """The job's pauses that overlap ``[since, until)``, from the audit log's
        ``job.pause``/``job.resume`` entries (and the job itself, if it is paused now)."""
        entries: list[AuditEntry] = []
        cursor: str | None = None
        for _ in range(_AUDIT_PAGES):
            page = await self._store.list_audit(
                target=job.name, until=until, limit=_AUDIT_PAGE, cursor=cursor
            )
            items: list[AuditEntry] = list(page.items)
            mine = [e for e in items if e.action in ("job.pause", "job.resume")]
            entries += mine
            # Newest first: once an entry before the window is read, the state at its
            # start is known.
            if any(e.at < since for e in mine) or page.next_cursor is None:
                break
            cursor = page.next_cursor
        # Entries of an earlier job of the same name are not this job's.
        entries = [e for e in entries if e.at >= job.created_at]
        spans = pause_spans(entries)
        if job.spec.paused and not (spans and spans[-1].end is None):
            # Paused now, but the log does not say since when (entries pruned, or paused by
            # its definition): from what the job keeps, else from its last change.
            info = job.pause
            if info is not None:
                spans.append(PauseSpan(to_utc(info.at), None, info.by, info.note))
            else:
                spans.append(PauseSpan(to_utc(job.updated_at), None, "its definition"))
        return [s for s in spans if (s.end is None or s.end > since) and s.start < until]

    # -- backfill --------------------------------------------------------------------------

    async def backfill(
        self,
        name: str,
        *,
        start: datetime,
        end: datetime,
        only_missed: bool = False,
        dry_run: bool = False,
        max_active: int | None = None,
        actor: str,
    ) -> BackfillResult:
        """Make the past fires of ``name`` in ``[start, end)`` that have no run: every one
        (missed, paused, or from before the job existed), or with ``only_missed`` only those
        the ledger calls missed. ``dry_run`` lists them and makes nothing. Without
        ``max_active`` all are made now; with it, that many at a time, the scheduler making
        the rest as earlier ones end. A fire is made at most once, however often asked.

        :raises NotFound: no such job.
        :raises ValidationError: no schedule, ``from`` not before ``to``, ``to`` in the
            future, more than 10,000 fires (field ``to``) or a bad ``max_active``.
        """
        if max_active is not None and not 1 <= max_active <= 1000:
            raise ValidationError(
                f"max_active must be between 1 and 1000, not {max_active}", field="max_active"
            )
        start, end = to_utc(start), to_utc(end)
        if start >= end:
            raise ValidationError("from must be earlier than to", field="from")
        now = await self._store.now()
        if end > now:
            raise ValidationError(
                f"to must not be in the future (now is {now.isoformat()}): only past fires "
                "can be backfilled",
                field="to",
            )
        job = await self._store.get_job(name)
        periods = eras(facts_of(job), await self._changes(job))
        cap = MAX_BACKFILL
        runs = await self._store.list_fires(name, start, end, limit=2 * cap + 1)
        pruned = await self._store.list_pruned_fires(name, start, end, limit=2 * cap + 1)
        pauses = await self._pauses(job, start, end, now)
        targets = backfill_targets_in(
            periods, start=start, end=end, now=now, runs=runs, pruned=pruned, pauses=pauses,
            only_missed=only_missed, cap=cap,
        )  # fmt: skip
        if targets is None:
            raise ValidationError(
                f"the window holds more than {cap:,} fires of {name!r}; move to earlier "
                "(or from later) and backfill in parts",
                field="to",
            )
        result = BackfillResult(name, targets, dry_run)
        if dry_run or not targets:
            return result
        record = Backfill(uuid4().hex, name, tuple(targets), 0, max_active, actor, now, "active")
        await self._store.add_backfill(record)
        made = await self._advance(record, actor, job)
        created = [run for run, fresh in made if fresh]
        result.created, result.existing = len(created), len(made) - len(created)
        result.backfill = (await self._find(record)) or record
        await self._node.publish(created)
        await self._node.audit.record(
            actor, "job.backfill", name, **{"from": start.isoformat(), "to": end.isoformat(),
            "count": len(targets), "only_missed": only_missed, "max_active": max_active,
            "backfill": record.id},
        )  # fmt: skip
        return result

    async def _find(self, record: Backfill) -> Backfill | None:
        return await self._store.get_backfill(record.id)

    async def advance(self, *, actor: str) -> list[Run]:
        """One step of every backfill still going: make as many of its next fires as its
        ``max_active`` allows now. Returns the runs made (queued: to publish). Safe to run
        anywhere, any number of times: a fire is made once; the scheduler runs it under a
        lease so two of them do not both admit."""
        made: list[Run] = []
        for record in await self._store.active_backfills(limit=BACKFILL_STEP):
            try:
                job = await self._store.get_job(record.job)
            except NotFound:
                await self._store.update_backfill(record.id, made=record.made, state="stopped")
                continue
            made += [run for run, fresh in await self._advance(record, actor, job) if fresh]
        return made

    async def _advance(self, record: Backfill, actor: str, job: Job) -> list[tuple[Run, bool]]:
        remaining = record.fires[record.made :]
        room = len(remaining)
        if record.max_active is not None:
            room = record.max_active - await self._active(record)
        batch = list(remaining[: max(0, room)])
        results: list[tuple[Run, bool]] = []
        for i in range(0, len(batch), BACKFILL_BATCH):
            part = batch[i : i + BACKFILL_BATCH]
            results += await self._store.create_runs([fire_run(job, f) for f in part], actor=actor)
        made = record.made + len(batch)
        state = "done" if made >= len(record.fires) else "active"
        if made != record.made or state != record.state:
            await self._store.update_backfill(record.id, made=made, state=state)
        return results

    async def _active(self, record: Backfill) -> int:
        """How many runs a backfill made are still active (read from the job's active
        runs, not its history)."""
        asked = set(record.fires[: record.made])
        return sum(
            1
            for run in await self._store.active_runs_of(record.job)
            if run.trigger == "schedule" and run.scheduled_for is not None
            and to_utc(run.scheduled_for) in asked
        )  # fmt: skip

    async def backfills(self, name: str, *, limit: int = MAX_BACKFILLS) -> list[Backfill]:
        """The backfills of ``name``, newest first, at most ``limit``; those of a deleted
        job too, while they are kept.

        :raises NotFound: no such job, and no backfill of that name (field ``name``).
        :raises ValidationError: a limit outside 1..1000 (field ``limit``).
        """
        if not 1 <= limit <= MAX_BACKFILLS:
            raise ValidationError(
                f"limit must be between 1 and {MAX_BACKFILLS}, not {limit}", field="limit"
            )
        found = await self._store.list_backfills(name, limit=limit)
        if not found:
            await self._store.get_job(name)
        return found

    async def stop_backfill(self, name: str, backfill_id: str, *, actor: str) -> Backfill:
        """Stop ``name``'s active backfill ``backfill_id``: the scheduler makes no more of
        its fires. The runs it made stay (cancel them as runs); the fires it did not make
        are what the ledger finds them to be (missed, most often). A scheduler step
        already under way as it stops may still make its last few fires.

        :raises NotFound: ``name`` has no backfill with that id (field ``backfill``).
        :raises Conflict: the backfill is done or stopped already (field ``backfill``).
        """
        # An id TSS made is hex; anything else is no backfill, and not worth a store trip.
        found = await self._store.get_backfill(backfill_id) if _ID.fullmatch(backfill_id) else None
        if found is None or found.job != name:
            raise NotFound(
                f"job {name!r} has no backfill {backfill_id!r}: list the job's backfills "
                "for their ids",
                field="backfill",
            )
        if found.state != "active":
            raise Conflict(_ended(found), field="backfill")
        await self._store.update_backfill(found.id, made=found.made, state="stopped")
        stopped = await self._store.get_backfill(found.id) or replace(found, state="stopped")
        if stopped.state != "stopped":  # the scheduler made its last fires meanwhile
            raise Conflict(_ended(stopped), field="backfill")
        await self._node.audit.record(
            actor, "job.backfill.stop", name, backfill=stopped.id, made=stopped.made,
            count=len(stopped.fires),
        )  # fmt: skip
        return stopped

    # -- upcoming --------------------------------------------------------------------------

    async def upcoming(self, *, hours: float = 24, limit: int = 200) -> Upcoming:
        """The fires of every unpaused scheduled job in the next ``hours`` (at most 168):
        the first ``limit`` of them, and the load per minute over all of them. A job adds
        at most :data:`PER_JOB` fires (it is named in ``capped`` when cut); past
        :data:`UPCOMING_BUDGET` fires in all, the remaining jobs are named in
        ``uncounted``.

        :raises ValidationError: hours outside (0, 168] or limit outside 1..1000.
        """
        if not 0 < hours <= MAX_HOURS:
            raise ValidationError(
                f"hours must be more than 0 and at most {MAX_HOURS}, not {hours:g}", field="hours"
            )
        if not 1 <= limit <= MAX_FIRES:
            raise ValidationError(
                f"limit must be between 1 and {MAX_FIRES}, not {limit}", field="limit"
            )
        now = await self._store.now()
        until = now + timedelta(hours=hours)
        fires: list[tuple[datetime, str]] = []
        load: Counter[datetime] = Counter()
        capped: list[str] = []
        uncounted: list[str] = []
        budget = UPCOMING_BUDGET
        cursor: str | None = None
        while True:
            page = await self._store.list_jobs(JobFilter(paused=False), limit=500, cursor=cursor)
            jobs: list[Job] = list(page.items)
            for job in jobs:
                if job.spec.schedule is None or job.pause is not None or job.next_fire_at is None:
                    continue
                if budget <= 0:
                    uncounted.append(job.name)
                    continue
                facts = facts_of(job)
                lo = max(now, to_utc(job.next_fire_at))
                n = 0
                for at in iter_fires(facts.schedule, after=lo - _US, anchor=anchor_of(facts)):
                    if at >= until:
                        break
                    if n >= min(PER_JOB, budget):
                        capped.append(job.name)
                        break
                    n += 1
                    fires.append((at, job.name))
                    load[at.replace(second=0, microsecond=0)] += 1
                budget -= n
            cursor = page.next_cursor
            if cursor is None:
                break
        fires.sort()
        return Upcoming(
            now, until, fires[:limit], len(fires), dict(load), capped, uncounted,
            truncated=len(fires) > limit or bool(capped) or bool(uncounted),
        )  # fmt: skip


_US = timedelta(microseconds=1)


def _ended(backfill: Backfill) -> str:
    """Why a backfill that is not active cannot be stopped."""
    made = f"{backfill.made} of {len(backfill.fires)} fire(s) made"
    return f"backfill {backfill.id} of {backfill.job!r} is {backfill.state} already ({made})"


def _after_cursor(cursor: str) -> datetime:
    try:
        return from_micros(int(cursor)) + _US
    except (ValueError, OverflowError, OSError):
        raise ValidationError(
            "cursor is not one this listing gave (use next_cursor as it is)", field="cursor"
        ) from None
