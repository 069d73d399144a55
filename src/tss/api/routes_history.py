"""What changed, and who: ``/api/v1/jobs/{name}/versions`` (a job's versions, one with its
diff), ``/api/v1/jobs/{name}/rollback`` and ``/api/v1/audit`` (the audit log, admins only).

A version holds a whole definition: its env and header values are masked unless the caller
may read secrets, as in a job's own answer."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from tss.api.auth import needs, principal_of, reveals
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, Cursor, node_of
from tss.api.schemas.base import Timestamp
from tss.api.schemas.history import (
    AuditOut,
    AuditPage,
    ChangeOut,
    RollbackIn,
    RollbackOut,
    VersionDetail,
    VersionOut,
    VersionPage,
)
from tss.core.history import AUDIT_ACTIONS, compared_with

router = APIRouter(route_class=TSSRoute, tags=["history"])

_ACTIONS = "|".join(action.replace(".", r"\.") for action in AUDIT_ACTIONS)
_VERSION = 2**31 - 1


@router.get(
    "/jobs/{name}/versions", response_model=VersionPage, responses=ERRORS, **needs("viewer")
)
async def list_versions(request: Request, name: str) -> VersionPage:
    """Every version of a job, newest first: who changed it, when, how (created, updated,
    deleted, rolled_back) and the definition after the change. A deleted job's versions
    stay (404 only when no job of that name was ever stored)."""
    versions = await node_of(request).history.versions(name)
    reveal = reveals(request)
    return VersionPage(items=[VersionOut.of(v, reveal=reveal) for v in versions])


@router.get(
    "/jobs/{name}/versions/{version}", response_model=VersionDetail, responses=ERRORS,
    **needs("viewer"),
)  # fmt: skip
async def get_version(
    request: Request,
    name: str,
    version: Annotated[int, Path(ge=1, le=_VERSION, description="the version")],
    against: Annotated[
        int | None, Query(ge=1, le=_VERSION, description="compare with this version")
    ] = None,
) -> VersionDetail:
    """One version, with what changed from ``against`` (default: the version before it)."""
    history = node_of(request).history
    found = await history.version(name, version)
    changes = await history.diff(name, version, against)
    compared = compared_with(version, against)
    reveal = reveals(request)
    return VersionDetail(
        **VersionOut.of(found, reveal=reveal).model_dump(),
        against=compared,
        changes=[ChangeOut.of(change, reveal=reveal) for change in changes],
    )


@router.post(
    "/jobs/{name}/rollback", response_model=RollbackOut, responses=ERRORS, **needs("admin")
)
async def rollback_job(request: Request, name: str, body: RollbackIn) -> RollbackOut:
    """Make an earlier version's definition the job's again, recorded as a new version
    (``rolled_back``); the job keeps its pause state, and a deleted job is made again.
    Rolling back to the definition the job has already changes nothing (``changed`` is
    false)."""
    made = await node_of(request).history.rollback(name, body.to, actor=principal_of(request).actor)
    return RollbackOut(
        job=name, to=body.to, changed=made is not None,
        version=None if made is None else made.version,
    )  # fmt: skip


@router.get("/audit", response_model=AuditPage, responses=ERRORS, **needs("admin"))
async def list_audit(
    request: Request,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    action: Annotated[str | None, Query(pattern=f"^({_ACTIONS})$")] = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[Timestamp | None, Query(description="at or after")] = None,
    until: Annotated[Timestamp | None, Query(description="before")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="items per page")] = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """The audit log, newest first: every write (jobs, runs, flows, tokens, pauses,
    silences...) with who made it, filtered by actor, action, target and time."""
    page = await node_of(request).audit.list(
        actor=actor, action=action, target=target, since=since, until=until,
        limit=limit, cursor=cursor,
    )  # fmt: skip
    return AuditPage(items=[AuditOut.of(e) for e in page.items], next_cursor=page.next_cursor)
