"""Listing order, cursors and checks of listing arguments, shared by every backend so that
they sort, page and refuse alike; and :func:`collect`, which follows the pages.

A cursor is opaque to callers: the URL-safe base64 (unpadded) of the JSON array
``[kind, *key]``, where ``kind`` is the job sort it was made for (or ``"runs"``) and ``key``
the sort key of the last item of the page. Carrying the kind lets a cursor made for one
order be refused by another instead of silently skipping or repeating items.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from tss.core.alerts import ALERT_STATES
from tss.core.models import JOB_SORTS, Job, Page
from tss.core.timeutil import to_micros
from tss.errors import ValidationError

#: a missing ``next_fire_at`` sorts as this (the largest BIGINT): the latest possible time
NULL_LAST = 2**63 - 1
#: the ``kind`` of run listing cursors (runs have one order: newest first)
RUNS = "runs"
#: the ``kind`` of flow listing cursors (newest first, keyed by flow id)
FLOWS = "flows"
#: the ``kind`` of alert listing cursors (newest first: created_at in microseconds, then id)
ALERTS = "alerts"


def encode_cursor(kind: str, *key: Any) -> str:
    """The opaque cursor for ``key`` in a listing of ``kind``."""
    return base64.urlsafe_b64encode(orjson.dumps([kind, *key])).decode().rstrip("=")


def decode_cursor(cursor: Any, kind: str, types: tuple[type, ...]) -> tuple[Any, ...]:
    """The key in ``cursor``, which must have been made for ``kind`` and hold one value of
    each of ``types``.

    :raises ValidationError: anything else (field ``cursor``).
    """
    payload: Any = None
    if isinstance(cursor, str) and cursor:
        try:
            payload = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        except (ValueError, TypeError):
            payload = None
    # Re-encoding must give the cursor back: base64 decoding forgives stray characters.
    if (
        not isinstance(payload, list)
        or not payload
        or not isinstance(cursor, str)
        or encode_cursor(*payload) != cursor
    ):
        raise ValidationError(
            "the cursor is malformed: pass back the next_cursor of the previous page as is",
            field="cursor",
        )
    if payload[0] != kind:
        raise ValidationError(
            f"this cursor was made for a listing sorted by {payload[0]!r}, not {kind!r}:"
            " keep the same sort from page to page",
            field="cursor",
        )
    key = tuple(payload[1:])
    # type() rather than isinstance(): JSON true must not pass for an integer.
    if len(key) != len(types) or any(type(v) is not t for v, t in zip(key, types, strict=True)):
        raise ValidationError("the cursor is malformed: its key does not fit", field="cursor")
    # Every integer a store keys a listing by is a signed 64-bit one (micros, counts).
    if any(type(v) is int and not -(2**63) <= v < 2**63 for v in key):
        raise ValidationError("the cursor is malformed: a number is out of range", field="cursor")
    return key


def check_offset(offset: int) -> int:
    """``offset`` if it can be used.

    :raises ValidationError: it is negative (field ``offset``).
    """
    if offset < 0:
        raise ValidationError(f"offset must be 0 or more, not {offset}", field="offset")
    return offset


def bucket_us(bucket: int) -> int:
    """A :meth:`~tss.store.base.Store.throughput` bucket of ``bucket`` seconds, in microseconds.

    :raises ValidationError: it is not a positive number of seconds (field ``bucket``).
    """
    if bucket <= 0:
        raise ValidationError(f"bucket must be 1 second or more, not {bucket}", field="bucket")
    return bucket * 1_000_000


@dataclass(frozen=True, slots=True)
class JobOrder:
    """One of :data:`tss.core.models.JOB_SORTS`: the column, the direction, the key of a job
    in that order (``(name,)`` or ``(microseconds, name)``) and its SQL."""

    sort: str
    column: str
    descending: bool

    @classmethod
    def of(cls, sort: str) -> JobOrder:
        """The order named ``sort``.

        :raises ValidationError: not one of ``JOB_SORTS`` (field ``sort``).
        """
        if sort not in JOB_SORTS:
            raise ValidationError(
                f"jobs cannot be sorted by {sort!r}: use one of {', '.join(JOB_SORTS)}",
                field="sort",
            )
        return cls(sort, sort.lstrip("-"), sort.startswith("-"))

    @property
    def by_name(self) -> bool:
        return self.column == "name"

    def key(self, job: Job) -> tuple[Any, ...]:
        """Where ``job`` comes in this order (ascending; reverse it for descending)."""
        if self.by_name:
            return (job.name,)
        value = getattr(job, self.column)
        return (NULL_LAST if value is None else to_micros(value), job.name)

    def cursor(self, job: Job) -> str:
        """The cursor of a page that ends with ``job``."""
        return encode_cursor(self.sort, *self.key(job))

    def after(self, cursor: str | None) -> tuple[Any, ...] | None:
        """The key a page starts after; None without a cursor.

        :raises ValidationError: a malformed cursor, or one made for another sort.
        """
        if cursor is None:
            return None
        return decode_cursor(cursor, self.sort, (str,) if self.by_name else (int, str))

    def follows(self, key: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
        """Whether an item with ``key`` comes after ``after`` in this order."""
        return key < after if self.descending else key > after

    # -- SQL (portable: SQLite and PostgreSQL both compare row values) ---------------------

    @property
    def expression(self) -> str:
        """The SQL sort value of a ``jobs`` row."""
        if self.column == "next_fire_at":
            return f"coalesce(next_fire_at, {NULL_LAST})"
        return self.column

    @property
    def order_by(self) -> str:
        """The ``ORDER BY`` terms."""
        return self.order_by_on()

    @property
    def seek(self) -> str:
        """The condition keeping rows after a key (parameters: the key's values)."""
        return self.seek_on()

    def order_by_on(self, name: str = "name") -> str:
        """:attr:`order_by` with the name compared as ``name`` (e.g. ``name COLLATE "C"``
        on a PostgreSQL database whose collation does not order by code point)."""
        way = " DESC" if self.descending else ""
        if self.by_name:
            return f"{name}{way}"
        return f"{self.expression}{way}, {name}{way}"

    def seek_on(self, name: str = "name") -> str:
        """:attr:`seek` with the name compared as ``name``."""
        more = "<" if self.descending else ">"
        if self.by_name:
            return f"{name} {more} ?"
        return f"({self.expression}, {name}) {more} (?, ?)"


def run_cursor(run_id: str, kind: str = RUNS) -> str:
    """The cursor of a run listing page (or, with ``kind=FLOWS``, a flow listing page)
    that ends with ``run_id``."""
    return encode_cursor(kind, run_id)


def run_after(cursor: str | None, kind: str = RUNS) -> str | None:
    """The run id a newest-first page of ``kind`` starts before; None without a cursor.

    :raises ValidationError: a malformed cursor, or one made for another listing.
    """
    if cursor is None:
        return None
    value: str = decode_cursor(cursor, kind, (str,))[0]
    return value


def alert_cursor(created_us: int, alert_id: str) -> str:
    """The cursor of an alert listing page that ends with this alert."""
    return encode_cursor(ALERTS, created_us, alert_id)


def alert_after(cursor: str | None) -> tuple[int, str] | None:
    """``(created_us, id)`` of the alert a page starts after; None without a cursor.

    :raises ValidationError: a malformed cursor, or one made for another listing.
    """
    if cursor is None:
        return None
    created_us, alert_id = decode_cursor(cursor, ALERTS, (int, str))
    return created_us, alert_id


def check_alert_listing(limit: int, state: str | None) -> None:
    """:raises ValidationError: ``limit`` outside 1..1000, or an unknown ``state``."""
    if not 1 <= limit <= 1000:
        raise ValidationError(f"limit must be 1 to 1000, not {limit}", field="limit")
    if state is not None and state not in ALERT_STATES:
        raise ValidationError(
            f"state must be one of {', '.join(ALERT_STATES)}, not {state!r}", field="state"
        )


def prefix_end(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix`` (None if there is
    none), so ``prefix <= name < prefix_end`` is an index range."""
    for i in range(len(prefix) - 1, -1, -1):
        code = ord(prefix[i]) + 1
        if code <= 0x10FFFF:
            code = 0xE000 if 0xD800 <= code <= 0xDFFF else code  # no lone surrogates
            return prefix[:i] + chr(code)
    return None


#: Fetches one page of a listing: ``(limit, cursor) -> Page`` (a bound list_jobs/list_runs).
PageFetch = Callable[[int, str | None], Awaitable[Page]]


async def collect(fetch: PageFetch, limit: int | None = None, *, page_size: int = 500) -> list[Any]:
    """Every item of a paginated listing, following cursors, up to ``limit`` (None: all)."""
    items: list[Any] = []
    cursor: str | None = None
    while limit is None or len(items) < limit:
        size = page_size if limit is None else min(limit - len(items), page_size)
        page = await fetch(size, cursor)
        items.extend(page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return items
