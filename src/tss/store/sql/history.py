"""The SQL of job versions and the audit log, shared by SQLite and PostgreSQL (written with
``?`` placeholders; PostgreSQL numbers them), and their rows made into records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from tss.core.history import AuditEntry, JobVersion, VersionChange
from tss.core.models import JobSpec, Page
from tss.core.timeutil import from_micros
from tss.store.auditing import audit_after, audit_page, check_audit_limit, stored_entry
from tss.store.encoding import dumps, micros, spec_text

#: a job's next version; parameters: job, at (micros), actor, change, spec (JSON or NULL),
#: job. The job's own row is written (and locked) in the same transaction first, so two
#: changes of one job never pick the same number (the primary key would refuse it anyway).
VERSION_INSERT = (
    "INSERT INTO job_versions (job, version, at, actor, change, spec)"
    " SELECT ?, coalesce(max(version), 0) + 1, ?, ?, ?, ? FROM job_versions WHERE job = ?"
)
_VERSION_COLUMNS = "SELECT job, version, at, actor, change, spec FROM job_versions"
#: every version of a job, newest first; parameter: job
VERSIONS = f"{_VERSION_COLUMNS} WHERE job = ? ORDER BY version DESC"
#: one version; parameters: job, version
VERSION = f"{_VERSION_COLUMNS} WHERE job = ? AND version = ?"
#: one audit entry; parameters: at, actor, action, target, details
AUDIT_INSERT = "INSERT INTO audit (at, actor, action, target, details) VALUES (?, ?, ?, ?, ?)"


def version_values(
    name: str, at_us: int, actor: str, change: VersionChange, spec: JobSpec | None
) -> tuple[Any, ...]:
    """The parameters of :data:`VERSION_INSERT`."""
    return (name, at_us, actor, change, None if spec is None else spec_text(spec), name)


def version_of(row: Sequence[Any]) -> JobVersion:
    job, version, at, actor, change, spec = row
    body = None if spec is None else orjson.loads(spec)
    return JobVersion(job, version, from_micros(at), actor, change, body)


def audit_values(entries: Sequence[AuditEntry]) -> list[tuple[Any, ...]]:
    """The parameters of :data:`AUDIT_INSERT`, one tuple per entry."""
    out = []
    for entry in map(stored_entry, entries):
        at = micros(entry.at)
        out.append((at, entry.actor, entry.action, entry.target, dumps(entry.details)))
    return out


def audit_of(row: Sequence[Any]) -> AuditEntry:
    entry_id, at, actor, action, target, details = row
    return AuditEntry(int(entry_id), from_micros(at), actor, action, target, orjson.loads(details))


def audit_page_query(
    actor: str | None,
    action: str | None,
    target: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    cursor: str | None,
) -> tuple[str, list[Any]]:
    """The query of one page of :meth:`~tss.store.roles.AuditStore.list_audit` (one row more
    than ``limit``, to know whether another page follows) and its parameters.

    :raises ValidationError: a bad limit or cursor.
    """
    check_audit_limit(limit)
    before = audit_after(cursor)
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("actor", actor), ("action", action), ("target", target)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("at >= ?")
        params.append(micros(since))
    if until is not None:
        where.append("at < ?")
        params.append(micros(until))
    if before is not None:
        where.append("id < ?")
        params.append(before)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    sql = (
        "SELECT id, at, actor, action, target, details FROM audit"
        f"{clause} ORDER BY id DESC LIMIT {limit + 1}"
    )
    return sql, params


def audit_rows_page(found: Sequence[Sequence[Any]], limit: int) -> Page:
    """A page of entries from the rows of :func:`audit_page_query`."""
    return audit_page([audit_of(row) for row in found[:limit]], len(found) > limit)
