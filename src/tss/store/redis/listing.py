"""Run listings of the Redis store: which index to walk for a filter, and the walk.

Run ids sort by creation, so every run index is a sorted set of ids with score 0, read
newest first with ZREVRANGEBYLEX. A filter that one index answers exactly (none, a job, one
state) reads one page; any other reads the narrowest index in batches and filters here.
"""

from __future__ import annotations

import heapq
from typing import Any

from tss.core.models import Run, RunFilter
from tss.core.states import RunState
from tss.store.redis.connection import BATCH, RedisConnection


def filter_uses_only(run_filter: RunFilter | None, *fields: str) -> bool:
    """Whether ``run_filter`` filters on nothing but ``fields`` (no filter: on nothing)."""
    if run_filter is None:
        return True
    used = {
        "job": run_filter.job is not None,
        "states": bool(run_filter.states),
        "since": run_filter.since is not None,
        "until": run_filter.until is not None,
        "flow_id": run_filter.flow_id is not None,
    }
    return not any(on for name, on in used.items() if name not in fields)


def index_keys_for(keys: str, run_filter: RunFilter | None) -> tuple[list[str], bool]:
    """The run id indexes to walk for ``run_filter`` (``keys``: the store's key start), and
    whether they hold exactly its matches (so an offset can be skipped inside Redis)."""
    if run_filter is not None and run_filter.job is not None:
        return [f"{keys}job-runs:{run_filter.job}"], filter_uses_only(run_filter, "job")
    if run_filter is not None and run_filter.states:
        states = sorted({RunState(state).value for state in run_filter.states})
        exact = len(states) == 1 and filter_uses_only(run_filter, "states")
        return [f"{keys}state:{state}" for state in states], exact
    return [f"{keys}runs"], filter_uses_only(run_filter)


async def newest_runs_matching(
    conn: RedisConnection, run_filter: RunFilter | None, before: str | None, skip: int, want: int
) -> list[Run]:
    """Up to ``want`` runs matching ``run_filter``, newest first, with ids below ``before``,
    after skipping ``skip`` matches: one page of the index that holds exactly the matches,
    or the narrowest indexes read in batches and filtered here."""
    keys, exact = index_keys_for(conn.keys, run_filter)
    upper = f"({before}" if before is not None else "+"
    if exact:
        with conn.errors():
            ids = await conn.client().zrevrangebylex(keys[0], upper, "-", start=skip, num=want)
        return await conn.runs(ids)
    out: list[Run] = []
    while len(out) < want:

        def build(pipe: Any, upper: str = upper) -> None:
            for key in keys:
                pipe.zrevrangebylex(key, upper, "-", start=0, num=BATCH)

        batches = await conn.pipe(build)
        # The newest BATCH of the union are among the newest BATCH of each index.
        ids = list(dict.fromkeys(heapq.merge(*batches, reverse=True)))[:BATCH]
        if not ids:
            break
        for run in await conn.runs(ids):
            if run_filter is None or run_filter.matches(run):
                if skip:
                    skip -= 1
                else:
                    out.append(run)
        if all(len(batch) < BATCH for batch in batches) and len(ids) < BATCH:
            break
        upper = f"({ids[-1]}"
    return out[:want]
