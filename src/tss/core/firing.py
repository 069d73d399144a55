"""Turning a due job into runs: the pure part of a scheduler tick."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tss.core.ids import new_id
from tss.core.models import Job, NewRun, RunPolicy
from tss.core.schedules import jitter_delay, plan_fires
from tss.core.states import RunState


@dataclass(slots=True)
class JobFiring:
    """What firing one due job does: runs to create, its next fire time, runs to cancel."""

    job: str
    expected_next_fire_at: datetime | None
    next_fire_at: datetime | None
    runs: list[NewRun] = field(default_factory=list)
    cancel_active: bool = False
    missed: int = 0


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
    plan = plan_fires(
        spec.schedule, next_fire_at=job.next_fire_at, now=until, anchor=job.next_fire_at
    )
    firing = JobFiring(spec.name, job.next_fire_at, plan.next_fire_at, missed=plan.missed)
    policy = RunPolicy.of(spec)
    active = active_runs
    for fire in plan.fires:
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
