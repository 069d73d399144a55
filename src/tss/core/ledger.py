"""The fire ledger: every fire a job's schedule intended in a window, and what became of it.

Pure: the service reads the runs, pauses, backfills and pruned fires of the window and
hands them here. A fire is one ``scheduled_for`` instant of the schedule the job had then
(its versions say when it changed: :func:`eras`); a run made for it is unique per ``(job,
scheduled_for)``, so each fire has at most one run.

Statuses (:data:`FIRE_STATUSES`), in the words a person reads them:

``fired``       a run was made for it (its state and outcome are given)
``skipped``     ``concurrency: forbid`` or ``max_active_runs`` kept it from starting
``replaced``    its run was cancelled by a newer fire (``concurrency: replace``)
``missed``      no run, while not paused: what the misfire policy decided
``paused``      no run: the job was paused (by whom, with the note)
``backfilled``  its run was made by a backfill (by whom, when)
``pruned``      its run was pruned; the compact ledger row keeps the outcome
``due``         its time came but the scheduler has not fired it yet
``upcoming``    still ahead (a ``scheduled`` run may be made for it already)

Annotations: ``dst`` (which DST rule of DESIGN.md section 5 applied), ``jitter`` (seconds
between the fire and its run's ``not_before``) and ``late`` (seconds between when it was
due and when it started, or was queued).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, get_args
from zoneinfo import ZoneInfo

from cronsim import CronSim

from tss.core import _cron
from tss.core.firing import REPLACED
from tss.core.records import Run
from tss.core.schedules import ScheduleSpec, first_fire, iter_fires
from tss.core.states import ACTIVE_STATES, RunState
from tss.core.timeutil import to_micros, to_utc

FireStatus = Literal[
    "fired", "skipped", "replaced", "missed", "paused", "backfilled", "pruned", "due", "upcoming"
]
FIRE_STATUSES: tuple[str, ...] = get_args(FireStatus)
#: the most fires one ledger call lists (a 1-second cron over a month is 2.6 million)
MAX_FIRES = 1000
#: the most fires one backfill may make
MAX_BACKFILL = 10_000
BackfillState = Literal["active", "done", "stopped"]

_US = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class PauseSpan:
    """A time a job was paused: from ``start`` to ``end`` (None: still paused)."""

    start: datetime
    end: datetime | None
    by: str
    note: str = ""

    def covers(self, at: datetime) -> bool:
        return self.start <= at and (self.end is None or at < self.end)


@dataclass(frozen=True, slots=True)
class Backfill:
    """A backfill: the past ``fires`` of ``job`` someone asked to make, and how many of them
    (in order) were made so far. With ``max_active`` the scheduler makes them a few at a
    time (``state`` ``active`` until all are made, then ``done``); without, all at once.
    Someone may stop an active one (``stopped``): the scheduler makes no more of them."""

    id: str
    job: str
    fires: tuple[datetime, ...]
    made: int
    max_active: int | None
    actor: str
    created_at: datetime
    state: BackfillState = "active"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "count": len(self.fires),
            "made": self.made,
            "max_active": self.max_active,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "state": self.state,
            "first": self.fires[0].isoformat() if self.fires else None,
            "last": self.fires[-1].isoformat() if self.fires else None,
        }


class _Pruned(Protocol):
    """What the ledger reads of a pruned fire (:class:`tss.core.retention.PrunedFire`)."""

    @property
    def scheduled_for(self) -> datetime: ...
    @property
    def run_id(self) -> str: ...
    @property
    def state(self) -> RunState: ...
    @property
    def finished_at(self) -> datetime | None: ...
    @property
    def reason(self) -> str | None: ...


class _Entry(Protocol):
    """What the ledger reads of an audit entry (:class:`tss.core.history.AuditEntry`)."""

    @property
    def at(self) -> datetime: ...
    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class LedgerFire:
    """One intended fire and what became of it."""

    at: datetime
    status: FireStatus
    words: str
    run_id: str | None = None
    state: RunState | None = None
    attempt: int = 0
    reason: str | None = None
    by: str | None = None
    note: str | None = None
    backfill: str | None = None
    dst: str | None = None
    jitter: float | None = None
    late: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "status": self.status,
            "words": self.words,
            "run_id": self.run_id,
            "state": None if self.state is None else self.state.value,
            "attempt": self.attempt,
            "reason": self.reason,
            "by": self.by,
            "note": self.note,
            "backfill": self.backfill,
            "dst": self.dst,
            "jitter": self.jitter,
            "late": self.late,
        }


@dataclass(slots=True)
class LedgerPage:
    """The ledger of one job over ``[since, until)``: at most ``limit`` fires; when cut,
    ``next_cursor`` continues after the last one listed."""

    job: str
    timezone: str
    schedule: str
    since: datetime
    until: datetime
    fires: list[LedgerFire] = field(default_factory=list)
    truncated: bool = False
    next_cursor: str | None = None

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(FIRE_STATUSES, 0)
        for fire in self.fires:
            out[fire.status] += 1
        return {k: v for k, v in out.items() if v}

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "timezone": self.timezone,
            "schedule": self.schedule,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "fires": [fire.to_dict() for fire in self.fires],
            "counts": self.counts(),
            "truncated": self.truncated,
            "next_cursor": self.next_cursor,
        }


@dataclass(frozen=True, slots=True)
class JobFacts:
    """What the ledger needs of a job: its schedule, when it was made, its next fire."""

    name: str
    schedule: ScheduleSpec
    created_at: datetime
    next_fire_at: datetime | None
    concurrency: str = "allow"


@dataclass(frozen=True, slots=True)
class ScheduleChange:
    """A version of the job that set its schedule (or its ``concurrency``): from ``at``,
    by ``actor``."""

    at: datetime
    version: int
    actor: str
    schedule: ScheduleSpec
    concurrency: str = "allow"


@dataclass(frozen=True, slots=True)
class Era:
    """A stretch of the job's life under one schedule: the fires in ``[lo, hi)`` are
    ``facts``'s (``lo``/``hi`` None: open). A fire at the very instant of a change is the
    earlier schedule's (a changed job fires strictly after its change, as a new one does).
    ``change`` is the version that brought the schedule in (None for the first era)."""

    lo: datetime | None
    hi: datetime | None
    facts: JobFacts
    change: ScheduleChange | None = None

    def clip(self, since: datetime, until: datetime) -> tuple[datetime, datetime] | None:
        """``[since, until)`` cut to this era; None when they do not meet."""
        lo = since if self.lo is None else max(since, self.lo)
        hi = until if self.hi is None else min(until, self.hi)
        return (lo, hi) if lo < hi else None


def eras(current: JobFacts, changes: Sequence[ScheduleChange]) -> list[Era]:
    """The job's eras from its versions' schedules (``changes``, any order, those of its
    current life), oldest first; the last is ``current`` (the stored job, which knows its
    next fire). A version that kept the schedule and ``concurrency`` starts no era. Without
    changes (a job made before versions were kept), one era: ``current``."""
    kept: list[ScheduleChange] = []
    for change in sorted(changes, key=lambda c: (c.at, c.version)):
        if kept and (kept[-1].schedule, kept[-1].concurrency) == (
            change.schedule,
            change.concurrency,
        ):
            continue
        kept.append(change)
    if len(kept) <= 1:
        return [Era(None, None, current)]
    out: list[Era] = []
    for i, change in enumerate(kept):
        lo = None if i == 0 else to_utc(change.at) + _US
        last = i == len(kept) - 1
        hi = None if last else to_utc(kept[i + 1].at) + _US
        if last:
            facts = current
        else:
            made = current.created_at if i == 0 else to_utc(change.at)
            facts = JobFacts(current.name, change.schedule, made, None, change.concurrency)
        out.append(Era(lo, hi, facts, None if i == 0 else change))
    return out


# -- inputs ------------------------------------------------------------------------------------


def pause_spans(entries: Iterable[_Entry]) -> list[PauseSpan]:
    """The pauses recorded by ``job.pause``/``job.resume`` audit entries (any order): a pause
    lasts until the next resume (or is still on)."""
    spans: list[PauseSpan] = []
    open_: tuple[datetime, str, str] | None = None
    for entry in sorted(entries, key=lambda e: e.at):
        if entry.action == "job.pause" and open_ is None:
            open_ = (to_utc(entry.at), entry.actor, str(entry.details.get("note") or ""))
        elif entry.action == "job.resume" and open_ is not None:
            spans.append(PauseSpan(open_[0], to_utc(entry.at), open_[1], open_[2]))
            open_ = None
    if open_ is not None:
        spans.append(PauseSpan(open_[0], None, open_[1], open_[2]))
    return spans


def anchor_of(facts: JobFacts) -> datetime:
    """The anchor of the job's interval grid: its next fire (which is on the grid), else
    its first fire."""
    if facts.next_fire_at is not None:
        return to_utc(facts.next_fire_at)
    return first_fire(facts.schedule, created_at=facts.created_at) or to_utc(facts.created_at)


def intended(
    facts: JobFacts, since: datetime, until: datetime, *, limit: int, floor: bool = True
) -> list[datetime]:
    """The schedule's fires in ``[since, until)``, at most ``limit``; with ``floor``, none
    before the job existed."""
    lo = to_utc(since)
    if floor:  # a job's first fire is strictly after it was made
        lo = max(lo, to_utc(facts.created_at) + _US)
    out: list[datetime] = []
    if limit <= 0:
        return out
    for fire in iter_fires(facts.schedule, after=lo - _US, anchor=anchor_of(facts)):
        if fire >= until:
            break
        out.append(fire)
        if len(out) >= limit:
            break
    return out


def cursor_of(at: datetime) -> str:
    """The cursor that continues a ledger after the fire at ``at``."""
    return str(to_micros(at))


# -- the ledger --------------------------------------------------------------------------------


def build(
    facts: JobFacts,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    runs: Sequence[Run],
    pauses: Sequence[PauseSpan] = (),
    backfills: Sequence[Backfill] = (),
    pruned: Sequence[_Pruned] = (),
    limit: int = MAX_FIRES,
    full_until: datetime | None = None,
) -> LedgerPage:
    """The ledger of ``facts``'s job over ``[since, until)``.

    ``runs`` are its runs with ``scheduled_for`` in the window (any order); ``pruned`` the
    ledger rows of fires whose runs were pruned. At most ``limit`` fires are listed: when
    there are more, or the caller cut the window short of ``full_until`` (the window the
    reader asked for), the page says so and gives the cursor to go on from.
    """
    spec = facts.schedule
    since, until, now = to_utc(since), to_utc(until), to_utc(now)
    page = LedgerPage(facts.name, spec.timezone, spec.describe(), since, full_until or until)
    by_fire = {to_utc(r.scheduled_for): r for r in runs if r.scheduled_for is not None}
    kept = {to_utc(p.scheduled_for): p for p in pruned}
    times = set(intended(facts, since, until, limit=limit + 1))
    times.update(t for t in by_fire if since <= t < until)
    times.update(t for t in kept if since <= t < until)
    # Fires an active backfill is still to make are listed, before the job existed too.
    pending = {t: b for b in backfills if b.state == "active" for t in b.fires[b.made :]}
    times.update(t for t in pending if since <= t < until)
    ordered = sorted(times)
    if len(ordered) > limit:
        page.truncated = True
        page.next_cursor = cursor_of(ordered[limit - 1])
        ordered = ordered[:limit]
    elif full_until is not None and until < full_until:
        page.truncated = True
        page.next_cursor = cursor_of(until - _US)
    asked = {t: b for b in backfills for t in b.fires}
    dst = _DstNotes(spec)
    fires: list[LedgerFire] = []
    prev: datetime | None = None
    active_runs = sorted(by_fire.values(), key=lambda r: r.created_at)
    for at in ordered:
        note = dst.note(at, prev)
        prev = at
        run = by_fire.get(at)
        if run is not None:
            fire = _of_run(facts, at, run, now, asked.get(at), active_runs)
        elif at in kept:
            fire = _of_pruned(at, kept[at])
        elif at in pending and at <= now:
            b = pending[at]
            words = (
                f"backfill pending: backfill {b.id} by {b.actor} makes it when one of its "
                f"runs ends (max_active {b.max_active})"
            )
            fire = LedgerFire(at, "backfilled", words, by=b.actor, backfill=b.id)
        else:
            fire = _of_nothing(facts, at, now, pauses, asked.get(at))
        if note is not None:
            fire = _with(fire, dst=note)
        fires.append(fire)
    _explain_misfires(facts, fires)
    _name_replacers(fires)
    _name_stopped(fires, backfills)
    page.fires = fires
    return page


def _stretches(
    periods: Sequence[Era], since: datetime, until: datetime
) -> Iterator[tuple[Era, datetime, datetime]]:
    """Each era that meets ``[since, until)``, oldest first, with the part of the window
    that is its own."""
    for era in periods:
        window = era.clip(to_utc(since), to_utc(until))
        if window is not None:
            yield era, *window


def intended_in(
    periods: Sequence[Era], since: datetime, until: datetime, *, limit: int
) -> list[datetime]:
    """:func:`intended` over the job's eras: each stretch of ``[since, until)`` by the
    schedule in force then; at most ``limit``."""
    out: list[datetime] = []
    for era, lo, hi in _stretches(periods, since, until):
        if len(out) < limit:
            out += intended(era.facts, lo, hi, limit=limit - len(out))
    return out


def build_in(
    periods: Sequence[Era],
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    runs: Sequence[Run],
    pauses: Sequence[PauseSpan] = (),
    backfills: Sequence[Backfill] = (),
    pruned: Sequence[_Pruned] = (),
    limit: int = MAX_FIRES,
    full_until: datetime | None = None,
) -> LedgerPage:
    """:func:`build` over the job's eras (``periods``, oldest first): each stretch of the
    window by the schedule in force then. The first fire of an era after a change says
    which version changed the schedule. The page names the current (last) schedule."""
    if len(periods) == 1:
        return build(
            periods[0].facts, since=since, until=until, now=now, runs=runs, pauses=pauses,
            backfills=backfills, pruned=pruned, limit=limit, full_until=full_until,
        )  # fmt: skip
    since, until = to_utc(since), to_utc(until)
    current = periods[-1].facts
    page = LedgerPage(
        current.name, current.schedule.timezone, current.schedule.describe(), since,
        full_until or until,
    )  # fmt: skip
    for era, lo, hi in _stretches(periods, since, until):
        left = limit - len(page.fires)
        if left <= 0:  # the limit fell at an era's end: go on from the last fire listed
            page.truncated, page.next_cursor = True, cursor_of(page.fires[-1].at)
            return page
        part = build(
            era.facts, since=lo, until=hi, now=now, runs=runs, pauses=pauses,
            backfills=backfills, pruned=pruned, limit=left,
        )  # fmt: skip
        fires = part.fires
        if era.change is not None and fires and fires[0].at >= lo:
            c = era.change
            said = (
                f"{fires[0].words}; the schedule in force from {_stamp(c.at)} (version "
                f"{c.version} by {c.actor}): {c.schedule.describe()}"
            )
            fires = [_with(fires[0], words=said), *fires[1:]]
        page.fires += fires
        if part.truncated:
            page.truncated, page.next_cursor = True, part.next_cursor
            return page
    if full_until is not None and until < full_until:
        page.truncated, page.next_cursor = True, cursor_of(until - _US)
    return page


def backfill_targets_in(
    periods: Sequence[Era],
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    runs: Sequence[Run],
    pruned: Sequence[_Pruned],
    pauses: Sequence[PauseSpan],
    only_missed: bool,
    cap: int = MAX_BACKFILL,
) -> list[datetime] | None:
    """:func:`backfill_targets` over the job's eras: each stretch by the schedule in force
    then (the first era's before the job existed). None past ``cap`` fires in all."""
    out: list[datetime] = []
    for era, lo, hi in _stretches(periods, start, end):
        found = backfill_targets(
            era.facts, start=lo, end=hi, now=now, runs=runs, pruned=pruned, pauses=pauses,
            only_missed=only_missed, cap=cap - len(out),
        )  # fmt: skip
        if found is None:
            return None
        out += found
    return out


def backfill_targets(
    facts: JobFacts,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    runs: Sequence[Run],
    pruned: Sequence[_Pruned],
    pauses: Sequence[PauseSpan],
    only_missed: bool,
    cap: int = MAX_BACKFILL,
) -> list[datetime] | None:
    """The fires of ``[start, end)`` a backfill makes: every fire of the schedule there with
    no run (and no pruned ledger row), before the job existed too; with ``only_missed``,
    only those the ledger calls ``missed`` (not the paused ones, nor any before the job
    existed). None when the window holds more than ``cap`` fires."""
    fires = intended(facts, start, end, limit=cap + 1, floor=False)
    if len(fires) > cap:
        return None
    taken = {to_utc(r.scheduled_for) for r in runs if r.scheduled_for is not None}
    taken.update(to_utc(p.scheduled_for) for p in pruned)
    free = [f for f in fires if f not in taken and f <= now]
    if not only_missed:
        return free
    created = to_utc(facts.created_at)
    return [
        f
        for f in free
        if f > created and _of_nothing(facts, f, now, pauses, None).status == "missed"
    ]


# -- one fire ----------------------------------------------------------------------------------


def _stamp(t: datetime) -> str:
    return to_utc(t).strftime("%Y-%m-%d %H:%M:%S UTC")


def _secs(value: float) -> str:
    return f"{round(value, 3):g} s"


def _of_run(
    facts: JobFacts,
    at: datetime,
    run: Run,
    now: datetime,
    backfill: Backfill | None,
    runs: Sequence[Run],
) -> LedgerFire:
    state = run.state
    jitter = late = None
    due = at
    if run.not_before is not None and facts.schedule.jitter > 0:
        jitter = round(max(0.0, (to_utc(run.not_before) - at).total_seconds()), 3)
        due = to_utc(run.not_before)
    began = run.started_at or run.queued_at
    if began is not None:
        late = round(max(0.0, (to_utc(began) - due).total_seconds()), 3)
    common: dict[str, Any] = {
        "run_id": run.id,
        "state": state,
        "attempt": run.attempt,
        "reason": run.reason,
        "jitter": jitter,
        "late": late,
    }
    if state is RunState.SKIPPED and run.trigger == "schedule" and run.attempt == 0:
        words = f"skipped: {run.reason or 'it could not start'}"
        blocker = _blocker(run, runs)
        if blocker is not None:
            when = (
                ""
                if blocker.scheduled_for is None
                else f", fire of {_stamp(blocker.scheduled_for)}"
            )
            words += f" (run {blocker.id}{when} was still active)"
        return LedgerFire(at, "skipped", words, **common)
    if state is RunState.CANCELLED and run.reason == REPLACED:
        return LedgerFire(at, "replaced", "replaced: cancelled by a newer fire", **common)
    if state is RunState.SCHEDULED:
        words = "upcoming: made ahead of its time"
        if run.not_before is not None:
            words += f", to start at {_stamp(run.not_before)}"
        return LedgerFire(at, "upcoming", words, **common)
    words = _outcome(run)
    if late is not None and late >= 1:
        words += f"; started {_secs(late)} after its time" if run.started_at else ""
    if jitter:
        words += f"; jittered by {_secs(jitter)}"
    if backfill is not None and to_utc(run.created_at) >= to_utc(backfill.created_at):
        words = f"backfilled by {backfill.actor} at {_stamp(backfill.created_at)}: {words}"
        return LedgerFire(
            at, "backfilled", words, by=backfill.actor, backfill=backfill.id, **common
        )
    return LedgerFire(at, "fired", words, **common)


def _outcome(run: Run) -> str:
    state = run.state
    tries = f" after {run.attempt} attempts" if run.attempt > 1 else ""
    if state is RunState.SUCCEEDED:
        return f"ran: succeeded{tries}"
    if state in (RunState.FAILED, RunState.TIMED_OUT):
        why = run.reason or (run.error.message if run.error is not None else "")
        return f"ran: {state.value}{tries}" + (f": {why}" if why else "")
    if state is RunState.CANCELLED:
        return "cancelled" + (f": {run.reason}" if run.reason else "")
    if state is RunState.SKIPPED:
        return "skipped" + (f": {run.reason}" if run.reason else "")
    return {
        RunState.QUEUED: "fired: queued, waiting for a worker",
        RunState.RUNNING: f"fired: running now (attempt {run.attempt})",
        RunState.RETRYING: f"fired: failed attempt {run.attempt}, will retry",
        RunState.WAITING: "fired: waiting for its flow's parents",
    }.get(state, f"fired: {state.value}")


def _blocker(run: Run, runs: Sequence[Run]) -> Run | None:
    """The run of the same job that was active when ``run`` was skipped, if the history
    shows one: made before it, not skipped, not ended by then."""
    made = to_utc(run.created_at)
    found: Run | None = None
    for other in runs:
        if other.id == run.id or to_utc(other.created_at) > made:
            continue
        if other.state is RunState.SKIPPED:
            continue
        ended = other.finished_at
        if (ended is None and other.state in ACTIVE_STATES) or (
            ended is not None and to_utc(ended) >= made
        ):
            found = other
    return found


def _of_pruned(at: datetime, row: _Pruned) -> LedgerFire:
    state = RunState(row.state)
    words = f"pruned: its run ended {state.value}"
    if row.finished_at is not None:
        words += f" at {_stamp(row.finished_at)}"
    if row.reason:
        words += f" ({row.reason})"
    words += "; the run was deleted by retention, the ledger keeps its outcome"
    status: FireStatus = "pruned"
    return LedgerFire(at, status, words, run_id=row.run_id, state=state, reason=row.reason)


def _of_nothing(
    facts: JobFacts,
    at: datetime,
    now: datetime,
    pauses: Sequence[PauseSpan],
    backfill: Backfill | None,
) -> LedgerFire:
    pending = ""
    if backfill is not None and backfill.state == "active":
        pending = f"; backfill {backfill.id} by {backfill.actor} will make it"
    if at > now:
        return LedgerFire(at, "upcoming", "upcoming: not yet due" + pending)
    for span in pauses:
        if span.covers(at):
            words = f"paused: the job was paused by {span.by} at {_stamp(span.start)}"
            if span.note:
                words += f' ("{span.note}")'
            return LedgerFire(at, "paused", words + pending, by=span.by, note=span.note or None)
    nxt = facts.next_fire_at
    if nxt is not None and to_utc(nxt) <= at:
        words = (
            "due: its time came and the scheduler has not fired it yet (is a scheduler running?)"
        )
        return LedgerFire(at, "due", words + pending)
    return LedgerFire(at, "missed", "missed: nothing ran at its time" + pending)


def _with(fire: LedgerFire, **changes: Any) -> LedgerFire:
    return replace(fire, **changes)


def _explain_misfires(facts: JobFacts, fires: list[LedgerFire]) -> None:
    """Say, on each missed fire, what the misfire policy decided: the fire that finally ran
    after a run of misses is the policy's catch-up."""
    spec = facts.schedule
    group: list[int] = []
    for i, fire in enumerate(fires):
        if fire.status == "missed":
            group.append(i)
            continue
        if fire.status == "paused":
            continue
        if not group:
            continue
        if fire.run_id is not None and fire.status in ("fired", "skipped", "replaced"):
            n = len(group) + 1
            if spec.misfire == "run_once":
                why = (
                    f"misfire 'run_once' ran only the latest of {n} fires due when the "
                    f"scheduler came, at {_stamp(fire.at)} (run {fire.run_id})"
                )
            elif spec.misfire == "skip":
                why = (
                    f"misfire 'skip' dropped it: it was over {spec.misfire_grace:g} s late "
                    "when the scheduler came"
                )
            else:
                why = (
                    f"misfire 'run_all' makes at most {spec.misfire_cap} late fires at once; "
                    "this one was beyond that"
                )
        else:
            why = "no scheduler fired it"
        for j in group:
            fires[j] = _with(fires[j], words=f"{fires[j].words}; {why}")
        group = []
    for j in group:
        why = "no scheduler has fired it since (was one running?)"
        fires[j] = _with(fires[j], words=f"{fires[j].words}; {why}")


def _name_stopped(fires: list[LedgerFire], backfills: Sequence[Backfill]) -> None:
    """Say, on each fire without a run that a stopped backfill had yet to make, that it was
    stopped first: the fire keeps the status it has (missed, paused...)."""
    halted = {t: b for b in backfills if b.state == "stopped" for t in b.fires[b.made :]}
    if not halted:
        return
    for i, fire in enumerate(fires):
        b = halted.get(fire.at)
        if b is not None and fire.run_id is None:
            words = f"{fire.words}; backfill {b.id} by {b.actor} was stopped before making it"
            fires[i] = _with(fire, words=words)


def _name_replacers(fires: list[LedgerFire]) -> None:
    """Name, on each replaced fire, the fire that replaced it: the next one with a run."""
    for i, fire in enumerate(fires):
        if fire.status != "replaced":
            continue
        for later in fires[i + 1 :]:
            if later.run_id is not None and later.status != "skipped":
                words = (
                    f"replaced: cancelled by the fire of {_stamp(later.at)} (run {later.run_id})"
                )
                fires[i] = _with(fire, words=words)
                break


# -- DST ---------------------------------------------------------------------------------------


class _DstNotes:
    """Which DST rule shaped a fire (DESIGN.md section 5), in words; None when none did."""

    def __init__(self, spec: ScheduleSpec) -> None:
        self.expr = None if spec.cron is None else _cron.normalize(spec.cron)
        self.zone = spec.timezone
        self.tz = ZoneInfo(spec.timezone)
        self.fixed = self.expr is not None and not self.expr.split()[-4].startswith("*")
        self.active = self.expr is not None and spec.timezone not in ("UTC", "Etc/UTC")

    def _off(self, t: datetime) -> timedelta:
        off = t.astimezone(self.tz).utcoffset()
        assert off is not None
        return off

    def _wall(self, t: datetime, off: timedelta) -> datetime:
        return (t + off).replace(tzinfo=None)

    def _first_match(self, lo: datetime, hi: datetime) -> datetime | None:
        """The first wall time in ``[lo, hi)`` the expression matches."""
        assert self.expr is not None
        found = next(CronSim(self.expr, lo - timedelta(seconds=1)), None)
        return found if found is not None and found < hi else None

    def _repeated(self, wall: datetime) -> bool:
        first = wall.replace(tzinfo=self.tz, fold=0).utcoffset()
        second = wall.replace(tzinfo=self.tz, fold=1).utcoffset()
        return first is not None and second is not None and first > second

    def note(self, at: datetime, prev: datetime | None) -> str | None:
        if not self.active:
            return None
        local = at.astimezone(self.tz)
        day = local.strftime("%Y-%m-%d")
        wall = local.replace(tzinfo=None)
        before, after = self._off(at - _US), self._off(at)
        if self.fixed:
            if before < after:  # at is the instant a spring-forward gap ends
                lo, hi = self._wall(at, before), self._wall(at, after)
                skipped = self._first_match(lo, hi)
                if skipped is not None:
                    return (
                        f"{skipped:%H:%M} does not exist on {day} in {self.zone}; fired at "
                        f"{hi:%H:%M}, the end of the gap"
                    )
            if self._repeated(wall):
                return (
                    f"{wall:%H:%M} occurs twice on {day} in {self.zone}; fired at its first "
                    "occurrence only (fixed hour)"
                )
            return None
        if self._repeated(wall):
            which = "second" if local.fold else "first"
            return (
                f"{wall:%H:%M} occurs twice on {day} in {self.zone}; fired in both passes "
                f"(hour field starts with *): this is the {which}"
            )
        if prev is not None and self._off(prev) < after:
            gap = self._gap_between(prev, at)
            if gap is not None:
                lo, hi = gap
                skipped = self._first_match(lo, hi)
                if skipped is not None:
                    return (
                        f"{lo:%H:%M}-{hi:%H:%M} did not exist on {day} in {self.zone}; no fire "
                        "in the gap (hour field starts with *)"
                    )
        return None

    def _gap_between(self, a: datetime, b: datetime) -> tuple[datetime, datetime] | None:
        """The wall times skipped by a spring-forward between instants ``a`` and ``b``."""
        off = self._off(a)
        lo, hi = math.floor(a.timestamp()), math.ceil(b.timestamp())
        while hi - lo > 1:  # transitions fall on whole seconds
            mid = (lo + hi) // 2
            if self._off(datetime.fromtimestamp(mid, UTC)) == off:
                lo = mid
            else:
                hi = mid
        t = datetime.fromtimestamp(hi, UTC)
        new = self._off(t)
        if new <= off:
            return None
        return self._wall(t, off), self._wall(t, new)
