"""Retention on demand: ``tss db prune`` and ``POST /api/v1/admin/prune`` (the pruner in
each scheduler does the same on its own, :mod:`tss.scheduler.pruner`)."""

from __future__ import annotations

from tss.core.retention import PruneReport
from tss.errors import NotFound
from tss.scheduler.pruner import prune
from tss.service.base import NodeService


class Retention(NodeService):
    """Prune old history by the node's ``retention:`` policy, or say what would go."""

    async def prune(
        self, *, dry_run: bool = False, job: str | None = None, actor: str = "cli"
    ) -> PruneReport:
        """One pass now, batch by batch (firing and claiming go on in between): every kind,
        or with ``job`` only that job's runs. A real prune is recorded in the audit log
        (``db.prune``, with what went).

        :raises NotFound: ``job`` names no job and has no runs.
        """
        store = self._store
        if (
            job is not None
            and not (await store.get_jobs([job]))
            and job not in set(await store.run_jobs())
        ):
            raise NotFound(f"no job named {job!r}, and no runs of one", field="job")
        config = self._node.settings.retention
        report = await prune(
            store, config, dry_run=dry_run, job=job, pause=0.0, metrics=self._node.metrics
        )
        if not dry_run:
            await self._node.audit.record(actor, "db.prune", job or "*", counts=dict(report.counts))
        return report
