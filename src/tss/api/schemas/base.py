"""The pieces every wire shape uses: strict inputs, outputs read from core records,
times with their zone, names, the error body and the API's bounds."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from tss.core.models import NAME_PATTERN
from tss.core.timeutil import checked_utc

#: the pattern of a job, pool or worker name
NAME = NAME_PATTERN.pattern
#: the most runs one trigger makes (as :data:`tss.service.runs.MAX_COUNT`)
MAX_TRIGGER_COUNT = 10000
#: the most job definitions one apply takes
MAX_APPLY = 1000


#: the config of an output that is a core record: every key is always written, so the
#: document lists every key as present, defaults or not
RECORD_OUT = ConfigDict(json_schema_serialization_defaults_required=True)


class StrictIn(BaseModel):
    """A request body: an unknown key is refused, naming it."""

    model_config = ConfigDict(extra="forbid")


def iso_time(value: Any) -> Any:
    """Only an ISO 8601 time with a zone: pydantic would also take a number as a Unix time,
    which a caller never means."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("use an ISO 8601 time such as 2026-11-23T10:00:00Z") from None
    else:
        raise ValueError("use an ISO 8601 time such as 2026-11-23T10:00:00Z")
    if parsed.tzinfo is None:
        raise ValueError("give the time zone, e.g. Z or +02:00")
    return checked_utc(parsed)


#: a time as the API takes it: ISO 8601 with its zone
Timestamp = Annotated[datetime, BeforeValidator(iso_time)]
PoolName = Annotated[str, Field(pattern=NAME)]
TypeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


def fields_of(record: Any) -> dict[str, Any]:
    """Every field of a core dataclass record, by name: no hand-kept list to fall behind."""
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


class FromRecord(BaseModel):
    """An output read from the attributes of the core record with the same field names."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: Any) -> Self:
        return cls.model_validate(record)


class ErrorDetail(BaseModel):
    """What went wrong: a stable ``code``, a sentence, and the field it concerns."""

    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    """Every error response: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail
