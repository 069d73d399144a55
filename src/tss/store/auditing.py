"""What every backend shares to keep job versions and the audit log alike: the version a
change records, the audit listing's cursor, checks, filters and pages, and entries made
ready to store."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from tss.core.history import MAX_AUDIT_FIELD, AuditEntry, VersionChange
from tss.core.models import JobSpec, Page
from tss.core.timeutil import to_utc
from tss.errors import NotFound, ValidationError
from tss.store.paging import decode_cursor, encode_cursor

#: the ``kind`` of audit listing cursors (newest first, keyed by id)
AUDIT = "audit"


def spec_json(spec: JobSpec) -> dict[str, Any]:
    """A definition as a version keeps it."""
    return spec.model_dump(mode="json")


def change_of(change: VersionChange, rolled_back: bool) -> VersionChange:
    """The change a write records: ``rolled_back`` when it restores an earlier version."""
    return "rolled_back" if rolled_back else change


def version_missing(job: str, version: int) -> NotFound:
    """The error for a version that is not stored."""
    return NotFound(f"job {job!r} has no version {version}", field="version")


def audit_cursor(entry_id: int) -> str:
    """The cursor of an audit listing page that ends with entry ``entry_id``."""
    return encode_cursor(AUDIT, entry_id)


def audit_after(cursor: str | None) -> int | None:
    """The id a newest-first audit page starts before; None without a cursor.

    :raises ValidationError: a malformed cursor, or one made for another listing.
    """
    if cursor is None:
        return None
    value: int = decode_cursor(cursor, AUDIT, (int,))[0]
    return value


def audit_page(items: list[AuditEntry], more: bool) -> Page:
    """A page of a newest-first audit listing: ``items``, and the cursor after the last of
    them when ``more`` entries follow."""
    return Page(items, audit_cursor(items[-1].id) if more and items else None)


def check_audit_limit(limit: int) -> None:
    """:raises ValidationError: ``limit`` outside 1..1000 (field ``limit``)."""
    if not 1 <= limit <= 1000:
        raise ValidationError(f"limit must be 1 to 1000, not {limit}", field="limit")


def stored_entry(entry: AuditEntry) -> AuditEntry:
    """``entry`` as a store keeps it: its time in UTC, over-long strings cut."""
    cut = MAX_AUDIT_FIELD
    return replace(
        entry, at=to_utc(entry.at), actor=entry.actor[:cut], action=entry.action[:cut],
        target=entry.target[:cut], details=dict(entry.details),
    )  # fmt: skip


def matches(
    entry: AuditEntry,
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    """Whether ``entry`` passes the filters of :meth:`~tss.store.roles.AuditStore.list_audit`
    (for the stores that filter in Python: memory and Redis)."""
    return (
        (actor is None or entry.actor == actor)
        and (action is None or entry.action == action)
        and (target is None or entry.target == target)
        and (since is None or entry.at >= to_utc(since))
        and (until is None or entry.at < to_utc(until))
    )
