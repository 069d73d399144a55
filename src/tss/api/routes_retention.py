"""Retention on demand (``POST /admin/prune``): prune old history by the ``retention:``
policy now, or say what would go (docs/retention.md)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tss.api.auth import needs, principal_of
from tss.api.errors import TSSRoute
from tss.api.params import ERRORS, node_of
from tss.api.schemas.retention import PruneIn, PruneOut

router = APIRouter(route_class=TSSRoute, tags=["retention"])


@router.post("/admin/prune", response_model=PruneOut, responses=ERRORS, **needs("admin"))
async def prune(request: Request, body: PruneIn) -> PruneOut:
    """Prune now, a batch at a time (firing and claiming go on in between): every kind by
    the policy, or with ``job`` only that job's runs; ``dry_run`` counts and deletes
    nothing. A real prune is recorded in the audit log (``db.prune``)."""
    report = await node_of(request).retention.prune(
        dry_run=body.dry_run, job=body.job, actor=principal_of(request).actor
    )
    return PruneOut.model_validate(report.as_dict())
