"""Retention on the wire: ``POST /api/v1/admin/prune`` (see :mod:`tss.core.retention`)."""

from __future__ import annotations

from pydantic import BaseModel, Field, StrictBool

from tss.api.schemas.base import StrictIn


class PruneIn(StrictIn):
    """What to prune: everything by the policy, or one job's runs; ``dry_run`` only counts."""

    dry_run: StrictBool = Field(False, description="count what would go; delete nothing")
    job: str | None = Field(
        None, min_length=1, max_length=200, description="only this job's runs (default: all)"
    )


class PruneOut(BaseModel):
    """What a prune deleted (or, dry, would delete): rows per kind (``runs``, ``alerts``,
    ``silences``, ``ledger``, ``audit``) and runs per job."""

    dry_run: bool
    counts: dict[str, int]
    runs_by_job: dict[str, int]
