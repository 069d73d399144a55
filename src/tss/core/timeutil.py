"""Small helpers for aware UTC datetimes and durations."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: the longest duration anything takes (an interval, a delay, a timeout, a retry delay):
#: 100 years, so every fire and deadline computed from one stays a representable date
MAX_DURATION = 100 * 365.25 * 86400


def utcnow() -> datetime:
    """The current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def checked_utc(value: datetime) -> datetime:
    """``value`` if it converts to UTC within the representable years (1-9999).

    :raises ValueError: it does not (``9999-12-31T23:59:59-14:00``), as a sentence.
    """
    try:
        to_utc(value)
    except OverflowError:
        raise ValueError(
            f"{value.isoformat()} is out of range: in UTC it must fall within the years"
            " 0001 to 9999"
        ) from None
    return value


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch."""
    delta = to_utc(value) - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    """The aware UTC datetime for microseconds since the Unix epoch."""
    return _EPOCH + timedelta(microseconds=value)


def duration_field(value: Any) -> Any:
    """A model field's duration before validation: a number or text (``5m``) as seconds;
    None, booleans and anything else are left for the field's own type to judge."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float | str):
        return parse_duration(value)
    return value


def parse_duration(value: float | int | str) -> float:
    """Seconds in a duration given as a number of seconds or text like ``90``, ``5m``, ``1h30m``.

    :raises ValueError: the text is not a duration.
    """
    if isinstance(value, bool):
        raise ValueError("a duration must be a number of seconds or text like '5m'")
    if isinstance(value, int | float):
        return _bounded(value, value)
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return _bounded(number, value)
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos and text[pos : match.start()].strip():
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
        pos = match.end()
    if pos == 0 or text[pos:].strip():
        raise ValueError(f"{value!r} is not a duration (use seconds or e.g. '30s', '5m', '1h30m')")
    return _bounded(total, value)


def _shown(given: object) -> str:
    text = repr(given)
    return text if len(text) <= 40 else text[:37] + "..."


def _bounded(seconds: float, given: object) -> float:
    """Non-finite durations (``inf``, ``nan``) and ones over :data:`MAX_DURATION` are refused:
    stored, they would come back as null or overflow every date computed from them. The
    comparisons come before ``float()``, which would overflow on a huge integer."""
    if seconds != seconds or seconds in (math.inf, -math.inf):
        raise ValueError(f"{_shown(given)} is not a finite duration")
    if abs(seconds) > MAX_DURATION:
        raise ValueError(f"{_shown(given)} is too long: a duration is at most 100 years")
    return float(seconds)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
