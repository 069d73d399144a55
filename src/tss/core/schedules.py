"""Job schedules: the ``schedule`` of a job definition and its fire-time arithmetic.

A schedule is one of ``cron`` (5 fields, 6 with seconds first, or an alias such as
``@daily``), ``every`` (a fixed interval), ``at`` (one shot at a date-time) or ``delay``
(one shot, a duration after submission), plus bounds, jitter and a misfire policy.
Everything here is pure: datetimes in are aware, datetimes out are aware UTC. The DST
rules (DESIGN.md section 5) live in :mod:`tss.core._cron`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from tss.core import _cron
from tss.core.timeutil import checked_utc, parse_duration, to_utc

__all__ = [
    "FirePlan",
    "ScheduleSpec",
    "first_fire",
    "iter_fires",
    "jitter_delay",
    "next_fire_after",
    "next_fire_times",
    "plan_fires",
]

_US = timedelta(microseconds=1)
_KINDS = ("cron", "every", "at", "delay")


class ScheduleSpec(BaseModel):
    """When a job fires: exactly one of ``cron``, ``every``, ``at``, ``delay``, plus options.

    A bare string validates as ``{"cron": <string>}``. Durations (``every``, ``delay``,
    ``jitter``, ``misfire_grace``) take seconds or text such as ``"5m"``. A naive
    ``at``/``start``/``end`` is a wall time in ``timezone``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str | None = None
    every: float | None = None
    delay: float | None = None
    # Declared before the date-times so that their validators can read it.
    timezone: str = "UTC"
    at: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None
    jitter: float = 0.0
    misfire: Literal["run_once", "run_all", "skip"] = "run_once"
    misfire_grace: float = 60.0
    misfire_cap: int = Field(default=100, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _bare_cron(cls, data: Any) -> Any:
        return {"cron": data} if isinstance(data, str) else data

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str | None) -> str | None:
        if value is not None:
            _cron.normalize(value)
            value = value.strip()
        return value

    @field_validator("every", "delay", "jitter", "misfire_grace", mode="before")
    @classmethod
    def _duration(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or not isinstance(value, int | float | str):
            return value  # None where allowed; other types get pydantic's own message
        # Its ValueError is already a readable sentence; it refuses non-finite values.
        seconds = parse_duration(value)
        name = info.field_name
        if name in ("every", "misfire_grace") and seconds <= 0:
            raise ValueError(f"{name} must be greater than 0 seconds, got {value!r}")
        if seconds < 0:
            raise ValueError(f"{name} must not be negative, got {value!r}")
        if name == "every" and seconds < 0.001:
            # Fires are computed in whole microseconds; a shorter period would not advance.
            raise ValueError(f"every must be at least 0.001 seconds, got {value!r}")
        return seconds

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Europe/Paris')"
            ) from None
        return value

    @field_validator("at", "start", "end")
    @classmethod
    def _localize(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is not None and value.tzinfo is None:
            # If the zone itself was refused, the model fails anyway; UTC keeps this quiet.
            value = value.replace(tzinfo=ZoneInfo(info.data.get("timezone", "UTC")))
        return None if value is None else checked_utc(value)

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleSpec:
        chosen = [name for name in _KINDS if getattr(self, name) is not None]
        if len(chosen) != 1:
            got = " and ".join(chosen) if chosen else "none"
            raise ValueError(f"exactly one of cron, every, at, delay must be set; got {got}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError("end must not be earlier than start")
        return self

    @property
    def kind(self) -> Literal["cron", "interval", "at", "delay"]:
        """Which of the four schedule kinds this is."""
        if self.cron is not None:
            return "cron"
        if self.every is not None:
            return "interval"
        return "at" if self.at is not None else "delay"

    def describe(self) -> str:
        """The schedule in plain words, e.g. ``every day at 02:00 (Europe/Paris)``."""
        if self.cron is not None:
            return _cron.describe(self.cron, self.timezone)
        if self.every is not None:
            n, unit = _span(self.every)
            return f"every {unit}" if n == "1" else f"every {n} {unit}s"
        if self.at is not None:
            stamp = self.at.strftime("%Y-%m-%d %H:%M" + (":%S" if self.at.second else ""))
            offset = self.at.strftime("%z")
            return f"once at {stamp} {offset[:3]}:{offset[3:]}"
        n, unit = _span(self.delay or 0.0)
        return f"once, {n} {unit}{'' if n == '1' else 's'} after submission"


@dataclass(frozen=True, slots=True)
class FirePlan:
    """What the scheduler should do for a job whose ``next_fire_at`` has come.

    ``fires`` are the scheduled instants to run now (oldest first), ``next_fire_at`` is
    the first fire after now (None when the schedule is over) and ``missed`` counts the
    due fires that are not run.
    """

    fires: list[datetime]
    next_fire_at: datetime | None
    missed: int


def first_fire(spec: ScheduleSpec, *, created_at: datetime) -> datetime | None:
    """The first fire of a job created at ``created_at``, or None if it never fires.

    cron: the first match strictly after ``created_at`` (and not before ``start``).
    interval: ``start`` plus the least multiple of ``every`` not before ``created_at``, or
    ``created_at + every`` without ``start``. at: ``at``, even if past (misfire rules
    apply). delay: ``created_at + delay``.
    """
    created = to_utc(created_at)
    if spec.kind == "cron":
        return next(_fires(spec, created, created), None)
    if spec.kind == "interval":
        step = _step(spec)
        if spec.start is None:
            fire = created + step
        else:
            start = to_utc(spec.start)
            fire = start if start >= created else start - ((start - created) // step) * step
    elif spec.at is not None:
        fire = to_utc(spec.at)
    else:
        fire = created + timedelta(seconds=spec.delay or 0.0)
    return fire if _in_bounds(spec, fire) else None


def next_fire_after(spec: ScheduleSpec, after: datetime, *, anchor: datetime) -> datetime | None:
    """The first fire strictly after ``after``, or None if the schedule is over.

    ``anchor`` is the job's first fire: intervals fire at ``anchor + k * every`` exactly
    (in UTC, no drift) and a delay job's one shot is ``anchor``. Cron ignores it.
    """
    return next(_fires(spec, to_utc(after), to_utc(anchor)), None)


def next_fire_times(
    spec: ScheduleSpec, n: int, *, after: datetime, anchor: datetime
) -> list[datetime]:
    """The next ``n`` fires strictly after ``after`` (fewer if the schedule ends)."""
    return list(islice(_fires(spec, to_utc(after), to_utc(anchor)), max(n, 0)))


def iter_fires(spec: ScheduleSpec, *, after: datetime, anchor: datetime) -> Iterator[datetime]:
    """Every fire strictly after ``after``, increasing, lazily (for the fire ledger, which
    walks a window and stops at its end)."""
    return _fires(spec, to_utc(after), to_utc(anchor))


def plan_fires(
    spec: ScheduleSpec, *, next_fire_at: datetime, now: datetime, anchor: datetime
) -> FirePlan:
    """Decide which due fires to run, given ``next_fire_at <= now``.

    Due fires are ``next_fire_at`` and the fires in (next_fire_at, now]; one is on time
    when ``now - fire <= misfire_grace``. With none missed, or with ``run_all``, the most
    recent ``misfire_cap`` due fires run; ``run_once`` runs only the most recent due fire
    when any is missed; ``skip`` runs the on-time ones (at most ``misfire_cap``). Due fires
    are counted, never listed, so a week of a 1-second cron costs milliseconds.
    """
    due_from, now, anchor = to_utc(next_fire_at), to_utc(now), to_utc(anchor)
    if due_from > now:
        return FirePlan([], due_from, 0)
    following = next_fire_after(spec, now, anchor=anchor)
    cut = now - timedelta(seconds=spec.misfire_grace)  # fires at or after cut are on time
    due = 1 + _count(spec, due_from, now, anchor)
    on_time = int(due_from >= cut) + _count(spec, max(due_from, cut - _US), now, anchor)
    if on_time == due or spec.misfire == "run_all":
        keep = min(due, spec.misfire_cap)
    elif spec.misfire == "run_once":
        keep = 1
    else:
        keep = min(on_time, spec.misfire_cap)
    fires = _last_due(spec, due_from, now, anchor, keep, due)
    return FirePlan(fires, following, due - len(fires))


def jitter_delay(spec: ScheduleSpec, rng: random.Random) -> float:
    """A random delay in [0, jitter] seconds to add to one fire."""
    return rng.uniform(0.0, spec.jitter) if spec.jitter > 0 else 0.0


# -- internals -------------------------------------------------------------------------------


def _step(spec: ScheduleSpec) -> timedelta:
    # Whole microseconds, so that anchor + k * step is exact integer arithmetic.
    return timedelta(microseconds=round((spec.every or 0.0) * 1_000_000))


def _in_bounds(spec: ScheduleSpec, fire: datetime) -> bool:
    return (spec.start is None or fire >= spec.start) and (spec.end is None or fire <= spec.end)


def _shot(spec: ScheduleSpec, anchor: datetime) -> datetime:
    return to_utc(spec.at) if spec.at is not None else anchor


def _fires(spec: ScheduleSpec, after: datetime, anchor: datetime) -> Iterator[datetime]:
    """Fires strictly after ``after`` within ``start``/``end``, increasing."""
    lo = after if spec.start is None else max(after, to_utc(spec.start) - _US)
    it: Iterator[datetime]
    if spec.cron is not None:
        it = _cron.rule(spec.cron, spec.timezone).iter_after(lo)
    elif spec.every is not None:
        step = _step(spec)
        k = 0 if lo < anchor else (lo - anchor) // step + 1
        it = (anchor + i * step for i in range(k, 2**62))
    else:
        shot = _shot(spec, anchor)
        it = iter([shot] if shot > lo else [])
    while True:
        try:
            fire = next(it)
        except (StopIteration, OverflowError):
            return  # the schedule is over, or its next fire is past the year 9999
        if spec.end is not None and fire > spec.end:
            return
        yield fire


def _count(spec: ScheduleSpec, a: datetime, b: datetime, anchor: datetime) -> int:
    """How many fires lie in (a, b], computed rather than enumerated."""
    lo = a if spec.start is None else max(a, to_utc(spec.start) - _US)
    hi = b if spec.end is None else min(b, to_utc(spec.end))
    if hi <= lo:
        return 0
    if spec.cron is not None:
        return _cron.rule(spec.cron, spec.timezone).count(lo, hi)
    if spec.every is not None:
        step = _step(spec)
        first = 0 if lo < anchor else (lo - anchor) // step + 1
        last = (hi - anchor) // step if hi >= anchor else -1
        return max(0, last - first + 1)
    return int(lo < _shot(spec, anchor) <= hi)


def _last_due(
    spec: ScheduleSpec, due_from: datetime, now: datetime, anchor: datetime, k: int, due: int
) -> list[datetime]:
    """The last ``k`` of the ``due`` fires: ``due_from`` and the fires in (due_from, now]."""
    if k <= 0:
        return []
    if k >= due:
        return [due_from, *islice(_fires(spec, due_from, anchor), due - 1)]
    # Widen a window back from now until it holds k fires, then bisect its start to the
    # instant x with exactly k fires in (x, now]; only those k are ever listed.
    near, far, width = now, now, timedelta(seconds=1)
    while True:
        far = max(due_from, now - width)
        if far == due_from or _count(spec, far, now, anchor) >= k:
            break
        near, width = far, width * 4
    while near - far > _US:
        mid = far + (near - far) // 2
        if _count(spec, mid, now, anchor) >= k:
            far = mid
        else:
            near = mid
    return list(islice(_fires(spec, far, anchor), k))


def _span(seconds: float) -> tuple[str, str]:
    """(number, unit) for a duration in the largest unit that divides it."""
    if seconds >= 120 and seconds % 60 == 0:
        for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
            if seconds % size == 0:
                return str(int(seconds // size)), unit
    return f"{seconds:g}", "second"
