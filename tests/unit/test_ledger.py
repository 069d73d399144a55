"""The fire ledger (pure): every intended fire of a window with its status and words, the
DST rules in words, misfire explanations, caps, and what a backfill would make."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tss.core.firing import REPLACED
from tss.core.history import AuditEntry
from tss.core.jobspec import RetryPolicy
from tss.core.ledger import (
    Backfill,
    JobFacts,
    PauseSpan,
    ScheduleChange,
    backfill_targets,
    build,
    build_in,
    eras,
    intended_in,
    pause_spans,
)
from tss.core.records import Run, RunPolicy
from tss.core.schedules import ScheduleSpec
from tss.core.states import RunState

POLICY = RunPolicy("noop", None, "auto", RetryPolicy())


def t(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def facts(schedule: Any, created: datetime, next_fire: datetime | None) -> JobFacts:
    return JobFacts("job-a", ScheduleSpec.model_validate(schedule), created, next_fire)


def run(at: datetime, state: RunState, **fields: Any) -> Run:
    data: dict[str, Any] = {
        "id": f"r-{at:%H%M}",
        "job": "job-a",
        "state": state,
        "trigger": "schedule",
        "params": {},
        "priority": 0,
        "pool": "default",
        "policy": POLICY,
        "attempt": 1 if state not in (RunState.SKIPPED, RunState.SCHEDULED) else 0,
        "created_at": at,
        "updated_at": at,
        "scheduled_for": at,
        "queued_at": at,
        "started_at": at + timedelta(seconds=0.5),
        "finished_at": at + timedelta(seconds=5) if state.terminal else None,
    }
    data.update(fields)
    return Run(**data)


@dataclass(frozen=True)
class Pruned:
    scheduled_for: datetime
    run_id: str
    state: RunState
    finished_at: datetime | None
    reason: str | None


def test_every_status_of_a_per_minute_job() -> None:
    """One hour of a per-minute job: each thing that can become of a fire, in order."""
    day = t(2026, 5, 4, 10, 0)
    job = facts("* * * * *", day - timedelta(days=1), day + timedelta(minutes=12))
    m = lambda n: day + timedelta(minutes=n)  # noqa: E731
    runs = [
        run(m(0), RunState.SUCCEEDED),
        run(m(1), RunState.RUNNING, finished_at=None, started_at=m(1)),
        run(
            m(2),
            RunState.SKIPPED,
            reason="concurrency is 'forbid' and an earlier run is still active",
        ),
        run(m(3), RunState.CANCELLED, reason=REPLACED),
        run(m(4), RunState.FAILED, attempt=3, reason="exit code 1"),
        # m(5), m(6): nothing; m(7) the catch-up run made late
        run(m(7), RunState.SUCCEEDED, created_at=m(7) + timedelta(seconds=30)),
        # m(8): paused
        run(m(9), RunState.SUCCEEDED, created_at=m(30)),  # made by the backfill below
        run(m(11), RunState.SCHEDULED, not_before=m(11)),
    ]
    pruned = [Pruned(m(10), "old", RunState.SUCCEEDED, m(10) + timedelta(seconds=3), None)]
    pauses = [
        PauseSpan(m(7) + timedelta(seconds=40), m(8) + timedelta(seconds=30), "token:ops", "deploy")
    ]
    backfills = [Backfill("bf1", "job-a", (m(9),), 1, None, "token:admin", m(29))]
    page = build(
        job, since=day, until=m(14), now=m(11) + timedelta(seconds=30), runs=runs,
        pauses=pauses, backfills=backfills, pruned=pruned,
    )  # fmt: skip
    statuses = [(f.at.minute, f.status) for f in page.fires]
    assert statuses == [
        (0, "fired"),
        (1, "fired"),
        (2, "skipped"),
        (3, "replaced"),
        (4, "fired"),
        (5, "missed"),
        (6, "missed"),
        (7, "fired"),
        (8, "paused"),
        (9, "backfilled"),
        (10, "pruned"),
        (11, "upcoming"),
        (12, "upcoming"),
        (13, "upcoming"),
    ]
    f = {fire.at.minute: fire for fire in page.fires}
    assert f[0].words == "ran: succeeded" and f[0].late == 0.5
    assert f[1].words == "fired: running now (attempt 1)"
    assert "(run r-1001, fire of 2026-05-04 10:01:00 UTC was still active)" in f[2].words
    assert f[3].words == "replaced: cancelled by the fire of 2026-05-04 10:04:00 UTC (run r-1004)"
    assert f[4].words == "ran: failed after 3 attempts: exit code 1"
    assert f[5].words == (
        "missed: nothing ran at its time; misfire 'run_once' ran only the latest of 3 fires "
        "due when the scheduler came, at 2026-05-04 10:07:00 UTC (run r-1007)"
    )
    assert f[8].by == "token:ops" and f[8].note == "deploy"
    assert (
        f[8].words
        == 'paused: the job was paused by token:ops at 2026-05-04 10:07:40 UTC ("deploy")'
    )
    assert f[9].words.startswith("backfilled by token:admin at 2026-05-04 10:29:00 UTC: ran")
    assert f[9].backfill == "bf1"
    assert f[10].run_id == "old" and f[10].state is RunState.SUCCEEDED
    assert f[11].run_id == "r-1011" and "made ahead" in f[11].words
    assert f[12].words == "upcoming: not yet due"
    assert page.counts()["upcoming"] == 3 and not page.truncated


def test_due_fires_the_scheduler_has_not_reached() -> None:
    day = t(2026, 5, 4, 10, 0)
    job = facts("* * * * *", day - timedelta(days=1), day + timedelta(minutes=1))
    now = day + timedelta(minutes=2, seconds=1)
    page = build(job, since=day, until=day + timedelta(minutes=3), now=now,
                 runs=[run(day, RunState.SUCCEEDED)])  # fmt: skip
    assert [f.status for f in page.fires] == ["fired", "due", "due"]
    assert "is a scheduler running?" in page.fires[1].words


def test_skip_and_run_all_policies_in_words() -> None:
    day = t(2026, 5, 4, 10, 0)
    for policy, words in (
        ("skip", "misfire 'skip' dropped it: it was over 60 s late when the scheduler came"),
        ("run_all", "misfire 'run_all' makes at most 100 late fires at once"),
    ):
        job = facts({"cron": "* * * * *", "misfire": policy}, day - timedelta(days=1), None)
        page = build(job, since=day, until=day + timedelta(minutes=2), now=day + timedelta(hours=1),
                     runs=[run(day + timedelta(minutes=1), RunState.SUCCEEDED)])  # fmt: skip
        assert page.fires[0].status == "missed"
        assert words in page.fires[0].words


def test_no_fire_before_the_job_existed() -> None:
    created = t(2026, 5, 4, 10, 0, 30)
    job = facts("* * * * *", created, created + timedelta(minutes=5))
    page = build(
        job, since=t(2026, 5, 4, 9), until=t(2026, 5, 4, 10, 3), now=t(2026, 5, 4, 12), runs=[]
    )
    assert [f.at.minute for f in page.fires] == [1, 2]


def test_a_run_off_the_current_schedule_is_listed_too() -> None:
    day = t(2026, 5, 4, 10, 0)
    job = facts("0 * * * *", day - timedelta(days=1), day + timedelta(hours=1))
    odd = run(day + timedelta(minutes=17), RunState.SUCCEEDED)
    page = build(
        job, since=day, until=day + timedelta(hours=1), now=day + timedelta(hours=2), runs=[odd]
    )
    assert [(f.at.minute, f.status) for f in page.fires] == [(0, "missed"), (17, "fired")]


def test_a_second_cron_over_a_month_is_capped_with_a_cursor() -> None:
    day = t(2026, 5, 1)
    job = facts("* * * * * *", day - timedelta(days=1), day + timedelta(days=31))
    page = build(
        job,
        since=day,
        until=day + timedelta(days=31),
        now=day + timedelta(days=40),
        runs=[],
        limit=1000,
    )
    assert len(page.fires) == 1000 and page.truncated
    assert page.fires[-1].at == day + timedelta(seconds=999)
    assert page.next_cursor == str(int((day + timedelta(seconds=999)).timestamp() * 1_000_000))


def test_jitter_and_lateness() -> None:
    day = t(2026, 5, 4, 10, 0)
    job = facts({"cron": "* * * * *", "jitter": 30}, day - timedelta(days=1), None)
    r = run(day, RunState.SUCCEEDED, not_before=day + timedelta(seconds=12.5),
            started_at=day + timedelta(seconds=14.5))  # fmt: skip
    page = build(
        job, since=day, until=day + timedelta(seconds=1), now=day + timedelta(hours=1), runs=[r]
    )
    assert page.fires[0].jitter == 12.5 and page.fires[0].late == 2.0
    assert "jittered by 12.5 s" in page.fires[0].words


# -- DST (Europe/Paris, 2026: spring forward 29 March 02:00 -> 03:00, fall back 25 October
# 03:00 -> 02:00) ---------------------------------------------------------------------------------


def paris(cron: str, since: datetime, until: datetime) -> list[tuple[datetime, str | None]]:
    job = facts({"cron": cron, "timezone": "Europe/Paris"}, t(2026, 1, 1), t(2027, 1, 1))
    page = build(job, since=since, until=until, now=t(2027, 1, 1), runs=[])
    return [(f.at, f.dst) for f in page.fires]


def test_fixed_hour_in_the_spring_gap_fires_at_its_end() -> None:
    fires = paris("30 2 * * *", t(2026, 3, 28), t(2026, 3, 30))
    assert fires == [
        (t(2026, 3, 28, 1, 30), None),
        (
            t(2026, 3, 29, 1, 0),
            "02:30 does not exist on 2026-03-29 in Europe/Paris; fired at 03:00, the end of "
            "the gap",
        ),
    ]


def test_fixed_hour_repeated_in_the_fall_fires_once() -> None:
    fires = paris("30 2 * * *", t(2026, 10, 24, 12), t(2026, 10, 26))
    assert fires == [
        (
            t(2026, 10, 25, 0, 30),
            "02:30 occurs twice on 2026-10-25 in Europe/Paris; fired at its first occurrence "
            "only (fixed hour)",
        )
    ]


def test_star_hour_fires_in_both_passes_and_not_in_the_gap() -> None:
    fall = paris("30 * * * *", t(2026, 10, 25, 0), t(2026, 10, 25, 2))
    assert [at for at, _ in fall] == [t(2026, 10, 25, 0, 30), t(2026, 10, 25, 1, 30)]
    assert fall[0][1] is not None and fall[0][1].endswith("this is the first")
    assert fall[1][1] is not None and fall[1][1].endswith("this is the second")
    assert "fired in both passes (hour field starts with *)" in fall[1][1]
    spring = paris("30 * * * *", t(2026, 3, 29, 0), t(2026, 3, 29, 2))
    assert spring == [
        (t(2026, 3, 29, 0, 30), None),
        (
            t(2026, 3, 29, 1, 30),
            "02:00-03:00 did not exist on 2026-03-29 in Europe/Paris; no fire in the gap "
            "(hour field starts with *)",
        ),
    ]


# -- inputs and backfill targets ------------------------------------------------------------------


def test_pause_spans_from_audit_entries() -> None:
    ops = "token:ops"
    entries = [
        AuditEntry(3, t(2026, 5, 4, 12), ops, "job.pause", "job-a", {"note": "again"}),
        AuditEntry(1, t(2026, 5, 4, 10), ops, "job.pause", "job-a", {"note": "deploy"}),
        AuditEntry(2, t(2026, 5, 4, 11), ops, "job.resume", "job-a", {"auto": False}),
    ]
    assert pause_spans(entries) == [
        PauseSpan(t(2026, 5, 4, 10), t(2026, 5, 4, 11), "token:ops", "deploy"),
        PauseSpan(t(2026, 5, 4, 12), None, "token:ops", "again"),
    ]


def test_backfill_targets_missed_or_all_free_fires() -> None:
    day = t(2026, 5, 4, 10, 0)
    job = facts("* * * * *", day + timedelta(minutes=2), day + timedelta(minutes=30))
    runs = [run(day + timedelta(minutes=3), RunState.SUCCEEDED)]
    pauses = [
        PauseSpan(
            day + timedelta(minutes=4, seconds=30), day + timedelta(minutes=5, seconds=30), "cli"
        )
    ]
    common: dict[str, Any] = {
        "start": day, "end": day + timedelta(minutes=7), "now": day + timedelta(minutes=20),
        "runs": runs, "pruned": [], "pauses": pauses,
    }  # fmt: skip
    every = backfill_targets(job, only_missed=False, **common)
    assert every == [day + timedelta(minutes=n) for n in (0, 1, 2, 4, 5, 6)]
    missed = backfill_targets(job, only_missed=True, **common)
    assert missed == [day + timedelta(minutes=n) for n in (4, 6)]
    assert backfill_targets(job, only_missed=False, cap=3, **common) is None


def test_a_backfill_still_to_make_its_fires_lists_them() -> None:
    created = t(2026, 5, 4, 12)
    job = facts("0 3 * * *", created, t(2026, 5, 5, 3))
    fires = (t(2026, 5, 1, 3), t(2026, 5, 2, 3), t(2026, 5, 3, 3))
    made = run(fires[0], RunState.SUCCEEDED, created_at=created + timedelta(minutes=1))
    backfill = Backfill("bf", "job-a", fires, 1, 1, "cli", created + timedelta(minutes=1))
    page = build(job, since=t(2026, 4, 30), until=t(2026, 5, 6), now=created + timedelta(hours=1),
                 runs=[made], backfills=[backfill])  # fmt: skip
    assert [(f.at.day, f.status, f.run_id) for f in page.fires] == [
        (1, "backfilled", made.id),
        (2, "backfilled", None),
        (3, "backfilled", None),
        (5, "upcoming", None),
    ]
    assert page.fires[1].words.startswith("backfill pending: backfill bf by cli makes it")


def test_a_stopped_backfill_leaves_its_unmade_fires_as_they_are() -> None:
    """Stopped after one of three: the one it made (from before the job existed) is
    backfilled; the two it never made read missed, saying the backfill was stopped first.
    An active backfill's fire still reads backfilled (pending)."""
    day = t(2026, 5, 4, 10, 0)
    m = lambda n: day + timedelta(minutes=n)  # noqa: E731
    job = facts("* * * * *", m(1) - timedelta(seconds=30), m(10))
    stopped = Backfill("bf9", "job-a", (m(0), m(2), m(3)), 1, 1, "token:admin", m(5),
                       "stopped")  # fmt: skip
    page = build(
        job, since=m(0), until=m(4), now=m(6),
        runs=[run(m(0), RunState.QUEUED, created_at=m(5), started_at=None, finished_at=None)],
        backfills=[stopped],
    )  # fmt: skip
    assert [(f.at, f.status) for f in page.fires] == [
        (m(0), "backfilled"),
        (m(1), "missed"),
        (m(2), "missed"),
        (m(3), "missed"),
    ]
    assert "stopped" not in page.fires[1].words  # not one the backfill asked for
    for fire in page.fires[2:]:
        assert "backfill bf9 by token:admin was stopped before making it" in fire.words
    active = build(
        job, since=m(0), until=m(4), now=m(6), runs=[],
        backfills=[Backfill("bf8", "job-a", (m(2),), 0, 1, "cli", m(5))],
    )  # fmt: skip
    assert [f.status for f in active.fires] == ["missed", "backfilled", "missed"]


def change(at: datetime, version: int, schedule: Any, concurrency: str = "allow") -> ScheduleChange:
    spec = ScheduleSpec.model_validate(schedule)
    return ScheduleChange(at, version, "token:ops", spec, concurrency)


def test_eras_follow_the_schedule_changes_and_skip_the_rest() -> None:
    made, moved = t(2026, 12, 1, 0, 0), t(2026, 12, 1, 2, 0)  # changed at 02:00 sharp
    now = facts("*/30 * * * *", made, t(2026, 12, 1, 2, 30))
    # version 2 changed something else (the schedule is the same): no era of its own
    changes = [change(moved, 3, "*/30 * * * *"), change(made, 1, "0 * * * *"),
               change(t(2026, 12, 1, 0, 30), 2, "0 * * * *")]  # fmt: skip
    [old, new] = eras(now, changes)
    assert (old.lo, old.hi) == (None, moved + timedelta(microseconds=1))
    assert new.facts is now and new.change is not None and new.change.version == 3
    # The fire at the instant of the change is the old schedule's; the new one's first
    # is after it.
    fires = intended_in([old, new], made, t(2026, 12, 1, 3, 1), limit=10)
    assert fires == [t(2026, 12, 1, h, m) for h, m in ((1, 0), (2, 0), (2, 30), (3, 0))]
    assert eras(now, changes[:1]) == eras(now, []) and len(eras(now, [])) == 1


def test_a_page_over_two_schedules_names_the_change_once() -> None:
    made, moved = t(2026, 12, 1, 0, 0), t(2026, 12, 1, 1, 30)
    now = facts("*/30 * * * *", made, t(2026, 12, 1, 3, 0))
    periods = eras(now, [change(made, 1, "0 * * * *"), change(moved, 2, "*/30 * * * *")])
    runs = [run(t(2026, 12, 1, 1, 0), RunState.SUCCEEDED), run(t(2026, 12, 1, 2, 0),
            RunState.SUCCEEDED)]  # fmt: skip
    page = build_in(periods, since=made, until=t(2026, 12, 1, 2, 45), now=t(2026, 12, 1, 2, 45),
                    runs=runs)  # fmt: skip
    got = [(f.at.strftime("%H:%M"), f.status) for f in page.fires]
    assert got == [("01:00", "fired"), ("02:00", "fired"), ("02:30", "missed")]
    said = [f for f in page.fires if "the schedule in force from" in f.words]
    assert [f.at for f in said] == [t(2026, 12, 1, 2, 0)] and "version 2" in said[0].words
    assert page.schedule == "every 30 minutes"  # the page names the current schedule
    cut = build_in(periods, since=made, until=t(2026, 12, 1, 2, 45), now=t(2026, 12, 1, 2, 45),
                   runs=runs, limit=1)  # fmt: skip
    assert [f.at for f in cut.fires] == [t(2026, 12, 1, 1, 0)] and cut.truncated
