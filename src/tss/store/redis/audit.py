"""The Redis store's job versions and audit log.

Keys (``K`` is ``<prefix>:store:``; times are microseconds since the epoch):

===========================  =============================================================
``K versions:<job>``         list: the job's versions, oldest first (JSON: v, at, actor,
                             change, spec), pushed by the job scripts (``jobs.lua``) in
                             the script of the change; kept when the job is deleted
``K audit-id``               the INCR counter of audit entry ids
``K audit-entries``          hash id -> the entry (JSON: id, at, actor, action, target,
                             details)
``K audit``                  zset of every entry id, scored by id: newest first is a
                             reverse range
``K audit-actor:<actor>``    the same, of one actor's entries
``K audit-target:<target>``  the same, of the entries about one target
===========================  =============================================================

An entry is added by a script (``scripts/history.lua``) with its index entries. A listing
walks the narrowest index that fits its filters (target, then actor, then all) newest
first, a chunk at a time, and filters the rest here until the page is full.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from tss.core.history import AuditEntry, JobVersion
from tss.core.models import Page
from tss.core.timeutil import from_micros
from tss.store import encoding
from tss.store.auditing import (
    audit_after,
    audit_page,
    check_audit_limit,
    matches,
    stored_entry,
    version_missing,
)
from tss.store.redis import scripts
from tss.store.redis.connection import RedisPart
from tss.store.roles import AuditStore

#: entries read per step of a filtered listing (at least a page)
_CHUNK = 200


def _version_of(job: str, text: str) -> JobVersion:
    data = orjson.loads(text)
    spec = data.get("spec")
    body = None if spec is None else orjson.loads(spec)
    return JobVersion(job, int(data["v"]), from_micros(int(data["at"])), data["actor"],
                      data["change"], body)  # fmt: skip


def _entry_of(text: str) -> AuditEntry:
    data = orjson.loads(text)
    return AuditEntry(int(data["id"]), from_micros(int(data["at"])), data["actor"],
                      data["action"], data["target"], orjson.loads(data["details"]))  # fmt: skip


def _entry_item(entry: AuditEntry) -> dict[str, Any]:
    entry = stored_entry(entry)
    return {"at": str(encoding.micros(entry.at)), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "details": encoding.dumps(entry.details)}  # fmt: skip


class RedisAudit(RedisPart, AuditStore):
    """The versions and audit part of :class:`~tss.store.redis.RedisStore`."""

    async def list_versions(self, job: str) -> list[JobVersion]:
        with self._conn.errors():
            found = await self._conn.client().lrange(f"{self.keys}versions:{job}", 0, -1)
        return [_version_of(job, text) for text in reversed(found)]

    async def get_version(self, job: str, version: int) -> JobVersion:
        found = None
        if version >= 1:
            with self._conn.errors():
                key = f"{self.keys}versions:{job}"
                found = await self._conn.client().lindex(key, version - 1)
        if found is None:
            raise version_missing(job, version)
        return _version_of(job, found)

    async def add_audit(self, entries: Sequence[AuditEntry]) -> None:
        for part in encoding.chunks([_entry_item(entry) for entry in entries], 500):
            await self._conn.eval(scripts.ADD_AUDIT, orjson.dumps(list(part)))

    async def list_audit(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page:
        check_audit_limit(limit)
        before = audit_after(cursor)
        if target is not None:
            index = f"{self.keys}audit-target:{target}"
        elif actor is not None:
            index = f"{self.keys}audit-actor:{actor}"
        else:
            index = f"{self.keys}audit"
        filtered = action is not None or since is not None or until is not None
        filtered = filtered or (target is not None and actor is not None)
        chunk = max(limit + 1, _CHUNK) if filtered else limit + 1
        upper = "+inf" if before is None else f"({before}"
        found: list[AuditEntry] = []
        client = self._conn.client()
        while len(found) <= limit:
            with self._conn.errors():
                ids = await client.zrevrangebyscore(index, upper, "-inf", start=0, num=chunk)
                texts = await client.hmget(f"{self.keys}audit-entries", ids) if ids else []
            for text in texts:
                if text is None:
                    continue
                entry = _entry_of(text)
                if matches(entry, actor, action, target, since, until):
                    found.append(entry)
            if len(ids) < chunk:
                break
            upper = f"({ids[-1]}"
        return audit_page(found[:limit], len(found) > limit)
