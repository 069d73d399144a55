"""Two nodes applying the same job definitions at the same moment (two schedulers starting
together on one config): neither fails, and each job is stored once."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.servers import PgDatabases
from tss.config import Settings
from tss.service import TSSApp

JOBS = 30


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tss.db'}"
    return PgDatabases.shared(request.config).create()


def specs(every: str) -> list[dict[str, Any]]:
    return [
        {"name": f"job-{n:02d}", "type": "noop", "schedule": {"every": every}} for n in range(JOBS)
    ]


def test_concurrent_applies_create_each_job_once_and_neither_fails(store_url: str) -> None:
    async def body() -> None:
        apps = [TSSApp(Settings(store={"url": store_url})) for _ in range(2)]
        for app in apps:
            await app.start()
        try:
            first = await asyncio.gather(*(app.jobs.apply(specs("1h")) for app in apps))
            created = Counter(
                name for done in first for name, action in done if action == "created"
            )
            assert sorted(created) == [f"job-{n:02d}" for n in range(JOBS)]
            assert set(created.values()) == {1}, "a job was created twice"
            # Both change every job at once: one updates each, the other finds it done.
            second = await asyncio.gather(*(app.jobs.apply(specs("2h")) for app in apps))
            updated = Counter(
                name for done in second for name, action in done if action == "updated"
            )
            assert len(updated) == JOBS and set(updated.values()) == {1}
            page = await apps[0].store.list_jobs(limit=1000)
            assert page.total == JOBS
            assert {j.spec.schedule.every for j in page.items if j.spec.schedule} == {7200}
        finally:
            for app in apps:
                await app.close()

    asyncio.run(asyncio.wait_for(body(), 60))
