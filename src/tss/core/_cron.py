"""Cron fire times in a time zone, with the DST rules of DESIGN.md section 5 (private).

cronsim parses the expression and walks *wall-clock* (naive) time; this module turns wall
times into instants. We do not use cronsim's own time-zone mode because it disagrees with
the design in three places (all covered by tests/unit/test_schedules.py):

* it picks the DST rule by "minute or hour starts with ``*``" (Debian), while the design
  picks it by the hour field alone, so ``*/15 2 * * *`` is a fixed-hour job here;
* it applies no DST rule at all to 6-field (seconds) expressions;
* in its real-time mode it misses fires around 30-minute shifts (Australia/Lord_Howe),
  because it rounds to whole hours with ``datetime.replace`` on aware datetimes.

Two rules, chosen by the hour field:

* fixed hour: each matching wall time fires once, at its first occurrence; wall times that
  a spring-forward skips fire once, at the first instant after the gap;
* hour starting with ``*``: real time; a fire at every instant whose wall time matches.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_ALLOWED = {
    "second": "0-59",
    "minute": "0-59",
    "hour": "0-23",
    "day-of-month": "1-31, L or LW",
    "month": "1-12 or JAN-DEC",
    "day-of-week": "0-7 or SUN-SAT",
}
_FIELDS = list(_ALLOWED)
_DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_STEP = re.compile(r"\*/(\d+)")
_US = timedelta(microseconds=1)
# Offsets are sampled this far apart when looking for a DST transition; every zone keeps
# an offset for weeks, so two transitions never hide between two samples.
_PROBE = timedelta(days=7)
_ORIGIN = datetime(2000, 1, 1)
#: the longest cron text taken: real expressions are short, and a long list is costly to match
MAX_LENGTH = 256


def normalize(text: str) -> str:
    """The 5- or 6-field expression for ``text`` (aliases expanded), validated.

    :raises ValueError: with a sentence saying what is wrong.
    """
    if len(text) > MAX_LENGTH:
        raise ValueError(
            f"invalid cron expression: {len(text)} characters, at most {MAX_LENGTH} are allowed"
        )
    expr = " ".join(text.split())
    if expr.startswith("@"):
        if expr.lower() not in ALIASES:
            raise ValueError(
                f"invalid cron expression {text!r}: unknown alias (use one of {', '.join(ALIASES)})"
            )
        return ALIASES[expr.lower()]
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"invalid cron expression {text!r}: expected 5 fields (minute hour day-of-month "
            f"month day-of-week) or 6 with seconds first, got {len(fields)}"
        )
    try:
        probe = CronSim(expr, _ORIGIN)
    except CronSimError as exc:
        name = str(exc).removeprefix("Bad ")
        if name not in _ALLOWED:
            raise ValueError(f"invalid cron expression {text!r}: {exc}") from None
        value = fields[_FIELDS.index(name) - (6 - len(fields))]
        raise ValueError(
            f"invalid cron expression {text!r}: {name} field {value!r} is not valid "
            f"(allowed: {_ALLOWED[name]}, with * , - /)"
        ) from None
    if next(probe, None) is None:
        raise ValueError(f"invalid cron expression {text!r}: it never matches a date")
    return expr


def describe(text: str, tz: str) -> str:
    """Plain words for a cron text, e.g. ``every day at 02:00 (Europe/Paris)``."""
    fields = normalize(text).split()
    if len(fields) == 6:
        fields, seconds = fields[1:], fields[0]
        if fields == ["*"] * 5 and (seconds == "*" or _divides(seconds, 60)):
            return _every_n(seconds, "second")
        return f"cron: {text} ({tz})"
    minute, hour, dom, month, dow = fields
    if (hour, dom, month, dow) == ("*", "*", "*", "*"):
        if minute == "*" or _divides(minute, 60):
            return _every_n(minute, "minute")
        if minute.isdigit():
            return f"at minute {int(minute)} of every hour"
    if minute == "0" and (dom, month, dow) == ("*", "*", "*") and _divides(hour, 24):
        return _every_n(hour, "hour")
    if minute.isdigit() and hour.isdigit() and month == "*":
        clock = f"{int(hour):02d}:{int(minute):02d} ({tz})"
        if dom == "*" and dow == "*":
            return f"every day at {clock}"
        if dom == "*" and dow.isdigit():
            return f"every {_DAYS[int(dow) % 7]} at {clock}"
        if dom.isdigit() and dow == "*":
            return f"on day {int(dom)} of every month at {clock}"
    return f"cron: {text} ({tz})"


def _divides(field: str, size: int) -> bool:
    """Whether ``field`` is ``*/n`` with n dividing ``size`` (evenly spaced fires)."""
    match = _STEP.fullmatch(field)
    return match is not None and size % int(match[1]) == 0


def _every_n(field: str, unit: str) -> str:
    n = 1 if field == "*" else int(field[2:])
    return f"every {unit}" if n == 1 else f"every {n} {unit}s"


@lru_cache(maxsize=512)
def rule(text: str, zone: str) -> CronRule:
    """The (cached) :class:`CronRule` for a cron text and an IANA zone name."""
    return CronRule(normalize(text), ZoneInfo(zone))


def _offset(tz: ZoneInfo, t: datetime) -> timedelta:
    off = t.astimezone(tz).utcoffset()
    assert off is not None  # a ZoneInfo always knows its offset
    return off


def _wall(t: datetime, off: timedelta) -> datetime:
    """The naive wall time of instant ``t`` under UTC offset ``off``."""
    return (t + off).replace(tzinfo=None, fold=0)


def _transition(tz: ZoneInfo, lo: datetime, hi: datetime, off: timedelta) -> datetime | None:
    """The first instant in (lo, hi] whose offset is not ``off``, or None.

    ``off`` is the offset just after ``lo``. Transitions fall on whole seconds.
    """
    p = lo
    while p < hi:
        q = min(p + _PROBE, hi)
        if _offset(tz, q) != off:
            a, b = math.floor(p.timestamp()), math.ceil(q.timestamp())
            while b - a > 1:
                m = (a + b) // 2
                if _offset(tz, datetime.fromtimestamp(m, UTC)) == off:
                    a = m
                else:
                    b = m
            return datetime.fromtimestamp(b, UTC)
        p = q
    return None


class CronRule:
    """A valid cron expression in a zone: iterate fires after an instant, count fires."""

    def __init__(self, expr: str, tz: ZoneInfo) -> None:
        self.expr = expr
        self.tz = tz
        # DESIGN.md section 5 picks the DST rule by the hour field alone.
        self.fixed = not expr.split()[-4].startswith("*")
        self._sets = CronSim(expr, _ORIGIN)  # parsed field sets; used for counting only
        self._per_minute = len(self._sets.seconds)
        self._per_hour = len(self._sets.minutes) * self._per_minute
        self._per_day = len(self._sets.hours) * self._per_hour

    def iter_after(self, after: datetime) -> Iterator[datetime]:
        """Fire instants (UTC) strictly after ``after``, increasing, without end."""
        return self._iter_fixed(after) if self.fixed else self._iter_real(after)

    def count(self, a: datetime, b: datetime) -> int:
        """How many fires lie in (a, b], without enumerating them."""
        if b <= a:
            return 0
        return self._count_fixed(a, b) if self.fixed else self._count_real(a, b)

    # -- real time: constant-offset segments, each a plain wall-clock range ----------------

    def _iter_real(self, after: datetime) -> Iterator[datetime]:
        cur, off = after, _offset(self.tz, after)
        while True:
            for w in CronSim(self.expr, _wall(cur, off)):
                u = w.replace(tzinfo=UTC) - off
                t = _transition(self.tz, cur, u, off)
                if t is None:
                    yield u
                    cur = u
                    continue
                # The offset changed before u: restart from the transition, new offset.
                cur, off = t - _US, _offset(self.tz, t)
                break
            else:
                return

    def _count_real(self, a: datetime, b: datetime) -> int:
        n, cur, off = 0, a, _offset(self.tz, a)
        while True:
            t = _transition(self.tz, cur, b, off)
            end = b if t is None else t - _US
            n += self._count_walls(_wall(cur, off), _wall(end, off))
            if t is None:
                return n
            cur, off = end, _offset(self.tz, t)

    # -- fixed hour: wall times mapped to their first occurrence, gaps to the gap's end ----

    def _instant(self, w: datetime) -> tuple[datetime, datetime | None]:
        """The fire instant of wall time ``w`` and, if ``w`` is in a gap, the gap's end wall."""
        u0 = w.replace(tzinfo=self.tz).astimezone(UTC)  # fold=0: the first occurrence
        if _wall(u0, _offset(self.tz, u0)) == w:
            return u0, None
        u1 = w.replace(tzinfo=self.tz, fold=1).astimezone(UTC)
        t = _transition(self.tz, u1, u0, _offset(self.tz, u1))
        assert t is not None  # w is in a gap, so the offset changes between u1 and u0
        return t, _wall(t, _offset(self.tz, t))

    def _wall_bound(self, t: datetime) -> datetime:
        """The wall time W such that the fires at or before ``t`` are those of walls <= W."""
        loc = t.astimezone(self.tz)
        if not loc.fold:
            return loc.replace(tzinfo=None)
        # Second pass of a repeated interval: every repeated wall fired in the first pass.
        new, old = loc.utcoffset(), loc.replace(fold=0).utcoffset()
        assert new is not None and old is not None
        start = _transition(self.tz, t - (old - new), t, old)
        assert start is not None
        return _wall(start, old) - _US

    def _iter_fixed(self, after: datetime) -> Iterator[datetime]:
        last, start = after, self._wall_bound(after)
        while True:
            for w in CronSim(self.expr, start):
                u, gap_end = self._instant(w)
                if u > last:  # the walls of one gap share one instant
                    yield u
                    last = u
                if gap_end is not None:
                    start = gap_end  # skip the rest of the gap in one step
                    break
            else:
                return

    def _count_fixed(self, a: datetime, b: datetime) -> int:
        n = self._count_walls(self._wall_bound(a), self._wall_bound(b))
        cur, off = a, _offset(self.tz, a)
        while (t := _transition(self.tz, cur, b, off)) is not None:
            new = _offset(self.tz, t)
            if new > off:  # a gap: its walls and the wall at its end make one fire at t
                k = self._count_walls(_wall(t, off) - _US, _wall(t, new))
                n -= max(0, k - 1)
            cur, off = t, new
        return n

    # -- wall-clock counting from cronsim's parsed field sets --------------------------------

    def _day_matches(self, d: date) -> bool:
        return d.month in self._sets.months and self._sets.match_day(d)

    def _upto_in_day(self, w: datetime) -> int:
        """Matching walls on ``w``'s date at or before ``w``."""
        if not self._day_matches(w.date()):
            return 0
        s = self._sets
        n = sum(h < w.hour for h in s.hours) * self._per_hour
        if w.hour in s.hours:
            n += sum(m < w.minute for m in s.minutes) * self._per_minute
            if w.minute in s.minutes:
                n += sum(x <= w.second for x in s.seconds)
        return n

    def _count_walls(self, x: datetime, y: datetime) -> int:
        """Matching naive wall times in (x, y]."""
        if y <= x:
            return 0
        n = self._upto_in_day(y) - self._upto_in_day(x)
        d = x.date()
        while d < y.date():
            n += self._per_day if self._day_matches(d) else 0
            d += timedelta(days=1)
        return n
