"""The PostgreSQL store's hot path: firing, promoting, creating, publishing, claiming,
leases, finishing and cancelling runs (:class:`~tss.store.roles.RunStore`)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tss.core import flows
from tss.core.fencing import finish_change
from tss.core.firing import Planner
from tss.core.models import ErrorInfo, Job, NewRun, Outcome, Run
from tss.core.states import RunState, can_transition, check_transition
from tss.core.timeutil import from_micros
from tss.store.encoding import RunRow, dumps_or_none, error_text, micros, run_of, seconds_us
from tss.store.postgres import queries, writes
from tss.store.postgres.connection import Pool, columns
from tss.store.roles import Claim, RunStore
from tss.store.sql import plans

Conn = Any  # an asyncpg connection (asyncpg ships no type information)


class PostgresRuns(RunStore):
    """The :class:`~tss.store.roles.RunStore` methods of the PostgreSQL store."""

    @property
    @abstractmethod
    def pool(self) -> Pool:
        """The store's pool (:class:`~tss.store.postgres.PostgresStore` opens it)."""

    async def fire_due_jobs(
        self, planner: Planner, *, limit: int, actor: str, horizon: float = 0.0
    ) -> tuple[list[Run], int]:
        return await self.pool.tx(
            lambda cn: writes.fire_due_jobs(cn, planner, limit, actor, horizon)
        )

    async def promote_due_runs(self, *, limit: int, actor: str, ahead: float = 0.0) -> list[Run]:
        found = await self.pool.write(queries.PROMOTE, max(limit, 0), actor, seconds_us(ahead))
        return [run_of(row[: len(RunRow._fields)]) for row in found]

    async def next_wakeup(self, *, horizon: float = 0.0, ahead: float = 0.0) -> datetime | None:
        [found] = await self.pool.fetch(queries.NEXT_WAKEUP, seconds_us(horizon), seconds_us(ahead))
        times = [t for t in found if t is not None]
        return from_micros(min(times)) if times else None

    async def create_runs(self, runs: Sequence[NewRun], *, actor: str) -> list[tuple[Run, bool]]:
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if not runs:
            return []

        runs = list(runs)
        if all(new.flow_id in (None, new.id) for new in runs):  # none joins a flow under way
            made = await self._create_at_once(runs, actor, None)
            if made is not None:
                return made

        async def body(conn: Conn) -> list[tuple[Run, bool]]:
            now_us = await conn.fetchval(queries.CLOCK)
            return await writes.insert_with_flows(conn, runs, actor, now_us)

        return await self.pool.tx(body)

    async def create_runs_of(
        self, job: Job, runs: Sequence[NewRun], *, actor: str
    ) -> list[tuple[Run, bool]]:
        runs = list(runs)
        for new in runs:  # all or nothing: check every run first
            check_transition(None, new.state)
        if runs and all(new.flow_id in (None, new.id) for new in runs):
            made = await self._create_at_once(runs, actor, job)
            if made is not None:
                return made
        return await super().create_runs_of(job, runs, actor=actor)

    async def _create_at_once(
        self, runs: list[NewRun], actor: str, job: Job | None
    ) -> list[tuple[Run, bool]] | None:
        """``create_runs`` in one statement, on the guess that no run starts a flow (their
        jobs have nothing downstream, as most jobs); None, having written nothing, when
        the guess was wrong or ``job`` is no longer the stored definition (the full path
        then says which)."""
        roots = sorted({new.job for new in runs if flows.starts_flow(new)})
        sent = flows.with_flows(runs, {})
        planned, rows, _ = plans.plan_inserts(sent, {}, {}, 0, actor)  # times: offsets
        args = columns(rows, len(queries.RUN_TYPES), text=queries.RUN_TEXT)
        definition: tuple[str | None, int | None, int | None] = (None, None, None)
        if job is not None:
            definition = (job.name, job.version, micros(job.created_at))
        [(now_us, downstream, ids, fresh)] = await self.pool.write(
            queries.INSERT_RUNS_NOW, *args, actor, roots, *definition
        )
        if downstream or not fresh:
            return None
        # Every run planned here is one of ``sent`` (nothing stored was consulted): its
        # times were offsets from the store's now, which is now known.
        now = from_micros(now_us)
        out = [(made_at(run, now), fresh) for run, fresh in planned]
        inserted = set(ids or ())
        if len(inserted) == len(rows):
            return out
        lost = [row.id for row in rows if row.id not in inserted]
        return await self.pool.run(lambda conn: writes.with_holders(conn, sent, out, lost))

    async def mark_published(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self.pool.write(queries.MARK_PUBLISHED, list(set(run_ids)))

    async def find_unpublished(
        self, *, older_than: float, republish_after: float, limit: int
    ) -> list[Run]:
        fresh, stale = seconds_us(older_than), seconds_us(republish_after)
        found = await self.pool.fetch(queries.FIND_UNPUBLISHED, fresh, stale, max(limit, 0))
        return [run_of(row) for row in found]

    async def fetch_queued(self, pools: Sequence[str], *, limit: int) -> list[Run]:
        pools = list(dict.fromkeys(pools))
        if not pools or limit <= 0:
            return []
        return [run_of(row) for row in await self.pool.fetch(queries.FETCH_QUEUED, pools, limit)]

    async def claim_runs(
        self, run_ids: Sequence[str], *, worker_id: str, lease: float
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        found = await self.pool.write(queries.CLAIM, ids, worker_id, seconds_us(lease))
        claimed = {run.id: run for run in map(run_of, found)}
        return [claimed[run_id] for run_id in ids if run_id in claimed]

    async def _claim_next(self, claim: Claim) -> list[Run]:
        found = await self.pool.write(queries.CLAIM_NEXT, *_claim_params(claim))
        if found[0][0]:  # none asked for cores or memory: claimed in that one statement
            return _claimed(found, 1)
        return await self._claim_fitting(claim)

    async def _claim_fitting(self, claim: Claim) -> list[Run]:
        """The claim as a transaction that fits runs asking for cores or memory to the room."""
        return await self.pool.tx(lambda cn: writes.claim_next(cn, *claim))

    async def _finish_and_claim(
        self, outcomes: list[Outcome], actor: str, claim: Claim
    ) -> tuple[list[bool], list[Run]]:
        legal = [o for o in outcomes if can_transition(RunState.RUNNING, o.target)]
        if not legal or len({o.run_id for o in outcomes}) < len(outcomes):
            return await super()._finish_and_claim(outcomes, actor, claim)
        args = (*_finish_now_args(legal), actor, *_claim_params(claim))
        found = await self.pool.write(queries.FINISH_CLAIM, *args)
        done = await self._finish_rest(legal, set(found[0][0] or ()), actor)
        if found[0][1]:  # none asked for cores or memory: claimed in that statement
            claimed = _claimed(found, 2)
        else:
            claimed = await self._claim_fitting(claim)
        return [o.run_id in done for o in outcomes], claimed

    async def _finish_rest(self, legal: list[Outcome], done: set[str], actor: str) -> set[str]:
        """After a one-statement finish that finished the runs ``done``: the other outcomes
        (a run in a flow, or one the statement refused) through the transaction, which
        settles flows and refuses again what fencing refuses. Returns every run finished."""
        left = [o for o in legal if o.run_id not in done]
        if left:
            rest = await self.pool.tx(lambda cn: writes.finish(cn, left, actor))
            done |= {o.run_id for o, ok in zip(left, rest, strict=True) if ok}
        return done

    async def heartbeat(
        self, worker_id: str, held: Sequence[tuple[str, int]], *, lease: float
    ) -> list[str]:
        ids, attempts = [i for i, _ in held], [n for _, n in held]
        args = (worker_id, len(held), ids, attempts, seconds_us(lease))
        return [run_id for (run_id,) in await self.pool.write(queries.HEARTBEAT, *args)]

    async def finish_runs(self, outcomes: Sequence[Outcome], *, actor: str) -> list[bool]:
        outcomes = list(outcomes)
        if not outcomes:
            return []
        if len({o.run_id for o in outcomes}) < len(outcomes):  # the first of two may win
            return await self.pool.tx(lambda cn: writes.finish(cn, outcomes, actor))
        # One statement for the runs outside flows (most); what it did not finish (a run in
        # a flow, or one it refused) goes through the transaction, which settles flows and
        # refuses again what fencing refuses.
        legal = [o for o in outcomes if can_transition(RunState.RUNNING, o.target)]
        done: set[str] = set()
        if legal:
            found = await self.pool.write(queries.FINISH_NOW, *_finish_now_args(legal), actor)
            done = {run_id for run_id, _ in found}
        done = await self._finish_rest(legal, done, actor)
        # done holds only legal outcomes' runs, and each run has one outcome here
        return [o.run_id in done for o in outcomes]

    async def expired_runs(self, *, limit: int) -> list[Run]:
        return [run_of(row) for row in await self.pool.fetch(queries.EXPIRED, max(limit, 0))]

    async def overdue_runs(self, *, grace: float, limit: int) -> list[Run]:
        found = await self.pool.fetch(queries.OVERDUE, float(grace), max(limit, 0))
        return [run_of(row) for row in found]

    async def cancel_runs(self, run_ids: Sequence[str], *, actor: str, reason: str) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []

        async def body(conn: Conn) -> list[Run]:
            found = {run.id: run for run in map(run_of, await conn.fetch(queries.RUNS_LOCK, ids))}
            runs = [found[run_id] for run_id in ids if run_id in found]
            return await writes.cancel(
                conn, runs, actor, reason, await conn.fetchval(queries.CLOCK)
            )

        return await self.pool.tx(body)

    async def fail_queued_runs(
        self, run_ids: Sequence[str], *, actor: str, error: ErrorInfo
    ) -> list[Run]:
        ids = list(dict.fromkeys(run_ids))
        if not ids:
            return []
        return await self.pool.tx(lambda cn: writes.fail_queued(cn, ids, actor, error))

    async def save_logs(self, logs: Sequence[tuple[str, int, str, str]]) -> None:
        if logs:
            await self.pool.write(queries.SAVE_LOGS, *columns(logs, 4, text=(2, 3)))


def made_at(run: Run, now: datetime) -> Run:
    """``run``, planned with its times (``queries.MADE_AT``) as offsets from 0, made at
    ``now``."""
    return replace(
        run,
        created_at=now,
        updated_at=now,
        queued_at=None if run.queued_at is None else now,
        finished_at=None if run.finished_at is None else now,
    )


def _finish_now_args(outcomes: Sequence[Outcome]) -> list[list[Any]]:
    """``FINISH_NOW``'s arrays ($1..$11), one row per outcome (``finish_change``'s rules)."""
    rows = []
    for out in outcomes:
        change = finish_change(out)
        delay = None if change.retry_delay is None else seconds_us(change.retry_delay)
        rows.append((
            out.run_id, out.attempt, change.target.value, change.attempt_state.value, delay,
            error_text(out.error), dumps_or_none(out.result), out.reason, out.stdout,
            out.stderr, out.require_expired,
        ))  # fmt: skip
    return columns(rows, 11, text=(5, 6, 7, 8, 9))


def _claimed(found: Sequence[Any], start: int) -> list[Run]:
    """The runs a one-statement claim returned (a run row from column ``start``; NULLs when
    none was claimed), in the order it chose them: ``UPDATE ... RETURNING`` has none."""
    runs = [run_of(tuple(row)[start:]) for row in found if row[start] is not None]
    return sorted(runs, key=lambda r: (-r.priority, r.queued_at or r.created_at, r.id))


def _claim_params(claim: Claim) -> tuple[list[str], int, list[str] | None, str, str, int]:
    """``CLAIM_NEXT``'s parameters (``FINISH_CLAIM``'s from ``$13``)."""
    types, labels = writes.claim_filter(claim.types, claim.labels)
    return claim.pools, claim.limit, types, labels, claim.worker_id, seconds_us(claim.lease)
