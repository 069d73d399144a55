"""Durations and time conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tss.core.timeutil import from_micros, parse_duration, to_micros


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        ("90", 90.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("2d", 172800.0),
        ("250ms", 0.25),
        ("1h 5s", 3605.0),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 parsecs", "m5", "5m garbage"])
def test_parse_duration_refuses_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_micros_round_trip_keeps_the_instant() -> None:
    moment = datetime(2026, 3, 8, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    assert from_micros(to_micros(moment)) == moment
    assert from_micros(to_micros(moment)).tzinfo is UTC
