"""Planning a due job's fires with a lookahead: firing ahead never changes which fires run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tss.core.firing import fire_job, refires_withdrawn, rewound
from tss.core.models import Job, JobSpec
from tss.core.states import RunState

NOW = datetime(2026, 12, 6, 8, 0, 0, tzinfo=UTC)


def job(next_fire_at: datetime, **schedule: Any) -> Job:
    spec = JobSpec.model_validate({"name": "j", "type": "noop", "schedule": schedule})
    return Job(spec, NOW, NOW, next_fire_at, 1)


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def test_an_on_time_fire_made_ahead_is_not_judged_late() -> None:
    # A grace shorter than the lookahead: the fire 2 s ahead is on time, not 3 s late.
    firing = fire_job(job(at(2), every=60, misfire="skip", misfire_grace=1), NOW, 0, lookahead=5)
    [run] = firing.runs
    assert (run.scheduled_for, run.state, run.not_before) == (at(2), RunState.SCHEDULED, at(2))
    assert (firing.next_fire_at, firing.missed) == (at(62), 0)


def test_misfire_is_judged_at_now_and_every_fire_ahead_is_made() -> None:
    # Resumed after a pause across three fires of a 2 s job, with a 5 s lookahead:
    # run_once makes one catch-up run for the missed ones, then each fire to come.
    firing = fire_job(
        job(at(-6), every=2, misfire="run_once", misfire_grace=1), NOW, 0, lookahead=5
    )
    assert [r.scheduled_for for r in firing.runs] == [at(0), at(2), at(4)]
    assert [r.state for r in firing.runs] == [RunState.QUEUED] + [RunState.SCHEDULED] * 2
    assert (firing.next_fire_at, firing.missed) == (at(6), 3)


def test_skip_drops_only_the_missed_fires() -> None:
    firing = fire_job(job(at(-6), every=2, misfire="skip", misfire_grace=1), NOW, 0, lookahead=5)
    assert [r.scheduled_for for r in firing.runs] == [at(0), at(2), at(4)]
    assert firing.missed == 3


def test_fires_ahead_stop_at_the_cap_and_the_rest_come_next_time() -> None:
    spec = job(at(0.5), every=0.5, misfire_cap=3)
    firing = fire_job(spec, NOW, 0, lookahead=5)
    assert [r.scheduled_for for r in firing.runs] == [at(0.5), at(1), at(1.5)]
    assert firing.next_fire_at == at(2)  # not dropped: fired on the next pass


def test_withdrawn_fires_rewind_the_next_fire() -> None:
    assert rewound(at(60), [at(5), at(3)]) == at(3)
    assert rewound(at(2), [at(5)]) == at(2)
    assert rewound(None, [at(5)]) == at(5)  # a one-shot fired ahead, then paused
    assert rewound(at(60), [None]) == at(60)
    assert rewound(None, []) is None


def test_an_edit_makes_withdrawn_fires_again_only_with_the_same_schedule() -> None:
    old = job(at(1), every=60).spec
    assert refires_withdrawn(old, old.model_copy(update={"params": {"v": 2}}))
    assert not refires_withdrawn(old, job(at(1), every=30).spec)
