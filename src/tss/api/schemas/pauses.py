"""Pauses on the wire: who paused a job, why and until when; a pause or resume asked for
one job or for every job a filter selects, and the names it changed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from tss.api.schemas.base import StrictIn
from tss.core.pauses import MAX_NOTE
from tss.core.records import PauseInfo

#: the most job names a bulk pause or resume may list
MAX_NAMES = 1000

Until = Field(
    None,
    max_length=64,
    description="when the job resumes by itself: an ISO 8601 date-time (UTC without a zone)"
    " or a duration from now (`2h`, `1d12h`); in the future. None: until resumed",
)
Note = Field(None, max_length=MAX_NOTE, description="why it is paused; one line")


class PauseOut(BaseModel):
    """Who paused a job (``by``, an actor), when, why and until when."""

    by: str
    at: datetime
    note: str = ""
    until: datetime | None = None

    @classmethod
    def of(cls, pause: PauseInfo | None) -> PauseOut | None:
        if pause is None:
            return None
        return cls(by=pause.by, at=pause.at, note=pause.note, until=pause.until)


class PauseIn(StrictIn):
    """A pause of one job: an optional note and end time."""

    note: str | None = Note
    until: str | None = Until


class JobSelection(StrictIn):
    """The jobs a bulk pause or resume acts on: those matching every condition given.
    Without any, ``all`` must be true."""

    prefix: str | None = Field(None, min_length=1, max_length=200)
    tag: str | None = Field(None, min_length=1, max_length=200)
    pool: str | None = Field(None, min_length=1, max_length=200)
    names: list[str] = Field(default_factory=list, max_length=MAX_NAMES)
    all: bool = False


class BulkPauseIn(JobSelection):
    """Pause every job selected that is not paused yet, with one note and end time."""

    note: str | None = Note
    until: str | None = Until


class BulkResumeIn(JobSelection):
    """Resume every paused job selected."""


class ChangedJobs(BaseModel):
    """The names of the jobs a bulk pause or resume changed, in name order."""

    items: list[str]
    count: int
