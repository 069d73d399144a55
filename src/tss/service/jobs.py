"""Job definitions: apply a batch, replace, patch, delete, pause and resume; the next fires
and the flow a job starts; the jobs the config declares.

Every definition is parsed and checked (task types and params, duplicate names, unknown
parents, dependency cycles) before anything is stored: a batch with one bad job stores
nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any, Literal

from tss.core.flows import FlowGraph
from tss.core.merge import merge_patch
from tss.core.models import Job, JobSpec
from tss.core.schedules import first_fire, next_fire_times
from tss.definitions import check_jobs, load_job_file, parse_job
from tss.errors import Conflict, ValidationError
from tss.service.base import NodeService

if TYPE_CHECKING:
    pass

Action = Literal["created", "updated", "unchanged"]
#: how often :meth:`Jobs.apply` re-reads a job that another process changed under it
UPSERT_TRIES = 5


def parents_first(specs: Sequence[JobSpec]) -> list[JobSpec]:
    """``specs`` ordered so that each comes after the jobs of the batch it depends on (the
    batch is checked already: no duplicate names, no cycle)."""
    by_name = {s.name: s for s in specs}
    graph = {s.name: [d.job for d in s.depends_on if d.job in by_name] for s in specs}
    return [by_name[name] for name in TopologicalSorter(graph).static_order()]


def _first_fire(spec: JobSpec, now: datetime) -> datetime | None:
    return first_fire(spec.schedule, created_at=now) if spec.schedule else None


class Jobs(NodeService):
    """What a node does with job definitions."""

    def config_jobs(self) -> list[JobSpec]:
        """Jobs declared in the config (``jobs:`` and ``job_files:``), validated.

        :raises ValidationError: naming the file, job and field.
        """
        settings = self._node.settings
        where = f"{settings.source}: " if settings.source else ""
        specs = [
            parse_job(item, where=f"{where}jobs[{i}]: ") for i, item in enumerate(settings.jobs)
        ]
        for name in settings.job_files:
            specs.extend(load_job_file(settings.base_dir() / name))
        return specs

    async def _ancestors(self, specs: Sequence[JobSpec]) -> dict[str, list[str]]:
        """The stored jobs ``specs`` depend on, directly or not, with their parents: all a
        dependency check needs (a new cycle runs through ancestors only), read in one query
        per generation instead of reading every job."""
        own = {s.name for s in specs}
        graph: dict[str, list[str]] = {}
        wanted = {d.job for s in specs for d in s.depends_on} - own
        while wanted:
            found = await self._store.get_jobs(sorted(wanted))
            for name, job in found.items():
                graph[name] = [d.job for d in job.spec.depends_on]
            wanted = {p for name in found for p in graph[name]} - own - graph.keys()
        return graph

    async def apply(
        self,
        specs: Sequence[JobSpec | dict[str, Any]],
        *,
        where: str = "",
        create_only: bool = False,
    ) -> list[tuple[str, Action]]:
        """Create or update jobs so they match ``specs``, as one batch: every definition is
        checked before any is stored, then each is stored after the jobs of the batch it
        depends on. Returns what happened to each job, in the order given.

        A job's stored pause state is kept unless the definition sets ``paused`` itself, so
        re-applying a config does not resume a job an operator paused. ``where`` (a file
        name) prefixes error messages. With ``create_only`` an existing name is refused.

        :raises ValidationError: a definition is invalid (nothing is stored).
        :raises Conflict: ``create_only`` and a name is taken (nothing is stored).
        """
        prefix = f"{where}: " if where else ""
        parsed = [parse_job(s, where=prefix) for s in specs]
        if not parsed:
            return []
        checked = check_jobs(
            parsed,
            self._node.registry,
            existing=await self._ancestors(parsed),
            where=prefix,
            channels=self._node.settings.alerts.channels.keys(),
        )
        stored = await self._store.get_jobs([s.name for s in checked])
        if create_only and stored:
            name = next(s.name for s in checked if s.name in stored)
            raise Conflict(
                f"{prefix}job {name!r}: name: a job named {name!r} exists already",
                field="name",
            )
        now = await self._store.now()
        done: dict[str, Action] = {}
        for spec in parents_first(checked):
            done[spec.name] = await self._upsert(spec, stored.get(spec.name), now, create_only)
        self._node.wake_scheduler()
        return [(spec.name, done[spec.name]) for spec in checked]

    async def _upsert(
        self, spec: JobSpec, old: Job | None, now: datetime, create_only: bool
    ) -> Action:
        """Create or update one job. Another process may apply the same definitions at the
        same moment (two schedulers starting on one config): a create or update it won is
        read back and compared, so each ends with the job stored once and neither fails.

        :raises Conflict: ``create_only`` and the name was taken since it was read.
        """
        for _ in range(UPSERT_TRIES):
            try:
                if old is None:
                    await self._store.create_job(spec, _first_fire(spec, now))
                    return "created"
                changed = await self._update_stored(old, spec, now, old.version)
                return "updated" if changed else "unchanged"
            except Conflict:
                if create_only:
                    raise  # a name taken since the check never turns into an update
                old = (await self._store.get_jobs([spec.name])).get(spec.name)
        raise Conflict(
            f"job {spec.name!r} kept changing while it was applied ({UPSERT_TRIES} tries); "
            "apply it again",
            field="name",
        )

    async def _update_stored(
        self, old: Job, spec: JobSpec, now: datetime, expected_version: int
    ) -> Job | None:
        """Store ``spec`` over ``old``; None when nothing changed. The stored pause state is
        kept unless the definition sets ``paused``; the next fire is kept unless the
        schedule changed."""
        if "paused" not in spec.model_fields_set:
            spec = spec.model_copy(update={"paused": old.spec.paused})
        if spec == old.spec:
            if old.version != expected_version:
                raise Conflict(
                    f"job {spec.name!r} is at version {old.version}, not {expected_version}",
                    field="version",
                )
            return None
        next_fire = (
            old.next_fire_at if spec.schedule == old.spec.schedule else _first_fire(spec, now)
        )
        return await self._store.update_job(spec, next_fire, expected_version=expected_version)

    async def replace(
        self, data: JobSpec | dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """Replace an existing job's definition (checked as on create). With
        ``expected_version`` the update is refused if the job changed since it was read.

        :raises NotFound: no such job.
        :raises ValidationError: the definition is invalid (nothing is stored).
        :raises Conflict: ``expected_version`` is stale.
        """
        spec = parse_job(data)
        old = await self._store.get_job(spec.name)
        check_jobs(
            [spec],
            self._node.registry,
            existing=await self._ancestors([spec]),
            channels=self._node.settings.alerts.channels.keys(),
        )
        version = old.version if expected_version is None else expected_version
        job = await self._update_stored(old, spec, await self._store.now(), version)
        self._node.wake_scheduler()
        return job or old

    async def patch(
        self, name: str, patch: dict[str, Any], *, expected_version: int | None = None
    ) -> Job:
        """Change some keys of a job (JSON Merge Patch: ``null`` resets a key).

        :raises NotFound, ValidationError, Conflict: as :meth:`replace`.
        """
        old = await self._store.get_job(name)
        if "name" in patch and patch["name"] != name:
            raise ValidationError(f"job {name!r}: name: a job cannot be renamed", field="name")
        current = old.spec.model_dump(mode="json", exclude_unset=True)
        merged = merge_patch({**current, "name": name}, patch)
        return await self.replace(merged, expected_version=expected_version)

    async def delete(
        self, name: str, *, force: bool = False, history: bool = False, actor: str = "user"
    ) -> int:
        """Delete a job; refused while others depend on it unless ``force``. Its runs stay
        as history, and those not started yet still run; with ``history`` those are
        cancelled and every ended run goes, with its attempts, logs and events (a run
        still going ends and stays). Returns how many runs were deleted.

        :raises NotFound: no such job.
        :raises Conflict: others depend on it and not ``force``.
        """
        await self._store.get_job(name)
        below = await self._store.downstream(name)
        dependants = [j for j, s in below.items() if any(d.job == name for d in s.depends_on)]
        if dependants and not force:
            verb = "depends" if len(dependants) == 1 else "depend"
            raise Conflict(
                f"job {name!r} cannot be deleted: {', '.join(sorted(dependants))} {verb} on it "
                "(--force, or force=true, deletes it anyway)",
                field="name",
            )
        await self._store.delete_job(name)
        if not history:
            return 0
        await self._node.runs.cancel_not_started(name, actor=actor)
        return await self._node.runs.delete_history(name)

    async def set_paused(self, name: str, paused: bool) -> Job:
        """Pause a job (it stops firing) or resume it.

        :raises NotFound: no such job.
        """
        job = await self._store.set_paused(name, paused)
        self._node.wake_scheduler()
        return job

    async def next_fires(self, name: str, n: int = 10) -> list[datetime]:
        """The next ``n`` fire times of a job, without running it.

        :raises NotFound: no such job.
        """
        job = await self._store.get_job(name)
        if job.spec.schedule is None or job.next_fire_at is None:
            return []
        first = job.next_fire_at
        rest = next_fire_times(job.spec.schedule, n - 1, after=first, anchor=first)
        return [first, *rest][:n]

    async def flow_graph(self, name: str) -> FlowGraph:
        """The flow a run of ``name`` starts: ``name`` and every job downstream of it, with
        the edges between them (parent, child, condition).

        :raises NotFound: no such job.
        """
        job = await self._store.get_job(name)
        return FlowGraph.of(name, {name: job.spec, **await self._store.downstream(name)})
