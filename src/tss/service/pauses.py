"""Pausing and resuming jobs, one or every job a filter selects, with who, why and until
when (:class:`~tss.core.records.PauseInfo`), each recorded in the audit log.

Everything asked is checked (note, end time, filter, names) before the first job changes:
a bad request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from tss.core.models import Job, JobFilter
from tss.core.pauses import pause_of
from tss.core.records import PauseInfo
from tss.errors import NotFound, ValidationError

if TYPE_CHECKING:
    from tss.service.node import TSSApp

#: jobs read per page while selecting the jobs of a bulk pause or resume
PAGE = 500


@dataclass(frozen=True, slots=True)
class PauseFilter:
    """The jobs a bulk pause or resume acts on: those matching every condition given
    (a name prefix, a tag, a pool, a list of names); ``all`` is needed to select every job."""

    prefix: str | None = None
    tag: str | None = None
    pool: str | None = None
    names: tuple[str, ...] = ()
    all: bool = False

    @property
    def empty(self) -> bool:
        """Whether it names no condition at all."""
        return not (self.prefix or self.tag or self.pool or self.names)

    def check(self) -> None:
        """:raises ValidationError: it is empty and not ``all`` (field ``filter``)."""
        if self.empty and not self.all:
            raise ValidationError(
                "filter: name the jobs (prefix, tag, pool or names), or say all=true to act"
                " on every job",
                field="filter",
            )


def audit_details(pause: PauseInfo) -> dict[str, str | None]:
    """What the audit log keeps of a pause."""
    return {"note": pause.note, "until": None if pause.until is None else pause.until.isoformat()}


async def set_paused(
    node: TSSApp,
    names: list[str],
    paused: bool,
    note: str | None,
    until: str | datetime | None,
    actor: str,
) -> list[Job]:
    """Pause (with one pause for all) or resume each of ``names``, recording each in the
    audit log; the jobs as stored after.

    :raises ValidationError: a bad note or end time, checked before anything changes.
    :raises NotFound: a job does not exist (those before it in ``names`` have changed).
    """
    store = node.store
    pause = pause_of(actor, await store.now(), note, until) if paused else None
    if not paused and (note or until):
        field = "note" if note else "until"
        raise ValidationError(f"{field}: only a pause takes a {field}", field=field)
    done: list[Job] = []
    for name in names:
        job = await store.set_paused(name, paused, pause=pause)
        done.append(job)
        if pause is not None:
            await node.audit.record(actor, "job.pause", name, **audit_details(pause))
        else:
            await node.audit.record(actor, "job.resume", name, auto=False)
    if done:
        node.wake_scheduler()
    return done


async def selected(node: TSSApp, job_filter: PauseFilter, paused: bool) -> list[str]:
    """The names of the jobs ``job_filter`` selects whose pause state is not ``paused``
    yet, in name order.

    :raises ValidationError: an empty filter without ``all``.
    :raises NotFound: a job of ``job_filter.names`` does not exist.
    """
    job_filter.check()
    store = node.store
    wanted = JobFilter(
        prefix=job_filter.prefix, tag=job_filter.tag, pool=job_filter.pool, paused=not paused
    )
    if job_filter.names:
        unique = sorted(set(job_filter.names))
        found = await store.get_jobs(unique)
        missing = [name for name in unique if name not in found]
        if missing:
            raise NotFound.job(missing[0])
        return [n for n in unique if wanted.matches(found[n], lambda _name: None)]
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = await store.list_jobs(wanted, limit=PAGE, cursor=cursor)
        names += [job.name for job in page.items]
        cursor = page.next_cursor
        if cursor is None:
            return names


async def set_matching(
    node: TSSApp,
    job_filter: PauseFilter,
    paused: bool,
    note: str | None,
    until: str | datetime | None,
    actor: str,
) -> list[str]:
    """Pause or resume the jobs ``job_filter`` selects (see :func:`selected`); their names.

    :raises ValidationError: an empty filter, a bad note or end time (nothing changes).
    """
    if paused:  # the pause is checked before the jobs are read
        pause_of(actor, await node.store.now(), note, until)
    names = await selected(node, job_filter, paused)
    jobs = await set_paused(node, names, paused, note, until, actor)
    return [job.name for job in jobs]
