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
from tss.store._redis_conn import BATCH, RedisConnection


def matches(run: Run, f: RunFilter) -> bool:
    return f.matches(run)


def only(f: RunFilter | None, *fields: str) -> bool:
    """Whether ``f`` filters on nothing but ``fields``."""
    if f is None:
        return True
    used = {"job": f.job is not None, "states": bool(f.states), "since": f.since is not None}
    used |= {"until": f.until is not None, "flow_id": f.flow_id is not None}
    return not any(on for name, on in used.items() if name not in fields)


def sources(keys: str, f: RunFilter | None) -> tuple[list[str], bool]:
    """The run id indexes to walk for ``f``, and whether they hold exactly its matches (so
    an offset can be skipped inside Redis)."""
    if f is not None and f.job is not None:
        return [f"{keys}job-runs:{f.job}"], only(f, "job")
    if f is not None and f.states:
        states = sorted({RunState(state).value for state in f.states})
        exact = len(states) == 1 and only(f, "states")
        return [f"{keys}state:{state}" for state in states], exact
    return [f"{keys}runs"], only(f)


async def walk(
    conn: RedisConnection, f: RunFilter | None, before: str | None, skip: int, want: int
) -> list[Run]:
    """Up to ``want`` runs matching ``f``, newest first, with ids below ``before``, after
    skipping ``skip`` matches."""
    keys, exact = sources(conn.keys, f)
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
            if f is None or matches(run, f):
                if skip:
                    skip -= 1
                else:
                    out.append(run)
        if all(len(batch) < BATCH for batch in batches) and len(ids) < BATCH:
            break
        upper = f"({ids[-1]}"
    return out[:want]
