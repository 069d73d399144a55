"""The worker's claim reads only what it takes, however deep the queue and however stale
the planner's statistics: a claim that reads and sorts the whole queue is correct and
passes every other test, and is 1,000 times slower with 10,000 runs queued."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from tests.servers import PgDatabases
from tss.core.ids import new_id
from tss.core.models import NewRun, RetryPolicy, RunPolicy
from tss.core.states import RunState
from tss.store.postgres import PostgresStore, queries

QUEUED = 3000
LIMIT = 8


@pytest.fixture
def url(pytestconfig: pytest.Config) -> Iterator[str]:
    databases = PgDatabases.shared(pytestconfig)
    made = databases.create()
    yield made
    databases.drop(made)


def _scans(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a JSON plan that reads rows from the runs table."""
    if node.get("Relation Name") == "runs":
        yield node
    for child in node.get("Plans", ()):
        yield from _scans(child)


def _rows_read(plan: dict[str, Any]) -> int:
    return sum(int(n["Actual Rows"]) * int(n["Actual Loops"]) for n in _scans(plan["Plan"]))


#: a worker's claim filter as the store passes it: its task types, and no labels
FILTER = (["http", "noop", "python", "shell"], "[]")


def test_a_claim_reads_a_batch_not_the_queue(url: str) -> None:
    async def body() -> None:
        store = PostgresStore(url)
        await store.start()
        policy = RunPolicy("noop", None, "auto", RetryPolicy(max=0))
        for pool in ("default", "other"):
            news = [
                NewRun(new_id(), "j", RunState.QUEUED, "manual", {}, 0, pool, policy)
                for _ in range(QUEUED)
            ]
            await store.create_runs(news, actor="test")
        await store.close()
        conn = await asyncpg.connect(url)
        try:
            for pools in (["default"], ["default", "other"]):
                tx = conn.transaction()
                await tx.start()
                try:
                    [(found,)] = await conn.fetch(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.CLAIM_NEXT_LOCK, pools, LIMIT,
                        *FILTER,
                    )  # fmt: skip
                    plan = json.loads(found)[0]
                    assert _rows_read(plan) <= LIMIT * len(pools), plan
                    rows = await conn.fetch(queries.CLAIM_NEXT_LOCK, pools, LIMIT, *FILTER)
                    ids = [row[0] for row in rows]
                    assert len(ids) == LIMIT
                    [(found,)] = await conn.fetch(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.CLAIM, ids, "w", 10**7
                    )
                    plan = json.loads(found)[0]
                    # Each run by its key: the lookup, the row to update, the update.
                    assert _rows_read(plan) <= 3 * LIMIT, plan
                    # The one-statement claim: a batch per pool, then each claimed by key.
                    [(found,)] = await conn.fetch(
                        "EXPLAIN (ANALYZE, FORMAT JSON) " + queries.CLAIM_NEXT,
                        pools, LIMIT, *FILTER, "w2", 10**7,
                    )  # fmt: skip
                    plan = json.loads(found)[0]
                    assert _rows_read(plan) <= LIMIT * len(pools) + 3 * LIMIT, plan
                finally:
                    await tx.rollback()  # the queue stays as it was for the next claim
        finally:
            await conn.close()

    asyncio.run(body())
