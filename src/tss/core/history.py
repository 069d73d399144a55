"""What changed, and who: job versions and the audit log (pure: no I/O).

A :class:`JobVersion` is a job's definition as it was after one change, recorded by the
store in the same transaction as the change itself, so a job's versions never disagree
with the job. An :class:`AuditEntry` is one write someone made (to a job, a run, a token,
a silence...), recorded by the service right after the write succeeds.
:func:`spec_diff` says what differs between two definitions, for the diff views.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

#: what a version records: how the job came to have this definition
VersionChange = Literal["created", "updated", "deleted", "rolled_back"]
VERSION_CHANGES: tuple[str, ...] = get_args(VersionChange)

#: every action the audit log records: ``<what>.<verb>`` (``job.backfill.stop``: a verb on
#: a part of a job)
AUDIT_ACTIONS: tuple[str, ...] = (
    "job.create",
    "job.update",
    "job.delete",
    "job.pause",
    "job.resume",
    "job.rollback",
    "job.backfill",
    "job.backfill.stop",
    "run.trigger",
    "run.cancel",
    "run.retry",
    "flow.cancel",
    "token.create",
    "token.revoke",
    "silence.put",
    "silence.delete",
    "db.prune",
)

#: the longest actor, action and target the audit log keeps (longer ones are cut)
MAX_AUDIT_FIELD = 200


@dataclass(frozen=True, slots=True)
class JobVersion:
    """A job's definition after one change. ``spec`` is the definition as JSON (the
    :class:`~tss.core.jobspec.JobSpec` dumped), None for a deletion. Versions of a job
    count up from 1 and go on after a deletion when a job of the same name is made again."""

    job: str
    version: int
    at: datetime
    actor: str
    change: VersionChange
    spec: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One write in the audit log: who (``actor``), what (``action``, one of
    :data:`AUDIT_ACTIONS`), to what (``target``: a job name, run id or token name), when,
    and what else is worth knowing (``details``, never a secret). ``id`` is given by the
    store (pass 0 when adding); it grows with every entry."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two definitions: the dotted ``path`` of a value, what it was
    and what it became. ``kind`` says whether the value was ``added``, ``removed`` or
    ``changed`` (a missing value reads as None in ``old`` or ``new``)."""

    path: str
    old: Any
    new: Any
    kind: Literal["added", "removed", "changed"] = "changed"


_MISSING: Any = object()


def compared_with(version: int, against: int | None) -> int | None:
    """The version a diff of ``version`` compares it with: ``against``, or the one before
    it (None for the first, which is compared with nothing)."""
    if against is not None:
        return against
    return version - 1 if version > 1 else None


def spec_diff(old: dict[str, Any] | None, new: dict[str, Any] | None) -> list[Change]:
    """What differs from ``old`` to ``new`` (either may be None: no definition), by path.

    Nested mappings are compared key by key (``schedule.cron``); anything else, lists
    included, is compared whole. The changes come in path order.
    """
    changes: list[Change] = []
    _diff("", old or {}, new or {}, changes)
    changes.sort(key=lambda change: change.path)
    return changes


def _diff(prefix: str, old: dict[str, Any], new: dict[str, Any], out: list[Change]) -> None:
    for key in old.keys() | new.keys():
        path = f"{prefix}{key}"
        before = old.get(key, _MISSING)
        after = new.get(key, _MISSING)
        if isinstance(before, dict) and isinstance(after, dict):
            _diff(f"{path}.", before, after, out)
        elif before is _MISSING:
            out.append(Change(path, None, after, "added"))
        elif after is _MISSING:
            out.append(Change(path, before, None, "removed"))
        elif before != after or type(before) is not type(after):
            out.append(Change(path, before, after))


__all__ = [
    "AUDIT_ACTIONS",
    "MAX_AUDIT_FIELD",
    "VERSION_CHANGES",
    "AuditEntry",
    "Change",
    "JobVersion",
    "VersionChange",
    "compared_with",
    "spec_diff",
]
