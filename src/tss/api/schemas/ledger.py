"""The fire ledger, backfills and upcoming fires on the wire (see :mod:`tss.core.ledger`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool, StrictInt

from tss.api.schemas.base import StrictIn, Timestamp


class FireOut(BaseModel):
    """One intended fire and what became of it (``status``, in ``words``)."""

    at: Timestamp
    status: str
    words: str
    run_id: str | None = None
    state: str | None = None
    attempt: int = 0
    reason: str | None = None
    by: str | None = None
    note: str | None = None
    backfill: str | None = None
    dst: str | None = Field(None, description="the DST rule that shaped this fire")
    jitter: float | None = Field(None, description="seconds of jitter added to the fire")
    late: float | None = Field(None, description="seconds from due to started (or queued)")


class FirePage(BaseModel):
    """A job's fire ledger over ``[since, until)``; ``next_cursor`` goes on when cut."""

    job: str
    timezone: str
    schedule: str
    since: Timestamp
    until: Timestamp
    fires: list[FireOut]
    counts: dict[str, int]
    truncated: bool
    next_cursor: str | None = None


class BackfillIn(StrictIn):
    """Make a job's past fires in ``[from, to)`` that have no run."""

    from_: Timestamp = Field(alias="from")
    to: Timestamp
    only_missed: StrictBool = False
    dry_run: StrictBool = False
    max_active: StrictInt | None = Field(None, ge=1, le=1000)


class BackfillRecord(BaseModel):
    """A backfill: its ``count`` fires from ``first`` to ``last``, how many were ``made``,
    and its ``state``: ``active`` (the scheduler makes the rest), ``done`` or ``stopped``."""

    id: str
    job: str
    count: int
    made: int
    max_active: int | None
    actor: str
    created_at: Timestamp
    state: str
    first: Timestamp | None
    last: Timestamp | None


class BackfillOut(BaseModel):
    """The fires a backfill makes (or, dry, would make), and what it made."""

    job: str
    dry_run: bool
    count: int
    fires: list[Timestamp]
    created: int
    existing: int
    backfill: BackfillRecord | None = None


class BackfillList(BaseModel):
    """A job's backfills, newest first."""

    job: str
    items: list[BackfillRecord]


class MinuteLoad(BaseModel):
    minute: Timestamp
    count: int


class UpcomingFire(BaseModel):
    at: Timestamp
    job: str


class UpcomingOut(BaseModel):
    """The next fires of every unpaused job, and the load per minute."""

    now: Timestamp
    until: Timestamp
    total: int
    truncated: bool
    fires: list[UpcomingFire]
    load: list[MinuteLoad]
    peaks: list[MinuteLoad]
    capped: list[str]
    uncounted: list[str]
    per_job: int
