"""Reading the HTTP answer headers outbound callers act on (standard library only)."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime


def retry_after(value: str | None, *, cap: float) -> float | None:
    """A ``Retry-After`` header in seconds (a number of seconds or an HTTP date), between 0
    and ``cap``; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), cap)
