"""Job versions: list them, compare two, roll a job back to one.

Every create, update and delete of a job stores a version in the same transaction as the
change (the store does it: a job and its versions never disagree). A rollback stores the
chosen version's definition again, as a new version (change ``rolled_back``); it never
rewrites history.
"""

from __future__ import annotations

from tss.core.history import Change, JobVersion, compared_with, spec_diff
from tss.definitions import parse_job
from tss.errors import NotFound, ValidationError
from tss.service.base import NodeService

#: the largest version number a store keeps (a 32-bit integer in SQL)
MAX_VERSION = 2**31 - 1


def _known(name: str, version: int, field: str) -> int:
    """``version`` if a store could hold it.

    :raises NotFound: it could not (naming ``field``): no job has such a version.
    """
    if not 1 <= version <= MAX_VERSION:
        raise NotFound(f"job {name!r} has no version {version}", field=field)
    return version


class History(NodeService):
    """The versions of each job, their differences, and rollback."""

    async def versions(self, name: str) -> list[JobVersion]:
        """Every version of job ``name``, newest first (a deleted job's too).

        :raises NotFound: no job of that name was ever stored.
        """
        found = await self._store.list_versions(name)
        if not found:
            raise NotFound.job(name)
        return found

    async def version(self, name: str, version: int) -> JobVersion:
        """:raises NotFound: no such version (field ``version``)."""
        return await self._store.get_version(name, _known(name, version, "version"))

    async def diff(self, name: str, version: int, against: int | None = None) -> list[Change]:
        """What changed from version ``against`` (default: the one before ``version``; none
        for the first) to ``version``.

        :raises NotFound: either version is not stored (field ``version`` or ``against``).
        """
        new = await self._store.get_version(name, _known(name, version, "version"))
        base = compared_with(version, against)
        old = None
        if base is not None:
            try:
                old = await self._store.get_version(name, _known(name, base, "against"))
            except NotFound as exc:
                raise NotFound(str(exc), field="against") from exc
        return spec_diff(None if old is None else old.spec, new.spec)

    async def rollback(self, name: str, to: int, *, actor: str) -> JobVersion | None:
        """Make version ``to`` of job ``name`` its definition again, as a new version
        (change ``rolled_back``): the job keeps its pause state; a deleted job is made
        again. Returns the version recorded, or None when nothing changed (rolling back to
        a definition equal to the current one stores nothing).

        :raises NotFound: no such version (field ``to``).
        :raises ValidationError: ``to`` is a deletion, or its definition no longer passes
            the checks (naming the field); nothing is stored.
        """
        try:
            chosen = await self._store.get_version(name, _known(name, to, "to"))
        except NotFound as exc:
            raise NotFound(f"job {name!r} has no version {to}", field="to") from exc
        if chosen.spec is None:
            raise ValidationError(
                f"version {to} of job {name!r} is its deletion: roll back to a version before it",
                field="to",
            )
        try:
            spec = parse_job(chosen.spec, where=f"version {to}: ")
            _, changed = await self._node.jobs.restore(spec, actor=actor)
        except ValidationError as exc:
            raise ValidationError(
                f"version {to} of job {name!r} cannot be made current again: {exc}", field="to"
            ) from exc
        if not changed:
            return None
        made = next(
            (v for v in await self._store.list_versions(name) if v.change == "rolled_back"), None
        )
        version = None if made is None else made.version
        await self._node.audit.record(actor, "job.rollback", name, to=to, version=version)
        return made
