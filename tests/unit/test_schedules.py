"""Tests for tss.core.schedules: validation, fire times, DST rules, misfire planning."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
from cronsim import CronSim
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tss.core import _cron
from tss.core.schedules import (
    FirePlan,
    ScheduleSpec,
    first_fire,
    jitter_delay,
    next_fire_after,
    next_fire_times,
    plan_fires,
)

NY, LONDON, LORD_HOWE = "America/New_York", "Europe/London", "Australia/Lord_Howe"
ZONES = ["UTC", NY, LONDON, LORD_HOWE]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def fires(expr: str, zone: str, after: datetime, n: int = 6) -> list[datetime]:
    spec = ScheduleSpec(cron=expr, timezone=zone)
    return next_fire_times(spec, n, after=after, anchor=after)


def walls(zone: str, instants: list[datetime]) -> list[str]:
    return [u.astimezone(ZoneInfo(zone)).strftime("%m-%d %H:%M %z") for u in instants]


def error_locs(exc: pytest.ExceptionInfo[pydantic.ValidationError]) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in exc.value.errors()]


@cache
def transitions(zone: str, year: int) -> list[tuple[datetime, timedelta]]:
    """(instant, offset change) of each DST transition: hourly scan, then minute by minute."""
    tz, out = ZoneInfo(zone), []
    t = utc(year, 1, 1)
    prev = t.astimezone(tz).utcoffset()
    while t.year == year:
        t += timedelta(hours=1)
        off = t.astimezone(tz).utcoffset()
        if off != prev:
            assert off is not None and prev is not None
            exact = t - timedelta(hours=1)
            while exact.astimezone(tz).utcoffset() == prev:
                exact += timedelta(minutes=1)
            out.append((exact, off - prev))
            prev = off
    return out


# -- the DST calendar the cases below rely on (checked, not trusted) -----------------------


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (NY, [(utc(2026, 3, 8, 7), 60), (utc(2026, 11, 1, 6), -60)]),
        (LONDON, [(utc(2026, 3, 29, 1), 60), (utc(2026, 10, 25, 1), -60)]),
        # Lord Howe: 02:00 +11 -> 01:30 +10:30 in April, 02:00 +10:30 -> 02:30 +11 in October.
        (LORD_HOWE, [(utc(2026, 4, 4, 15), -30), (utc(2026, 10, 3, 15, 30), 30)]),
    ],
)
def test_dst_calendar(zone: str, expected: list[tuple[datetime, int]]) -> None:
    found = [(t, int(d.total_seconds() // 60)) for t, d in transitions(zone, 2026)]
    assert found == expected


# -- fixed hour: gap fires once at the gap's end, repeat fires at first occurrence ---------


@pytest.mark.parametrize(
    ("zone", "expr", "after", "expected"),
    [
        # New York spring forward 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC).
        (NY, "30 2 * * *", utc(2026, 3, 7, 12), [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30)]),
        # 02:00 is in the gap and 03:00 is its end: one fire, not two at the same instant.
        (NY, "0 2,3 * * *", utc(2026, 3, 7, 12), [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6)]),
        # New York fall back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30 first pass (EDT) only.
        (
            NY,
            "30 1 * * *",
            utc(2026, 10, 31, 12),
            [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)],
        ),
        (NY, "0 1,13 * * *", utc(2026, 10, 31, 23), [utc(2026, 11, 1, 5), utc(2026, 11, 1, 18)]),
        # London spring forward 2026-03-29 01:00 GMT -> 02:00 BST (01:00 UTC).
        (
            LONDON,
            "30 1 * * *",
            utc(2026, 3, 28, 12),
            [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
        ),
        # London fall back 2026-10-25 02:00 BST -> 01:00 GMT: 01:30 BST (00:30 UTC) only.
        (
            LONDON,
            "30 1 * * *",
            utc(2026, 10, 24, 12),
            [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        # Lord Howe fall back 2026-04-05 02:00 +11 -> 01:30 +10:30: 01:45 +11 only.
        (
            LORD_HOWE,
            "45 1 * * *",
            utc(2026, 4, 4, 0),
            [utc(2026, 4, 4, 14, 45), utc(2026, 4, 5, 15, 15)],
        ),
        # Lord Howe spring forward 2026-10-04 02:00 +10:30 -> 02:30 +11 (15:30 UTC).
        (
            LORD_HOWE,
            "15 2 * * *",
            utc(2026, 10, 3, 0),
            [utc(2026, 10, 3, 15, 30), utc(2026, 10, 4, 15, 15)],
        ),
        # 6-field with seconds: 02:30:10 in the New York gap fires at the gap's end too.
        (
            NY,
            "10 30 2 * * *",
            utc(2026, 3, 7, 12),
            [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30, 10)],
        ),
    ],
)
def test_fixed_hour_dst(zone: str, expr: str, after: datetime, expected: list[datetime]) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


def test_fixed_hour_with_star_minute_follows_the_hour_rule() -> None:
    # DESIGN.md picks the rule by the hour field alone (Debian would treat this as wildcard).
    spring = fires("*/15 2 * * *", NY, utc(2026, 3, 7, 12), 2)
    assert spring == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6)]
    autumn = fires("*/15 1 * * *", NY, utc(2026, 10, 31, 12), 5)
    assert autumn == [utc(2026, 11, 1, 5, m) for m in (0, 15, 30, 45)] + [utc(2026, 11, 2, 6)]


# -- hour starting with *: real time, both passes, nothing in the gap ----------------------


@pytest.mark.parametrize(
    ("zone", "expr", "after", "expected"),
    [
        (NY, "30 * * * *", utc(2026, 3, 8, 6), [utc(2026, 3, 8, 6, 30), utc(2026, 3, 8, 7, 30)]),
        (NY, "30 * * * *", utc(2026, 11, 1, 5), [utc(2026, 11, 1, h, 30) for h in (5, 6, 7)]),
        (NY, "0 */2 * * *", utc(2026, 3, 8, 4, 1), [utc(2026, 3, 8, 5), utc(2026, 3, 8, 8)]),
        (LONDON, "30 * * * *", utc(2026, 3, 29, 0),
         [utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1, 30)]),
        (LONDON, "30 * * * *", utc(2026, 10, 25, 0), [utc(2026, 10, 25, h, 30) for h in (0, 1, 2)]),
        # Lord Howe fall back: 01:30 +11, 01:30 +10:30 (cronsim's own tz mode misses this), 02:30.
        (LORD_HOWE, "30 * * * *", utc(2026, 4, 4, 14),
         [utc(2026, 4, 4, 14, 30), utc(2026, 4, 4, 15), utc(2026, 4, 4, 16)]),
        (LORD_HOWE, "0 */2 * * *", utc(2026, 4, 4, 14),
         [utc(2026, 4, 4, 15, 30), utc(2026, 4, 4, 17, 30)]),
        # Lord Howe spring forward: 02:00 does not exist; 02:30 +11 is the first wall after it.
        (LORD_HOWE, "0 * * * *", utc(2026, 10, 3, 14),
         [utc(2026, 10, 3, 14, 30), utc(2026, 10, 3, 16)]),
        (LORD_HOWE, "30 * * * *", utc(2026, 10, 3, 14),
         [utc(2026, 10, 3, 15), utc(2026, 10, 3, 15, 30), utc(2026, 10, 3, 16, 30)]),
    ],
)  # fmt: skip
def test_real_time_dst(zone: str, expr: str, after: datetime, expected: list[datetime]) -> None:
    assert fires(expr, zone, after, len(expected)) == expected


@pytest.mark.parametrize(
    ("zone", "gap_day", "gap_hour", "repeat_day"),
    [(NY, date(2026, 3, 8), 2, date(2026, 11, 1)),
     (LONDON, date(2026, 3, 29), 1, date(2026, 10, 25)),
     (LORD_HOWE, date(2026, 10, 4), 2, date(2026, 4, 5))],
)  # fmt: skip
def test_every_15_minutes_both_passes_and_not_in_gap(
    zone: str, gap_day: date, gap_hour: int, repeat_day: date
) -> None:
    tz = ZoneInfo(zone)
    for day in (gap_day, repeat_day):
        start = datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)
        got = fires("*/15 * * * *", zone, start - timedelta(seconds=1), 24 * 4 + 8)
        # Real time: every 15 minutes of elapsed time, whatever the wall clock does.
        assert all(b - a == timedelta(minutes=15) for a, b in pairwise(got))
        stamps = [(x.hour, x.minute) for x in (u.astimezone(tz) for u in got) if x.date() == day]
        if day == gap_day:  # the skipped wall times never appear
            assert (gap_hour, 15) not in stamps and len(stamps) < 96
        else:  # the repeated ones appear twice, once per pass
            assert stamps.count((1, 45)) == 2 and len(stamps) > 96


# -- independent oracle over whole DST days ------------------------------------------------


def _matches(expr: str, wall: datetime) -> bool:
    return next(CronSim(expr, wall - timedelta(seconds=1))) == wall


def _minute_matcher(expr: str) -> Callable[[datetime], bool]:
    """A fast 5-field matcher for the oracle: one cronsim walk per day, then set lookups."""
    days: dict[date, set[tuple[int, int]]] = {}

    def match(wall: datetime) -> bool:
        if wall.date() not in days:
            start = datetime.combine(wall.date(), datetime.min.time())
            hits, it = set(), CronSim(expr, start - timedelta(seconds=1))
            while (w := next(it)).date() == wall.date():
                hits.add((w.hour, w.minute))
            days[wall.date()] = hits
        return (wall.hour, wall.minute) in days[wall.date()]

    return match


def _oracle(expr: str, zone: str, lo: datetime, hi: datetime) -> list[datetime]:
    """Fires in (lo, hi] straight from the DESIGN.md wording, minute by minute."""
    tz, out, matches = ZoneInfo(zone), set(), _minute_matcher(expr)
    if expr.split()[1].startswith("*"):  # real time: every instant whose wall matches
        u = lo.replace(second=0) + timedelta(minutes=1)
        while u <= hi:
            if matches(u.astimezone(tz).replace(tzinfo=None, fold=0)):
                out.add(u)
            u += timedelta(minutes=1)
    else:  # fixed hour: each matching wall once, at first occurrence or the gap's end
        w = datetime.combine(lo.astimezone(tz).date() - timedelta(days=1), datetime.min.time())
        while w <= hi.astimezone(tz).replace(tzinfo=None) + timedelta(days=1):
            if matches(w):
                u = w.replace(tzinfo=tz, fold=1).astimezone(UTC)
                while u.astimezone(tz).replace(tzinfo=None) < w:  # first instant at/after w
                    u += timedelta(minutes=1)
                out.add(w.replace(tzinfo=tz).astimezone(UTC) if _exists(w, tz) else u)
            w += timedelta(minutes=1)
    return sorted(u for u in out if lo < u <= hi)


def _exists(w: datetime, tz: ZoneInfo) -> bool:
    return w.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == w


@pytest.mark.parametrize("zone", [NY, LONDON, LORD_HOWE])
@pytest.mark.parametrize(
    "expr",
    ["*/15 * * * *", "30 * * * *", "0 */2 * * *", "*/7 * * * *", "30 2 * * *", "0 1,13 * * *",
     "45 1 * * *", "0,30 1-3 * * *", "*/20 2 * * *"],
)  # fmt: skip
def test_dst_days_match_oracle(zone: str, expr: str) -> None:
    rule = _cron.rule(expr, zone)
    for moment, _ in transitions(zone, 2026):
        lo, hi = moment - timedelta(hours=14), moment + timedelta(hours=14)
        expected = _oracle(expr, zone, lo, hi)
        spec = ScheduleSpec(cron=expr, timezone=zone)
        got = next_fire_times(spec, 400, after=lo, anchor=lo)
        assert [u for u in got if u <= hi] == expected
        assert rule.count(lo, hi) == len(expected)
        # Start anywhere around the transition, including inside the second pass.
        for minutes in range(-150, 151, 10):
            after = moment + timedelta(minutes=minutes, seconds=minutes % 7)
            rest = [u for u in expected if u > after]
            nxt = next_fire_times(spec, 3, after=after, anchor=lo)
            assert [u for u in nxt if u <= hi] == rest[:3]
            assert rule.count(after, hi) == len(rest)
            assert rule.count(lo, after) == len(expected) - len(rest)


@pytest.mark.parametrize(
    ("expr", "zone", "total"),
    # */15 2: the New York gap merges 4 fires into 1; 30 *: Lord Howe repeats 01:30 once and
    # its 02:00-02:30 gap swallows no :30.
    [("*/15 2 * * *", NY, 365 * 4 - 3), ("0 */6 * * *", LORD_HOWE, 365 * 4),
     ("30 1 * * *", NY, 365), ("30 * * * *", LORD_HOWE, 365 * 24 + 1)],
)  # fmt: skip
def test_count_over_a_year_matches_listing(expr: str, zone: str, total: int) -> None:
    # The year spans both transitions while starting and ending at the same offset.
    lo, hi = utc(2026, 1, 1, 12), utc(2027, 1, 1, 12)
    listed = [u for u in fires(expr, zone, lo, total + 2) if u <= hi]
    assert _cron.rule(expr, zone).count(lo, hi) == len(listed) == total


def test_fixed_hour_agrees_with_cronsim_debian_mode() -> None:
    # For 5-field expressions with fixed minute and hour our rule is cronsim's own fixup.
    for zone in (NY, LONDON, LORD_HOWE):
        tz = ZoneInfo(zone)
        for expr in ("30 2 * * *", "0 1,13 * * *", "45 1 * * *", "0 2 * * *", "15 2 * * 0"):
            theirs = CronSim(expr, utc(2025, 12, 1).astimezone(tz))
            expected = [next(theirs).astimezone(UTC) for _ in range(400)]
            assert fires(expr, zone, utc(2025, 12, 1), 400) == expected


# -- hypothesis properties -----------------------------------------------------------------


def _field(lo: int, hi: int, star: bool = True) -> st.SearchStrategy[str]:
    single = st.integers(lo, hi).map(str)
    pair = st.lists(st.integers(lo, hi), min_size=2, max_size=3, unique=True).map(
        lambda xs: ",".join(map(str, sorted(xs)))
    )
    span = st.tuples(st.integers(lo, hi), st.integers(lo, hi)).map(
        lambda ab: f"{min(ab)}-{max(ab)}"
    )
    stars = st.sampled_from(["*"]) | st.integers(1, (hi - lo) // 2 or 1).map(lambda n: f"*/{n}")
    return (stars | single | pair | span) if star else (single | pair | span)


cron_exprs = st.tuples(
    _field(0, 59), _field(0, 23), st.just("*") | _field(1, 28, star=False),
    st.just("*") | _field(1, 12, star=False), st.just("*") | _field(0, 6, star=False),
).map(" ".join)  # fmt: skip
instants = st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)


@settings(max_examples=200, deadline=None)
@given(expr=cron_exprs, zone=st.sampled_from(ZONES), after=instants)
def test_cron_properties(expr: str, zone: str, after: datetime) -> None:
    spec = ScheduleSpec(cron=expr, timezone=zone)
    got = next_fire_times(spec, 12, after=after, anchor=after)
    assert got, "every generated expression fires within 50 years"
    assert all(u.tzinfo is UTC for u in got)
    assert got[0] > after
    assert all(a < b for a, b in pairwise(got))
    tz = ZoneInfo(zone)
    local = [u.astimezone(tz) for u in got]
    if not expr.split()[1].startswith("*"):
        keys = [(x.date(), x.hour, x.minute) for x in local]
        assert len(set(keys)) == len(keys)
    else:  # real time: each fire's wall time matches the expression
        assert all(_matches(expr, x.replace(tzinfo=None, fold=0)) for x in local)
    # Counting agrees with listing, and nothing hides between consecutive fires.
    rule = _cron.rule(expr, zone)
    assert rule.count(after, got[-1]) == len(got)
    assert (
        next_fire_after(spec, got[3 % len(got)] - timedelta(microseconds=1), anchor=after)
        == (got[3 % len(got)])
    )


@settings(max_examples=200, deadline=None)
@given(every_ms=st.integers(1, 10**9), anchor=instants, gap=st.integers(-(10**12), 10**13))
def test_interval_properties(every_ms: int, anchor: datetime, gap: int) -> None:
    spec = ScheduleSpec(every=every_ms / 1000)
    step = timedelta(milliseconds=every_ms)
    after = anchor + timedelta(microseconds=gap)
    got = next_fire_times(spec, 5, after=after, anchor=anchor)
    assert len(got) == 5 and got[0] > after and got[0] - step <= max(after, anchor - step)
    for u in got:
        k, rest = divmod(u - anchor, step)
        assert rest == timedelta(0) and k >= 0  # exact multiples of every from the anchor
    assert all(b - a == step for a, b in pairwise(got))


# -- kinds, aliases, seconds, bounds -------------------------------------------------------


def test_six_field_seconds() -> None:
    got = fires("*/5 * * * * *", "UTC", utc(2026, 1, 1, 0, 0, 3), 4)
    assert got == [utc(2026, 1, 1, 0, 0, s) for s in (5, 10, 15, 20)]
    got = fires("15,45 30 2 * * *", NY, utc(2026, 1, 1), 3)
    assert got == [
        utc(2026, 1, 1, 7, 30, 15),
        utc(2026, 1, 1, 7, 30, 45),
        utc(2026, 1, 2, 7, 30, 15),
    ]


@pytest.mark.parametrize(
    ("alias", "expr"),
    [("@yearly", "0 0 1 1 *"), ("@annually", "0 0 1 1 *"), ("@monthly", "0 0 1 * *"),
     ("@weekly", "0 0 * * 0"), ("@daily", "0 0 * * *"), ("@midnight", "0 0 * * *"),
     ("@hourly", "0 * * * *")],
)  # fmt: skip
def test_aliases(alias: str, expr: str) -> None:
    start = utc(2026, 2, 17, 13, 27)
    assert fires(alias, "Europe/Paris", start) == fires(expr, "Europe/Paris", start)
    assert ScheduleSpec.model_validate(alias).cron == alias


def test_bare_string_is_cron() -> None:
    spec = ScheduleSpec.model_validate("*/15 * * * *")
    assert spec.cron == "*/15 * * * *" and spec.kind == "cron" and spec.timezone == "UTC"


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1h", 3600), ("90s", 90), ("1h30m", 5400), (90, 90)]
)
def test_every_parses_durations(text: str | int, seconds: float) -> None:
    spec = ScheduleSpec(every=text)
    assert spec.every == seconds and spec.kind == "interval"


def test_interval_first_fire_and_anchor() -> None:
    created = utc(2026, 5, 1, 12, 0, 7)
    assert first_fire(ScheduleSpec(every="5m"), created_at=created) == created + timedelta(
        minutes=5
    )
    anchored = ScheduleSpec(every=60, start=utc(2026, 5, 1, 11, 0, 30))
    first = first_fire(anchored, created_at=created)
    assert first == utc(2026, 5, 1, 12, 0, 30)
    future = ScheduleSpec(every=60, start=utc(2026, 6, 1))
    assert first_fire(future, created_at=created) == utc(2026, 6, 1)
    assert next_fire_after(anchored, utc(2026, 5, 1, 13), anchor=first) == utc(
        2026, 5, 1, 13, 0, 30
    )


def test_at_one_shot_naive_in_zone() -> None:
    spec = ScheduleSpec(at=datetime(2026, 12, 24, 18, 0), timezone="Europe/Paris")
    assert spec.kind == "at" and spec.at is not None and spec.at.tzinfo is not None
    shot = utc(2026, 12, 24, 17)
    assert first_fire(spec, created_at=utc(2026, 1, 1)) == shot
    assert first_fire(spec, created_at=utc(2027, 1, 1)) == shot  # past: misfire rules decide
    assert next_fire_after(spec, shot - timedelta(seconds=1), anchor=shot) == shot
    assert next_fire_after(spec, shot, anchor=shot) is None
    assert next_fire_times(spec, 3, after=utc(2026, 1, 1), anchor=shot) == [shot]


def test_at_aware_from_text() -> None:
    spec = ScheduleSpec.model_validate({"at": "2026-12-24T18:00:00+01:00"})
    assert first_fire(spec, created_at=utc(2026, 1, 1)) == utc(2026, 12, 24, 17)


def test_delay_one_shot() -> None:
    spec = ScheduleSpec(delay="10m")
    created = utc(2026, 3, 1, 9)
    shot = first_fire(spec, created_at=created)
    assert spec.kind == "delay" and shot == utc(2026, 3, 1, 9, 10)
    assert next_fire_after(spec, created, anchor=shot) == shot
    assert next_fire_after(spec, shot, anchor=shot) is None
    assert first_fire(ScheduleSpec(delay=0), created_at=created) == created


def test_start_and_end_bounds() -> None:
    spec = ScheduleSpec(cron="0 * * * *", start=utc(2026, 1, 1, 5), end=utc(2026, 1, 1, 8))
    assert first_fire(spec, created_at=utc(2026, 1, 1)) == utc(2026, 1, 1, 5)  # >= start
    got = next_fire_times(spec, 10, after=utc(2026, 1, 1), anchor=utc(2026, 1, 1))
    assert got == [utc(2026, 1, 1, h) for h in (5, 6, 7, 8)]
    assert first_fire(spec, created_at=utc(2026, 1, 2)) is None
    naive = ScheduleSpec(every=3600, start=datetime(2026, 7, 1, 9), end=datetime(2026, 7, 1, 11),
                         timezone=NY)  # fmt: skip
    created = utc(2026, 6, 1)
    anchor = first_fire(naive, created_at=created)
    assert anchor == utc(2026, 7, 1, 13)  # 09:00 EDT
    assert next_fire_times(naive, 9, after=created, anchor=anchor) == [
        utc(2026, 7, 1, 13), utc(2026, 7, 1, 14), utc(2026, 7, 1, 15)
    ]  # fmt: skip
    late_at = ScheduleSpec(at=utc(2026, 1, 2), end=utc(2026, 1, 1))
    assert first_fire(late_at, created_at=utc(2025, 1, 1)) is None


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "loc", "words"),
    [
        ({"cron": "61 * * * *"}, ("cron",), ["minute", "'61'", "0-59"]),
        ({"cron": "* * * *"}, ("cron",), ["5 fields", "got 4"]),
        ({"cron": "0 0 31 2 *"}, ("cron",), ["day-of-month"]),
        ({"cron": "@sometimes"}, ("cron",), ["unknown alias"]),
        ({"cron": "* * * * *", "timezone": "Mars/Olympus"}, ("timezone",), ["'Mars/Olympus'"]),
        ({"every": 0}, ("every",), ["greater than 0"]),
        ({"every": -5}, ("every",), ["greater than 0"]),
        ({"every": "soon"}, ("every",), ["not a duration"]),
        ({"delay": -1}, ("delay",), ["negative"]),
        ({"every": 5, "jitter": -1}, ("jitter",), ["negative"]),
        ({"every": 5, "misfire_grace": 0}, ("misfire_grace",), ["greater than 0"]),
        ({"every": 5, "misfire_cap": 0}, ("misfire_cap",), ["greater than or equal to 1"]),
        ({"every": 5, "misfire": "later"}, ("misfire",), ["run_once"]),
        ({}, (), ["exactly one of cron, every, at, delay", "none"]),
        ({"cron": "* * * * *", "every": 5}, (), ["exactly one", "cron and every"]),
        ({"at": "2026-01-01T00:00:00Z", "delay": 5}, (), ["at and delay"]),
        ({"every": 5, "bogus": 1}, ("bogus",), ["Extra inputs"]),
        ({"every": 5, "start": "2026-02-01T00:00Z", "end": "2026-01-01T00:00Z"}, (), ["end"]),
    ],
)  # fmt: skip
def test_validation_errors(data: dict[str, Any], loc: tuple[str, ...], words: list[str]) -> None:
    with pytest.raises(pydantic.ValidationError) as exc:
        ScheduleSpec.model_validate(data)
    assert error_locs(exc) == [loc]
    message = exc.value.errors()[0]["msg"]
    assert all(w in message for w in words), message


def test_spec_is_frozen() -> None:
    spec = ScheduleSpec(every=5)
    with pytest.raises(pydantic.ValidationError):
        spec.every = 6  # type: ignore[misc]


# -- misfire planning ----------------------------------------------------------------------


def _reference_plan(spec: ScheduleSpec, nfa: datetime, now: datetime, anchor: datetime) -> FirePlan:
    """plan_fires by listing every due fire, straight from the rules."""
    due = [nfa]
    while (following := next_fire_after(spec, due[-1], anchor=anchor)) and following <= now:
        due.append(following)
    grace = timedelta(seconds=spec.misfire_grace)
    on_time = [f for f in due if now - f <= grace]
    if len(on_time) == len(due) or spec.misfire == "run_all":
        keep = due[-spec.misfire_cap :]
    elif spec.misfire == "run_once":
        keep = due[-1:]
    else:
        keep = on_time[-spec.misfire_cap :]
    return FirePlan(keep, next_fire_after(spec, now, anchor=anchor), len(due) - len(keep))


def test_plan_on_time() -> None:
    spec = ScheduleSpec(cron="*/5 * * * *")
    plan = plan_fires(spec, next_fire_at=utc(2026, 1, 1, 10, 5), now=utc(2026, 1, 1, 10, 5, 2),
                      anchor=utc(2026, 1, 1))  # fmt: skip
    assert plan == FirePlan([utc(2026, 1, 1, 10, 5)], utc(2026, 1, 1, 10, 10), 0)


@pytest.mark.parametrize(
    ("policy", "first", "missed"),
    [("run_once", utc(2026, 1, 1, 13), 120), ("run_all", utc(2026, 1, 1, 12, 56), 116),
     ("skip", utc(2026, 1, 1, 12, 59), 119)],
)  # fmt: skip
def test_plan_missed(policy: str, first: datetime, missed: int) -> None:
    # Every minute, asleep from 11:00 to 13:00:30: due 11:00 .. 13:00 (121 fires); with a
    # 90 s grace only 12:59 and 13:00 are on time.
    spec = ScheduleSpec(every=60, misfire=policy, misfire_grace=90, misfire_cap=5)
    anchor, due_from, now = utc(2026, 1, 1), utc(2026, 1, 1, 11), utc(2026, 1, 1, 13, 0, 30)
    plan = plan_fires(spec, next_fire_at=due_from, now=now, anchor=anchor)
    count = (utc(2026, 1, 1, 13) - first) // timedelta(minutes=1) + 1
    assert plan.fires == [first + timedelta(minutes=i) for i in range(count)]
    assert plan.missed == missed
    assert plan.next_fire_at == utc(2026, 1, 1, 13, 1)
    assert plan == _reference_plan(spec, due_from, now, anchor)


def test_plan_grace_boundary_is_on_time() -> None:
    # A fire exactly misfire_grace old is still on time, so nothing is missed.
    spec = ScheduleSpec(every=60, misfire="skip")
    now = utc(2026, 1, 1, 12, 1)
    plan = plan_fires(spec, next_fire_at=utc(2026, 1, 1, 12), now=now, anchor=utc(2026, 1, 1))
    assert plan == FirePlan([utc(2026, 1, 1, 12), now], utc(2026, 1, 1, 12, 2), 0)
    later = plan_fires(spec, next_fire_at=utc(2026, 1, 1, 12), now=now + timedelta(microseconds=1),
                       anchor=utc(2026, 1, 1))  # fmt: skip
    assert later == FirePlan([now], utc(2026, 1, 1, 12, 2), 1)


def test_plan_one_shot_in_the_past() -> None:
    shot = utc(2026, 1, 1)
    now = utc(2026, 1, 2)
    once = ScheduleSpec(at=shot)
    assert plan_fires(once, next_fire_at=shot, now=now, anchor=shot) == FirePlan([shot], None, 0)
    skip = ScheduleSpec(at=shot, misfire="skip")
    assert plan_fires(skip, next_fire_at=shot, now=now, anchor=shot) == FirePlan([], None, 1)


@settings(max_examples=150, deadline=None)
@given(
    what=st.sampled_from(
        ["*/7 * * * *", "0,30 1-3 * * *", "*/20 * * * * *", "30 * * * *", 17.5, 600]
    ),
    zone=st.sampled_from(ZONES),
    policy=st.sampled_from(["run_once", "run_all", "skip"]),
    cap=st.integers(1, 8),
    grace=st.integers(1, 4000),
    nfa_offset=st.integers(0, 200),
    asleep=st.integers(0, 6 * 3600),
    end_hours=st.none() | st.integers(1, 12),
    base=st.sampled_from(
        [utc(2026, 3, 8, 5), utc(2026, 11, 1, 4), utc(2026, 4, 4, 13), utc(2026, 7, 1)]
    ),
)  # fmt: skip
def test_plan_matches_reference(
    what: str | float, zone: str, policy: str, cap: int, grace: int, nfa_offset: int,
    asleep: int, end_hours: int | None, base: datetime,
) -> None:  # fmt: skip
    kind = {"cron": what} if isinstance(what, str) else {"every": what}
    end = None if end_hours is None else base + timedelta(hours=end_hours)
    spec = ScheduleSpec.model_validate(
        {
            **kind,
            "timezone": zone,
            "misfire": policy,
            "misfire_cap": cap,
            "misfire_grace": grace,
            "end": end,
        }
    )
    anchor = first_fire(spec, created_at=base)
    assume(anchor is not None)
    assert anchor is not None
    nfa = [anchor, *next_fire_times(spec, nfa_offset, after=anchor, anchor=anchor)][-1]
    now = nfa + timedelta(seconds=asleep, microseconds=asleep % 7)
    assert plan_fires(spec, next_fire_at=nfa, now=now, anchor=anchor) == _reference_plan(
        spec, nfa, now, anchor
    )


@pytest.mark.parametrize("policy", ["run_once", "run_all", "skip"])
def test_plan_ten_years_offline_one_second_cron_counts_the_fires(policy: str) -> None:
    # Due fires are counted, never listed: 315 million of them take milliseconds. Listing
    # them would not end within the test timeout (its speed is for bench/, not a bound here).
    spec = ScheduleSpec(cron="* * * * * *", timezone=NY, misfire=policy)
    now = utc(2026, 3, 10)
    plan = plan_fires(spec, next_fire_at=now - timedelta(days=3650), now=now, anchor=now)
    due = 3650 * 86400 + 1
    expected = {"run_once": 1, "run_all": 100, "skip": 61}[policy]
    assert len(plan.fires) == expected and plan.missed == due - expected
    assert plan.fires[-1] == now and plan.next_fire_at == now + timedelta(seconds=1)
    assert plan.fires == [now - timedelta(seconds=expected - 1 - i) for i in range(expected)]


# -- jitter, describe ----------------------------------------------------------------------


def test_jitter_delay_bounds() -> None:
    rng = random.Random(7)
    spec = ScheduleSpec(every=60, jitter="30s")
    draws = [jitter_delay(spec, rng) for _ in range(2000)]
    assert all(0 <= d <= 30 for d in draws)
    assert max(draws) > 25 and min(draws) < 5  # spread over the range, not a constant
    assert jitter_delay(ScheduleSpec(every=60), rng) == 0.0


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"cron": "0 2 * * *", "timezone": "Europe/Paris"}, "every day at 02:00 (Europe/Paris)"),
        ("*/15 * * * *", "every 15 minutes"),
        ("* * * * *", "every minute"),
        ("30 * * * *", "at minute 30 of every hour"),
        ("0 */6 * * *", "every 6 hours"),
        ("0 9 * * 1", "every Monday at 09:00 (UTC)"),
        ("*/5 * * * * *", "every 5 seconds"),
        ("*/7 * * * *", "cron: */7 * * * * (UTC)"),
        ({"cron": "0 9 1-5 * *", "timezone": NY}, f"cron: 0 9 1-5 * * ({NY})"),
        ({"every": 60}, "every 60 seconds"),
        ({"every": "15m"}, "every 15 minutes"),
        ({"every": "1h"}, "every hour"),
        ({"at": "2026-12-24T18:00:00+01:00"}, "once at 2026-12-24 18:00 +01:00"),
        ({"delay": "10m"}, "once, 10 minutes after submission"),
    ],
)
def test_describe(data: Any, text: str) -> None:
    assert ScheduleSpec.model_validate(data).describe() == text


def test_fires_stop_before_the_year_9999_instead_of_overflowing() -> None:
    from tss.core.schedules import next_fire_times as fires

    spec = ScheduleSpec.model_validate({"every": 3e9})  # about 95 years
    start = datetime(2026, 1, 1, tzinfo=UTC)
    found = fires(spec, 1000, after=start, anchor=start)
    assert 0 < len(found) < 1000 and found[-1].year <= 9999


def test_durations_are_finite_and_at_most_a_century() -> None:
    for value in ("inf", "nan", 1e20, 10**20, "99999999999999h", 18446744073709551616):
        with pytest.raises(pydantic.ValidationError):
            ScheduleSpec.model_validate({"every": value})
    assert ScheduleSpec.model_validate({"every": "36500d"}).every == 36500 * 86400
