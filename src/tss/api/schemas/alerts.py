"""Alerts and silences on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictFloat, StrictInt

from tss.api.schemas.base import FromRecord, StrictIn, Timestamp
from tss.core.alerts import CHANNEL_NAME, MAX_NOTE, MAX_SILENCE


class AlertOut(FromRecord):
    """One alert to one channel: what it said, and whether it was delivered."""

    id: str = Field(description="made from its cause and channel: receivers dedupe on it")
    channel: str
    kind: str = Field(description="the rule (failed, dead, missed...), `summary` or `test`")
    subject: str
    text: str
    job: str | None
    run_id: str | None
    details: dict[str, Any]
    state: str = Field(description="pending, delivered, failed, silenced or held")
    attempts: int
    error: str | None = Field(description="why the last attempt failed, or why not sent")
    created_at: Timestamp
    next_at: Timestamp
    sent_at: Timestamp | None


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None = None
    total: int | None = None


class AlertTestIn(StrictIn):
    channel: str = Field(pattern=CHANNEL_NAME.pattern, description="a channel of the config")


class SilenceIn(StrictIn):
    """Silence a job until a time or for a while; its alerts are kept, not sent."""

    until: Timestamp | None = None
    duration: StrictInt | StrictFloat | None = Field(
        None, gt=0, le=MAX_SILENCE, description="seconds (instead of until)"
    )
    note: str = Field("", max_length=MAX_NOTE)


class SilenceOut(FromRecord):
    job: str
    until: Timestamp
    note: str
    by: str
    created_at: Timestamp


class SilencePage(BaseModel):
    items: list[SilenceOut]
