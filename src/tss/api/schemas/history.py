"""Job versions, their differences, rollback and the audit log on the wire.

A version holds a whole definition, so its ``params`` are masked like a job's
(:func:`tss._secrets.mask_params`) unless the caller may read secrets; so is each change
of a diff under ``params``: a viewer sees that an env value changed, never the value.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, StrictInt

from tss._secrets import mask_params
from tss.api.schemas.base import StrictIn, Timestamp


def masked_spec(spec: dict[str, Any] | None, *, reveal: bool) -> dict[str, Any] | None:
    """A stored definition with its secret params masked unless ``reveal``."""
    if spec is None or reveal or not isinstance(spec.get("params"), dict):
        return spec
    return {**spec, "params": mask_params(spec["params"], reveal=False)}


def masked_value(path: str, value: Any, *, reveal: bool) -> Any:
    """The value at the dotted ``path`` of a definition, masked as it would be there."""
    if reveal or value is None or not (path == "params" or path.startswith("params.")):
        return value
    if path == "params":
        return mask_params(value, reveal=False) if isinstance(value, dict) else value
    # Put the value back where it was in params, mask those params, and take it out again.
    keys = path.split(".")[1:]
    nested: Any = value
    for key in reversed(keys):
        nested = {key: nested}
    out: Any = mask_params(nested, reveal=False)
    for key in keys:
        out = out[key]
    return out


class VersionOut(BaseModel):
    """One version of a job: its definition after one change, who made it and when."""

    job: str
    version: int = Field(description="counts up from 1, on through deletions")
    at: Timestamp
    actor: str = Field(description="who made the change: token:NAME, config, cli, library...")
    change: str = Field(description="created, updated, deleted or rolled_back")
    spec: dict[str, Any] | None = Field(description="the definition; null for a deletion")

    @classmethod
    def of(cls, version: Any, *, reveal: bool) -> VersionOut:
        return cls(
            job=version.job, version=version.version, at=version.at, actor=version.actor,
            change=version.change, spec=masked_spec(version.spec, reveal=reveal),
        )  # fmt: skip


class VersionPage(BaseModel):
    items: list[VersionOut]


class ChangeOut(BaseModel):
    """One difference between two definitions."""

    path: str = Field(description="dotted, e.g. schedule.cron")
    kind: str = Field(description="added, removed or changed")
    old: Any = None
    new: Any = None

    @classmethod
    def of(cls, change: Any, *, reveal: bool) -> ChangeOut:
        return cls(
            path=change.path, kind=change.kind,
            old=masked_value(change.path, change.old, reveal=reveal),
            new=masked_value(change.path, change.new, reveal=reveal),
        )  # fmt: skip


class VersionDetail(VersionOut):
    """A version and what changed from another (by default the one before it)."""

    against: int | None = Field(description="the version compared with; null: none before")
    changes: list[ChangeOut]


class RollbackIn(StrictIn):
    to: StrictInt = Field(ge=1, le=2**31 - 1, description="the version to make current again")


class RollbackOut(BaseModel):
    """What a rollback did: the job's version after it, and whether anything changed."""

    job: str
    to: int
    changed: bool = Field(description="false: the job already had that definition")
    version: int | None = Field(description="the new version recorded; null when unchanged")


class AuditOut(BaseModel):
    """One write in the audit log."""

    id: int
    at: Timestamp
    actor: str
    action: str
    target: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: Any) -> AuditOut:
        return cls(
            id=entry.id, at=entry.at, actor=entry.actor, action=entry.action,
            target=entry.target, details=entry.details,
        )  # fmt: skip


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = None
