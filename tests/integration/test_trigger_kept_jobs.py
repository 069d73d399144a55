"""A node keeps the jobs it triggered and makes their runs from the kept definition; the
store checks it in the same step, so a job changed, deleted or made again by another node
is never triggered as it was."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import REDIS_START, REDIS_URL, PgDatabases, redis_prefix, require_server
from tss.config import Settings
from tss.errors import NotFound
from tss.service import TSSApp


@pytest.fixture(params=["sqlite", "postgres", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tss.db'}"
        return
    if request.param == "redis":
        require_server("Redis", REDIS_URL, REDIS_START)
        with redis_prefix("tss-kept") as prefix:
            yield f"{REDIS_URL}?prefix={prefix}"
        return
    databases = PgDatabases.shared(request.config)
    url = databases.create()
    yield url
    databases.drop(url)


def test_a_kept_job_changed_elsewhere_is_read_again(store_url: str) -> None:
    async def body() -> None:
        settings = Settings(store={"url": store_url}, broker={"url": "store://"})
        mine, theirs = TSSApp(settings), TSSApp(settings)
        await mine.start()
        await theirs.start()
        try:
            job = {"name": "j", "type": "noop", "params": {"result": 1}}
            await theirs.jobs.apply([job])
            [(first, _)] = await mine.runs.trigger("j")  # now kept by this node
            assert first.params == {"result": 1}

            await theirs.jobs.apply([{**job, "params": {"result": 2}, "priority": 3}])
            [(second, _)] = await mine.runs.trigger("j")
            assert (second.params, second.priority) == ({"result": 2}, 3)

            await theirs.jobs.delete("j")
            with pytest.raises(NotFound):
                await mine.runs.trigger("j")

            await theirs.jobs.apply([{**job, "params": {"result": 3}}])
            [(third, _)] = await mine.runs.trigger("j")
            assert (third.params, third.priority) == ({"result": 3}, 0)
        finally:
            await mine.close()
            await theirs.close()

    asyncio.run(body())
