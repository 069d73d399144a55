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
from tss.service import pauses
from tss.service.base import NodeService

if TYPE_CHECKING:
    pass

Action = Literal["created", "updated", "unchanged"]
#: how often :meth:`Jobs.apply` re-reads a job that another process changed under it
UPSERT_TRIES = 5
#: the audit action of each change a job write makes
_VERBS = {"created": "job.create", "updated": "job.update"}


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
        actor: str = "user",
    ) -> list[tuple[str, Action]]:
        """Create or update jobs so they match ``specs``, as one batch: every definition is
        checked before any is stored, then each is stored after the jobs of the batch it
        depends on. Returns what happened to each job, in the order given.

        A job's stored pause state is kept unless the definition sets ``paused`` itself, so
        re-applying a config does not resume a job an operator paused. ``where`` (a file
        name) prefixes error messages. With ``create_only`` an existing name is refused.
        Each job created or updated is recorded as a version and in the audit log, by
        ``actor``.

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
        try:
            for spec in parents_first(checked):
                done[spec.name] = await self._upsert(
                    spec, stored.get(spec.name), now, create_only, actor
                )
        finally:  # what was stored is audited, even when a later job of the batch fails
            changed = [(n, a) for n, a in done.items() if a != "unchanged"]
            await self._node.audit.record_all(actor, [(_VERBS[a], n, {}) for n, a in changed])
        self._node.wake_scheduler()
        return [(spec.name, done[spec.name]) for spec in checked]

    async def _upsert(
        self, spec: JobSpec, old: Job | None, now: datetime, create_only: bool, actor: str
    ) -> Action:
        """Create or update one job. Another process may apply the same definitions at the
        same moment (two schedulers starting on one config): a create or update it won is
        read back and compared, so each ends with the job stored once and neither fails.

        :raises Conflict: ``create_only`` and the name was taken since it was read.
        """
        for _ in range(UPSERT_TRIES):
            try:
                if old is None:
                    await self._store.create_job(spec, _first_fire(spec, now), actor=actor)
                    return "created"
                changed = await self._update_stored(old, spec, now, old.version, actor)
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
        self,
        old: Job,
        spec: JobSpec,
        now: datetime,
        expected_version: int,
        actor: str,
        *,
        rolled_back: bool = False,
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
        return await self._store.update_job(
            spec, next_fire, expected_version=expected_version, actor=actor,
            rolled_back=rolled_back,
        )  # fmt: skip

    async def replace(
        self,
        data: JobSpec | dict[str, Any],
        *,
        expected_version: int | None = None,
        actor: str = "user",
    ) -> Job:
        """Replace an existing job's definition (checked as on create). With
        ``expected_version`` the update is refused if the job changed since it was read.
        A change is recorded as a version and in the audit log, by ``actor``.

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
        job = await self._update_stored(old, spec, await self._store.now(), version, actor)
        if job is not None:
            await self._node.audit.record(actor, _VERBS["updated"], spec.name)
        self._node.wake_scheduler()
        return job or old

    async def patch(
        self,
        name: str,
        patch: dict[str, Any],
        *,
        expected_version: int | None = None,
        actor: str = "user",
    ) -> Job:
        """Change some keys of a job (JSON Merge Patch: ``null`` resets a key).

        :raises NotFound, ValidationError, Conflict: as :meth:`replace`.
        """
        old = await self._store.get_job(name)
        if "name" in patch and patch["name"] != name:
            raise ValidationError(f"job {name!r}: name: a job cannot be renamed", field="name")
        current = old.spec.model_dump(mode="json", exclude_unset=True)
        merged = merge_patch({**current, "name": name}, patch)
        return await self.replace(merged, expected_version=expected_version, actor=actor)

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
        await self._store.delete_job(name, actor=actor)
        await self._node.audit.record(actor, "job.delete", name, force=force, history=history)
        if not history:
            return 0
        await self._node.runs.cancel_not_started(name, actor=actor)
        return await self._node.runs.delete_history(name)

    async def set_paused(
        self,
        name: str,
        paused: bool,
        *,
        note: str | None = None,
        until: str | datetime | None = None,
        actor: str = "user",
    ) -> Job:
        """Pause a job (it stops firing) or resume it. A pause keeps who (``actor``), when,
        ``note`` (why) and ``until`` (a date-time or a duration from now: the scheduler
        resumes the job then). Recorded in the audit log (``job.pause``/``job.resume``).

        :raises NotFound: no such job.
        :raises ValidationError: a bad note or end time (fields ``note``, ``until``);
            nothing is stored.
        """
        return (await pauses.set_paused(self._node, [name], paused, note, until, actor))[0]

    async def pause_matching(
        self,
        job_filter: pauses.PauseFilter,
        *,
        note: str | None = None,
        until: str | datetime | None = None,
        actor: str = "user",
    ) -> list[str]:
        """Pause every job ``job_filter`` selects that is not paused yet, as
        :meth:`set_paused`; returns their names, in name order.

        :raises ValidationError: an empty filter without ``all`` (field ``filter``), a bad
            note or end time; nothing is stored.
        """
        return await pauses.set_matching(self._node, job_filter, True, note, until, actor)

    async def resume_matching(
        self, job_filter: pauses.PauseFilter, *, actor: str = "user"
    ) -> list[str]:
        """Resume every paused job ``job_filter`` selects; returns their names.

        :raises ValidationError: an empty filter without ``all`` (field ``filter``).
        """
        return await pauses.set_matching(self._node, job_filter, False, None, None, actor)

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

    async def restore(self, spec: JobSpec, *, actor: str) -> tuple[Job, bool]:
        """Make ``spec`` (a definition a version kept) the job's again, as a version of its
        own (change ``rolled_back``): over the job if it exists (keeping its pause state),
        or as the job again if it was deleted. Checked as on create. Returns the job and
        whether anything changed (a definition equal to the stored one changes nothing).

        :raises ValidationError: the definition no longer passes the checks (a task type
            or parent that is gone...), naming the field; nothing is stored.
        """
        check_jobs(
            [spec],
            self._node.registry,
            existing=await self._ancestors([spec]),
            channels=self._node.settings.alerts.channels.keys(),
        )
        now = await self._store.now()
        old = (await self._store.get_jobs([spec.name])).get(spec.name)
        if old is None:
            job = await self._store.create_job(
                spec, _first_fire(spec, now), actor=actor, rolled_back=True
            )
        else:
            spec = spec.model_copy(update={"paused": old.spec.paused})
            changed = await self._update_stored(
                old, spec, now, old.version, actor, rolled_back=True
            )
            if changed is None:
                return old, False
            job = changed
        self._node.wake_scheduler()
        return job, True
