"""Pauses with a note and an end time: the checks a pause request passes (pure: no I/O).

A note says why a job is paused, for whoever sees the job next; ``until`` says when it
resumes by itself (the scheduler's sweep, :meth:`tss.store.roles.PauseStore.resume_due_pauses`).
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from tss.core.records import PauseInfo
from tss.core.timeutil import checked_utc, parse_duration, to_utc
from tss.errors import ValidationError

#: the longest note a pause keeps, in characters
MAX_NOTE = 500
#: the furthest ahead a pause may end (about ten years)
MAX_PAUSE = timedelta(days=3660)


def check_note(note: str | None) -> str:
    """``note`` with surrounding blanks removed ('' for none).

    :raises ValidationError: it is longer than :data:`MAX_NOTE` characters or holds a
        control character (a line break included: a note is one line), field ``note``.
    """
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise ValidationError(f"note: at most {MAX_NOTE} characters, not {len(text)}", field="note")
    bad = next((c for c in text if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValidationError(
            f"note: must be one line of text without control characters (found {bad!r})",
            field="note",
        )
    return text


def parse_until(value: str | datetime | None, now: datetime) -> datetime | None:
    """When a pause ends: a date-time (ISO 8601; without a zone it is UTC) or a duration
    from ``now`` (``2h``, ``1d12h``, ``90m``). None: it does not end by itself.

    :raises ValidationError: neither, or not after ``now``, or more than about ten years
        away, field ``until``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        until = value
    else:
        text = value.strip()
        try:
            until = datetime.fromisoformat(text)
        except ValueError:
            try:
                until = now + timedelta(seconds=parse_duration(text))
            except (ValueError, OverflowError):
                raise ValidationError(
                    f"until: {text[:40]!r} is neither a date-time (2027-01-31T18:00:00Z)"
                    " nor a duration (2h, 1d)",
                    field="until",
                ) from None
    try:
        until = to_utc(checked_utc(until))
    except ValueError as exc:
        raise ValidationError(f"until: {exc}", field="until") from None
    if until <= now:
        raise ValidationError(
            f"until: {until.isoformat()} has passed (it is {now.isoformat()} now): a pause"
            " must end in the future",
            field="until",
        )
    if until - now > MAX_PAUSE:
        raise ValidationError("until: a pause ends within about ten years", field="until")
    return until


def pause_of(
    actor: str, now: datetime, note: str | None, until: str | datetime | None
) -> PauseInfo:
    """The pause ``actor`` asks for at ``now``, checked.

    :raises ValidationError: a bad note or end time (see :func:`check_note`,
        :func:`parse_until`).
    """
    return PauseInfo(by=actor, at=now, note=check_note(note), until=parse_until(until, now))


def short_note(note: str, width: int = 40) -> str:
    """``note`` cut to ``width`` characters (an ellipsis marks the cut), for listings."""
    return note if len(note) <= width else note[: max(width - 1, 0)] + "…"
