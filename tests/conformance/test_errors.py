"""The same failure reads the same on every store: the error's type, field and message.

Each expected error is made by the named constructor in :mod:`tss.errors` that every store
raises, so a store that words a failure its own way fails here.
"""

from __future__ import annotations

from collections.abc import Awaitable

import pytest

from tss.core.models import Token
from tss.core.workers import WORKER_STATES
from tss.errors import Conflict, NotFound, TSSError, ValidationError
from tss.store.base import DashboardSession, Store

from .support import ACTOR, new_run, queued, seconds, spec


async def refused(call: Awaitable[object], expected: TSSError) -> None:
    """``call`` raises an error of ``expected``'s type, field and message."""
    with pytest.raises(TSSError) as caught:
        await call
    got = caught.value
    assert (type(got), got.field, got.message) == (
        type(expected),
        expected.field,
        expected.message,
    )


async def test_missing_jobs_read_alike(store: Store) -> None:
    await refused(store.get_job("nope"), NotFound.job("nope"))
    await refused(store.update_job(spec("nope"), None), NotFound.job("nope"))
    await refused(store.delete_job("nope"), NotFound.job("nope"))
    await refused(store.set_paused("nope", True), NotFound.job("nope"))


async def test_job_conflicts_read_alike(store: Store) -> None:
    await store.create_job(spec("a"), None)
    await refused(store.create_job(spec("a"), None), Conflict.job_exists("a"))
    await store.update_job(spec("a", description="two"), None)
    await refused(
        store.update_job(spec("a"), None, expected_version=1), Conflict.stale_version("a", 2, 1)
    )


async def test_missing_runs_read_alike(store: Store) -> None:
    await refused(store.get_run("r-nope"), NotFound.run("r-nope"))
    await refused(store.list_attempts("r-nope"), NotFound.run("r-nope"))
    await refused(store.get_logs("r-nope"), NotFound.run("r-nope"))
    [run] = await queued(store)
    await refused(store.get_logs(run.id), NotFound.attempt(run.id, None))
    await refused(store.get_logs(run.id, 3), NotFound.attempt(run.id, 3))


async def test_a_duplicate_run_id_reads_alike(store: Store) -> None:
    [run] = await queued(store)
    # Another job's run: Redis takes a run sent again under its own job and id for a retried
    # call whose reply was lost, and returns it as found.
    again = new_run("job-b")
    again.id = run.id
    await refused(store.create_runs([again], actor=ACTOR), Conflict.run_exists(run.id))


async def test_worker_failures_read_alike(store: Store) -> None:
    await refused(
        store.set_worker_state("w-nope", "asleep"),
        ValidationError.worker_state("asleep", WORKER_STATES),
    )
    await refused(store.set_worker_state("w-nope", "down"), NotFound.worker("w-nope"))


async def test_token_and_session_failures_read_alike(store: Store) -> None:
    now = await store.now()
    token = Token("t1", "ci", "viewer", "sha256:t1", now)
    await store.create_token(token)
    await refused(store.create_token(token), Conflict.token_exists("t1"))
    await refused(store.get_token("t-nope"), NotFound.token("t-nope"))
    await refused(store.revoke_tokens("t-nope"), NotFound.token_named("t-nope"))
    session = DashboardSession("e" * 64, "t1", now, now + seconds(3600))
    await store.create_session(session)
    await refused(store.create_session(session), Conflict.session_exists())
    await refused(store.get_session("f" * 64), NotFound.session())
