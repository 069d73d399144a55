"""Turning a due job into runs: the pure part of a scheduler tick."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tss.core.ids import new_id
from tss.core.models import Job, JobSpec, NewRun, Run, RunPolicy
from tss.core.schedules import ScheduleSpec, jitter_delay, next_fire_after, plan_fires
from tss.core.states import RunState

#: the reason recorded on a job's active runs cancelled by a ``concurrency: replace`` fire
REPLACED = "replaced by a newer fire"


@dataclass(slots=True)
class JobFiring:
    """What firing one due job does: runs to create, its next fire time, runs to cancel."""

    job: str
    expected_next_fire_at: datetime | None
    next_fire_at: datetime | None
    runs: list[NewRun] = field(default_factory=list)
    cancel_active: bool = False
    missed: int = 0


#: Plans the firing of one due job, given the job, the store's now and its active run count.
Planner = Callable[[Job, datetime, int], JobFiring]


def fire_job(
    job: Job,
    now: datetime,
    active_runs: int,
    rng: random.Random | None = None,
    *,
    lookahead: float = 0.0,
) -> JobFiring:
    """Plan the runs for ``job`` whose ``next_fire_at`` comes within ``lookahead`` seconds
    of ``now``, given ``active_runs``.

    A fire still ahead of ``now`` becomes a ``scheduled`` run with ``not_before`` at its
    time: the store moves it to ``queued`` when its time comes by the store's clock, so
    the work of firing a burst is done before the burst is due.

    Concurrency: ``forbid`` (and ``max_active_runs``) record a fire that cannot start as a
    ``skipped`` run with the reason, so a user sees why nothing ran; ``replace`` asks the
    store to cancel the active runs first.
    """
    spec = job.spec
    assert spec.schedule is not None and job.next_fire_at is not None
    until = now + timedelta(seconds=lookahead) if lookahead > 0 else now
    fires, following, missed = plan_window(spec.schedule, job.next_fire_at, now, until)
    firing = JobFiring(spec.name, job.next_fire_at, following, missed=missed)
    policy = RunPolicy.of(spec)
    active = active_runs
    for fire in fires:
        state = RunState.QUEUED
        not_before = None
        reason = None
        due = fire
        if spec.schedule.jitter > 0:
            due = fire + timedelta(seconds=jitter_delay(spec.schedule, rng or random.Random()))
        if due > now:
            state, not_before = RunState.SCHEDULED, due
        if active > 0 and spec.concurrency == "forbid":
            state, not_before = RunState.SKIPPED, None
            reason = "concurrency is 'forbid' and an earlier run is still active"
        elif spec.concurrency == "replace" and active > 0:
            firing.cancel_active = True
            active = 0
        elif spec.max_active_runs is not None and active >= spec.max_active_runs:
            state, not_before = RunState.SKIPPED, None
            reason = f"max_active_runs ({spec.max_active_runs}) reached"
        if state is not RunState.SKIPPED:
            active += 1
        firing.runs.append(
            NewRun(
                id=new_id(),
                job=spec.name,
                state=state,
                trigger="schedule",
                params=dict(spec.params),
                priority=spec.priority,
                pool=spec.pool,
                policy=policy,
                scheduled_for=fire,
                not_before=not_before,
                reason=reason,
            )
        )
    return firing


def plan_window(
    schedule: ScheduleSpec, next_fire_at: datetime, now: datetime, until: datetime
) -> tuple[list[datetime], datetime | None, int]:
    """The fires to make now, the next fire after them, and how many were missed.

    Fires already due at ``now`` follow the misfire policy, judged at ``now`` (not at
    ``until``: firing ahead must not make an on-time fire look late). Every fire in
    ``(now, until]`` is on time and is made, up to ``misfire_cap`` of them; any beyond are
    left for the next pass, never dropped.
    """
    fires: list[datetime] = []
    missed = 0
    following: datetime | None = next_fire_at
    if next_fire_at <= now:
        plan = plan_fires(schedule, next_fire_at=next_fire_at, now=now, anchor=next_fire_at)
        fires, following, missed = list(plan.fires), plan.next_fire_at, plan.missed
    ahead = 0
    while following is not None and following <= until and ahead < schedule.misfire_cap:
        fires.append(following)
        ahead += 1
        following = next_fire_after(schedule, following, anchor=next_fire_at)
    return fires, following, missed


def refires_withdrawn(old: JobSpec, new: JobSpec) -> bool:
    """Whether an update from ``old`` to ``new`` makes again the fires it withdrew (those
    made ahead of their time): yes when the schedule is the same, so the fire still comes,
    from the new definition; no when it changed, so the old schedule leaves no fire."""
    return old.schedule == new.schedule


def made_ahead(run: Run, now: datetime) -> bool:
    """Whether ``run`` is a fire made ahead of its time that a pause, an edit or a delete
    of its job withdraws: a scheduled fire still ``scheduled`` (lookahead), or ``queued``
    early with its ``not_before`` still to come (announce_ahead). The SQL stores select the
    same runs in SQL (their ``AHEAD`` query)."""
    if run.trigger != "schedule":
        return False
    if run.state is RunState.SCHEDULED:
        return True
    return run.state is RunState.QUEUED and run.not_before is not None and run.not_before > now


def rewound(next_fire_at: datetime | None, withdrawn: Iterable[datetime | None]) -> datetime | None:
    """A job's next fire once the fires it made ahead of their time (``withdrawn``, their
    ``scheduled_for``) were taken back by a pause or an edit: the earliest of them, so
    the job makes them again when it may (on resume, or at once after an edit) and the
    misfire policy judges any whose time has passed. A pause is thereby invisible to a fire
    whose time it does not cross, whatever the lookahead."""
    times = [t for t in (next_fire_at, *withdrawn) if t is not None]
    return min(times) if times else None
