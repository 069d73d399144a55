"""The Redis store's hot path: fire, promote, create, publish, claim, heartbeat, finish,
cancel (each one script; see :mod:`tss.store.redis.scripts`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from tss.core import flows
from tss.core.firing import REPLACED, Planner
from tss.core.models import ErrorInfo, Job, JobSpec, NewRun, Outcome, Run
from tss.core.states import RunState, can_transition, check_transition
from tss.core.timeutil import from_micros, to_micros
from tss.errors import Conflict
from tss.store import encoding
from tss.store.redis import codec, scripts
from tss.store.redis.connection import BATCH, RedisPart
from tss.store.redis.jobs import downstream_specs
from tss.store.roles import Claim, RunStore

#: reads and plans of one fire_due_jobs call; jobs still contended after them wait a tick
FIRE_TRIES = 4


def new_run_items(news: Sequence[NewRun], specs: dict[str, dict[str, JobSpec]]) -> list[Any]:
    """``news`` as the insert scripts take them, then the waiting runs of the flows they
    start, each marked with its ``root``: the scripts insert those only with their root."""
    items = [codec.new_run_item(new) for new in news]
    for member in flows.members_of(news, {new.id for new in news}, specs):
        items.append({**codec.new_run_item(member), "root": member.flow_id})
    return items


class RedisRuns(RedisPart, RunStore):
    """The run-changing part of :class:`~tss.store.redis.RedisStore`."""

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        created: list[Run] = []
        fired = 0
        names: list[str] = []  # the jobs to read again: their plan was made on a stale view
        for _ in range(FIRE_TRIES if limit > 0 else 0):
            read = await self._conn.eval(
                scripts.FIRE_READ, str(encoding.seconds_us(horizon)), str(limit), *names
            )
            specs = await downstream_specs(
                self._conn, [codec.pairs(flat)["name"] for flat, _ in read[1]]
            )
            plans, news = self._plan(planner, from_micros(int(read[0])), read[1], specs)
            names = []
            for part in encoding.chunks(plans, BATCH):
                reply = await self._conn.eval(
                    scripts.FIRE, actor, orjson.dumps(list(part)), REPLACED
                )
                at, count, ids, stale = reply
                fired += count
                names += stale
                for run_id in ids:
                    if news[run_id].state is RunState.QUEUED:
                        created.append(encoding.created_run(news[run_id], int(at)))
            if not names:
                break
        return created, fired

    @staticmethod
    def _plan(
        planner: Planner,
        now: datetime,
        due: list[Any],
        specs: dict[str, dict[str, JobSpec]],
    ) -> tuple[list[dict[str, Any]], dict[str, NewRun]]:
        """The plans of the due jobs (as the fire script takes them) and their new runs,
        with the waiting runs of the flows they start (``specs``: as _downstream gives)."""
        plans: list[dict[str, Any]] = []
        news: dict[str, NewRun] = {}
        for flat, active in due:
            seen = codec.pairs(flat)
            job = codec.job_of(seen)
            firing = planner(job, now, active)
            for new in firing.runs:
                check_transition(None, new.state)
            firing.runs = flows.with_flows(firing.runs, specs)
            news.update((new.id, new) for new in firing.runs)
            plan: dict[str, Any] = {
                "name": job.name,
                "seen": seen["next"],
                "version": seen["version"],
                "active": active,
                "cancel": firing.cancel_active,
                "runs": new_run_items(firing.runs, specs),
            }
            if firing.expected_next_fire_at is not None:
                plan["expect"] = str(to_micros(firing.expected_next_fire_at))
            if firing.next_fire_at is not None:
                plan["to"] = str(to_micros(firing.next_fire_at))
            plans.append(plan)
        return plans, news

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        if limit <= 0:
            return []
        early = str(encoding.seconds_us(ahead))
        return codec.runs_of(await self._conn.eval(scripts.PROMOTE, actor, str(limit), early))

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        due, pending = await self._conn.pipe(
            lambda pipe: [
                pipe.zrange(f"{self.keys}due", 0, 0, withscores=True),
                pipe.zrange(f"{self.keys}pending", 0, 0, withscores=True),
            ]
        )
        times = [int(score) - encoding.seconds_us(horizon) for _, score in due]
        times += [int(score) - encoding.seconds_us(ahead) for _, score in pending]
        return from_micros(min(times)) if times else None

    # -- runs ------------------------------------------------------------------------------

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        made = await self._create(runs, actor, "")
        assert made is not None  # only a definition to check makes it None
        return made

    async def create_runs_of(
        self, job: Job, runs: Sequence[NewRun], *, actor: str
    ) -> list[tuple[Run, bool]]:
        definition = [job.name, str(job.version), str(encoding.micros(job.created_at))]
        made = await self._create(runs, actor, orjson.dumps(definition).decode())
        if made is None:  # no longer that definition: the read says how (or it is again)
            return await super().create_runs_of(job, runs, actor=actor)
        return made

    async def _create(
        self, runs: Sequence[NewRun], actor: str, definition: str
    ) -> list[tuple[Run, bool]] | None:
        """Create ``runs`` in one script (two when a job has a flow downstream); None,
        having written nothing, when ``definition`` (JSON ``[job, version, created]``, or
        empty for none) is no longer the stored job."""
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if not runs:
            return []
        # Most jobs have nothing downstream: send the runs as if so, and the script checks
        # it in the same step (one round trip); read the flow only when it says otherwise.
        roots = sorted({new.job for new in runs if flows.starts_flow(new)})
        specs: dict[str, dict[str, JobSpec]] = {}
        sent = flows.with_flows(runs, specs)
        reply = await self._conn.eval(
            scripts.CREATE_RUNS, actor, orjson.dumps(new_run_items(sent, specs)), definition,
            *roots,
        )  # fmt: skip
        if reply[0] == "downstream":
            specs = await downstream_specs(self._conn, roots)
            sent = flows.with_flows(runs, specs)
            reply = await self._conn.eval(
                scripts.CREATE_RUNS, actor, orjson.dumps(new_run_items(sent, specs)), definition
            )
        if reply[0] == "stale":
            return None
        if reply[0] == "conflict":
            raise Conflict.run_exists(reply[1])
        now_us, out = int(reply[1]), list[tuple[Run, bool]]()
        for new, item in zip(sent, reply[2], strict=True):
            if item[1] == 1:
                out.append((encoding.created_run(new, now_us), True))
            else:
                out.append((codec.run_of(item[2]), False))
        return out

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self._conn.eval(scripts.MARK_PUBLISHED, *dict.fromkeys(run_ids))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        if limit <= 0:
            return []
        args = (
            str(encoding.seconds_us(older_than)),
            str(encoding.seconds_us(republish_after)),
            str(limit),
        )
        found = codec.runs_of(await self._conn.eval(scripts.FIND_UNPUBLISHED, *args))
        runs = {run.id: run for run in found if run.state is RunState.QUEUED}
        ordered = sorted(runs.values(), key=lambda r: (r.queued_at or r.created_at, r.id))
        return ordered[:limit]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        found = codec.runs_of(await self._conn.eval(scripts.FETCH_QUEUED, str(limit), *pools))
        return [run for run in found if run.state is RunState.QUEUED]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        if not run_ids:
            return []
        lease_us = str(encoding.seconds_us(lease))
        found = await self._conn.eval(scripts.CLAIM, worker_id, lease_us, *dict.fromkeys(run_ids))
        return codec.runs_of(found)

    async def _claim_next(self, claim: Claim) -> list[Run]:
        # One script: read the heads of the queues, fit them in the room, claim (claim.lua).
        return codec.runs_of(await self._conn.eval(scripts.CLAIM_NEXT, *_claim_args(claim)))

    async def _finish_and_claim(
        self, outcomes: list[Outcome], actor: str, claim: Claim
    ) -> tuple[list[bool], list[Run]]:
        legal, items = _finish_items(outcomes)
        replies, found = await self._conn.eval(
            scripts.FINISH_CLAIM, actor, orjson.dumps(items), *_claim_args(claim)
        )
        return _accepted(legal, replies), codec.runs_of(found)

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        pairs = [part for run_id, number in held for part in (run_id, str(number))]
        lease_us = str(encoding.seconds_us(lease))
        lost: list[str] = await self._conn.eval(
            scripts.HEARTBEAT, worker_id, lease_us, str(len(held)), *pairs
        )
        return lost

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        legal, items = _finish_items(outcomes)
        replies = await self._conn.eval(scripts.FINISH, actor, orjson.dumps(items)) if items else []
        return _accepted(legal, replies)

    async def expired_runs(self, *, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        found = codec.runs_of(await self._conn.eval(scripts.DUE_IN, "leased", "0", "1", str(limit)))
        return [run for run in found if run.state is RunState.RUNNING]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        if limit <= 0:
            return []
        grace_us = str(encoding.seconds_us(grace))
        found = codec.runs_of(
            await self._conn.eval(scripts.DUE_IN, "deadline", grace_us, "0", str(limit))
        )
        # The index orders by deadline; runs are given oldest start first, as elsewhere.
        running = [run for run in found if run.state is RunState.RUNNING]
        return sorted(running, key=lambda r: (r.started_at or r.created_at, r.id))

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        if not run_ids:
            return []
        found = await self._conn.eval(scripts.CANCEL, actor, reason, *dict.fromkeys(run_ids))
        return codec.runs_of(found)

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        if not run_ids:
            return []
        text = encoding.error_text(error) or ""
        found = await self._conn.eval(
            scripts.FAIL_QUEUED, actor, error.message, text, *dict.fromkeys(run_ids)
        )
        return codec.runs_of(found)

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        if logs:
            quads = [p for run_id, n, out, err in logs for p in (run_id, str(n), out, err)]
            await self._conn.eval(scripts.SAVE_LOGS, *quads)


def _claim_args(claim: Claim) -> list[str]:
    """The claim_heads arguments of the claim scripts (claim.lua), from the worker id on."""
    cores = repr(min(float(claim.room.cores), 1e15))
    lease_us = str(encoding.seconds_us(claim.lease))
    memory = str(int(claim.room.memory))
    types = encoding.dumps(None if claim.types is None else sorted(claim.types))
    labels = encoding.dumps(sorted(claim.labels))
    return [claim.worker_id, lease_us, str(claim.limit), cores, memory, types, labels,
            *claim.pools]  # fmt: skip


def _finish_items(outcomes: Sequence[Outcome]) -> tuple[list[bool], list[dict[str, Any]]]:
    """Whether each outcome's target is a legal move from running, and the finish script's
    items for the legal ones (the script answers 1 or 0 for each of those, in order)."""
    legal = [can_transition(RunState.RUNNING, out.target) for out in outcomes]
    items = [codec.outcome_item(out) for out, ok in zip(outcomes, legal, strict=True) if ok]
    return legal, items


def _accepted(legal: list[bool], replies: Sequence[int]) -> list[bool]:
    """Per outcome: legal, and accepted by the script."""
    answers = iter(replies)
    return [ok and next(answers) == 1 for ok in legal]
