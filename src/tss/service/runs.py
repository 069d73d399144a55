"""Runs: trigger a job (``count`` runs at once), cancel, retry (a flow re-armed), a flow's
runs, cancelling a flow, waiting for runs to end, and running a job here and now.

Whoever commits a queued run publishes it (:meth:`tss.service.node.TSSApp.publish`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tss.core import flows
from tss.core.ids import new_id
from tss.core.merge import deep_merge
from tss.core.models import Job, NewRun, Run, RunFilter, RunPolicy
from tss.core.overrides import check_overrides
from tss.core.states import RunState
from tss.errors import Conflict, NotFound, ValidationError
from tss.service.base import NodeService
from tss.store.paging import collect
from tss.worker.inline import execute_inline

if TYPE_CHECKING:
    from tss.service.node import TSSApp

#: the most runs one trigger makes
MAX_COUNT = 10000
#: the longest ``delay`` a trigger takes (seconds: ten years)
MAX_DELAY = 10 * 365 * 86400.0


#: how many job definitions a node keeps to trigger from (each checked by the store when
#: the runs are made, so a kept one is never used once changed)
KEPT_JOBS = 4096
#: runs deleted in one step of the store by delete_history
HISTORY_BATCH = 500
#: the most run ids a trigger's audit entry lists (its count says how many were made)
AUDITED_IDS = 20


class Runs(NodeService):
    """What a node does to runs."""

    def __init__(self, node: TSSApp) -> None:
        super().__init__(node)
        #: the jobs this node triggered, as read: a trigger makes its runs from the kept
        #: definition and the store checks, in the same step, that it is still the stored
        #: one (:meth:`~tss.store.roles.RunStore.create_runs_of`): one round trip fewer
        self._jobs: dict[str, Job] = {}

    async def _job(self, name: str, *, fresh: bool = False) -> Job:
        job = None if fresh else self._jobs.get(name)
        if job is None:
            self._jobs.pop(name, None)
            job = await self._store.get_job(name)
            if len(self._jobs) >= KEPT_JOBS:
                self._jobs.pop(next(iter(self._jobs)))
            self._jobs[name] = job
        return job

    async def trigger(
        self,
        name: str,
        *,
        params: dict[str, Any] | None = None,
        count: int = 1,
        run_at: datetime | None = None,
        delay: float | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
        actor: str = "user",
        with_descendants: bool | None = None,
        publish: bool = True,
    ) -> list[tuple[Run, bool]]:
        """Create ``count`` manual runs of a job now (or at ``run_at``, or ``delay`` seconds
        from now by the store's clock); True when created, False when ``idempotency_key``
        found an existing run.

        A run of a job that depends on none starts a flow (its dependants wait for it); a
        job that depends on others runs alone unless ``with_descendants`` (which may also be
        False to run a root job alone). The queued runs are published to the broker at once,
        unless ``publish`` is False (the caller takes them itself).

        :raises NotFound: no such job.
        :raises ValidationError: ``count``, ``priority``, ``delay`` or ``params`` out of
            bounds, or both ``run_at`` and ``delay``.
        """
        if count < 1 or count > MAX_COUNT:
            raise ValidationError(f"count must be between 1 and {MAX_COUNT}", field="count")
        if priority is not None and not 0 <= priority <= 9:
            raise ValidationError("priority must be between 0 and 9", field="priority")
        if delay is not None:
            if run_at is not None:
                raise ValidationError("give run_at or delay, not both", field="delay")
            if not 0 <= delay <= MAX_DELAY:
                raise ValidationError(
                    f"delay must be between 0 and {MAX_DELAY:g} seconds", field="delay"
                )
            run_at = await self._store.now() + timedelta(seconds=delay)
        # The store's clock only when a time is given (a round trip saved on every other).
        later = run_at is not None and run_at > await self._store.now()

        def runs_of(job: Job) -> list[NewRun]:
            flow = not job.spec.depends_on if with_descendants is None else with_descendants
            merged = job.spec.params
            if params:
                check_overrides(params, job.spec.overridable, job=name)
                merged = deep_merge(job.spec.params, params)
                merged = self._node.registry.get(job.spec.type).validate(merged)
            policy = RunPolicy.of(job.spec)
            return [
                NewRun(
                    id=run_id,
                    job=name,
                    state=RunState.SCHEDULED if later else RunState.QUEUED,
                    trigger="manual",
                    params=merged,
                    priority=job.spec.priority if priority is None else priority,
                    pool=job.spec.pool,
                    policy=policy,
                    not_before=run_at if later else None,
                    idempotency_key=idempotency_key if count == 1 else None,
                    reason="triggered by hand",
                    flow_id=run_id if flow else None,
                )
                for run_id in (new_id() for _ in range(count))
            ]

        kept = name in self._jobs
        job = await self._job(name)
        try:
            created = await self._store.create_runs_of(job, runs_of(job), actor=actor)
        except (NotFound, Conflict) as exc:
            if not kept or (isinstance(exc, Conflict) and exc.field != "version"):
                raise
            # The kept definition changed or went: read it again, once.
            job = await self._job(name, fresh=True)
            created = await self._store.create_runs_of(job, runs_of(job), actor=actor)
        made = [r for r, new in created if new]
        if publish:
            await self._node.publish(made)
        if made:  # after the publish: the log must not delay the run
            details = {"runs": [r.id for r in made[:AUDITED_IDS]], "count": len(made)}
            await self._node.audit.record_all(
                actor, [("run.trigger", name, details)], at=made[0].created_at
            )
        return created

    async def cancel(self, run_id: str, *, actor: str = "user") -> Run:
        """Cancel a run that has not ended (a running one is stopped at its next heartbeat).

        :raises NotFound: no such run.
        :raises Conflict: it has ended already.
        """
        run = await self._store.get_run(run_id)
        if run.state.terminal:
            raise Conflict(f"run {run_id} already ended ({run.state.value})", field="state")
        await self._store.cancel_runs([run_id], actor=actor, reason=f"cancelled by {actor}")
        await self._node.audit.record(actor, "run.cancel", run_id, job=run.job)
        return await self._store.get_run(run_id)

    async def retry(self, run_id: str, *, actor: str = "user") -> Run:
        """Run an ended run again as a new run (``retry_of`` links them). In a flow, the new
        run takes the old one's place, and the jobs downstream of it that were skipped wait
        again, so the flow decides them once the new run ends.

        :raises NotFound: no such run.
        :raises Conflict: it has not ended, or a newer run replaced it in its flow.
        """
        old = await self._store.get_run(run_id)
        if not old.state.terminal:
            raise Conflict(
                f"run {run_id} is still {old.state.value}; only ended runs can be retried",
                field="state",
            )
        again = await self._rearmed(old) if old.flow_id is not None else []
        new = _run_again(
            old, state=RunState.QUEUED, trigger="retry", reason=f"retry of run {old.id}"
        )
        (run, _), *_ = await self._store.create_runs([new, *again], actor=actor)
        await self._node.publish([run])
        await self._node.audit.record_all(  # after the publish: the log must not delay the run
            actor, [("run.retry", run_id, {"job": old.job, "run": run.id})], at=run.created_at
        )
        return run

    async def _rearmed(self, old: Run) -> list[NewRun]:
        """The runs downstream of ``old`` in its flow that were skipped, made to wait again."""
        assert old.flow_id is not None
        members = await self.flow_runs(old.flow_id)
        current = flows.current_runs(flows.FlowRun.of(r) for r in members)
        if current.get(old.job) is None or current[old.job].id != old.id:
            raise Conflict(
                f"run {old.id} was re-run already in its flow; re-run the newest one",
                field="run_id",
            )
        by_id = {r.id: r for r in members}
        again: list[NewRun] = []
        for skipped in flows.rearm(list(current.values()), current[old.job]):
            again.append(
                _run_again(
                    by_id[skipped.id],
                    state=RunState.WAITING,
                    trigger="flow",
                    reason=f"waits again: run {old.id} is re-run",
                )
            )
        return again

    async def flow_runs(self, flow_id: str) -> list[Run]:
        """Every run of a flow, oldest first (the flow's id is the id of the run that
        started it).

        :raises NotFound: no such flow.
        """
        runs: list[Run] = await collect(
            lambda size, cursor: self._store.list_runs(
                RunFilter(flow_id=flow_id), limit=size, cursor=cursor
            ),
            page_size=1000,
        )
        if not runs:
            raise NotFound(f"no flow with id {flow_id!r}", field="flow_id")
        return flows.in_flow_order(runs, flow_id)

    async def cancel_flow(self, flow_id: str, *, actor: str = "user") -> list[Run]:
        """Cancel every run of a flow that has not ended (waiting, queued, running...) in
        one step; returns the runs cancelled.

        :raises NotFound: no such flow.
        """
        runs = await self.flow_runs(flow_id)
        live = [r.id for r in runs if not r.state.terminal]
        cancelled = await self._store.cancel_runs(
            live, actor=actor, reason=f"flow {flow_id} cancelled by {actor}"
        )
        await self._node.audit.record(actor, "flow.cancel", flow_id, count=len(cancelled))
        return cancelled

    async def cancel_not_started(self, job: str, *, actor: str = "user") -> list[Run]:
        """Cancel the runs of ``job`` that have not started (scheduled, waiting, queued,
        retrying) in one step; returns the runs cancelled."""
        waiting = (RunState.SCHEDULED, RunState.WAITING, RunState.QUEUED, RunState.RETRYING)
        runs: list[Run] = await collect(
            lambda size, cursor: self._store.list_runs(
                RunFilter(job=job, states=waiting), limit=size, cursor=cursor
            )
        )
        if not runs:
            return []
        return await self._store.cancel_runs(
            [r.id for r in runs], actor=actor, reason=f"job {job!r} cancelled by {actor}"
        )

    async def delete_history(self, job: str, *, ended_before: datetime | None = None) -> int:
        """Delete the ended runs of ``job`` (that ended before ``ended_before``) with their
        attempts, logs and events, in short steps of :data:`HISTORY_BATCH` runs, so that
        firing and claiming go on in between; returns how many. Runs of a flow still going
        stay (:meth:`~tss.store.roles.HistoryStore.delete_ended_runs`)."""
        deleted = 0
        while True:
            step = await self._store.delete_ended_runs(
                job, limit=HISTORY_BATCH, ended_before=ended_before
            )
            deleted += step
            if step < HISTORY_BATCH:
                return deleted

    async def wait(
        self, run_ids: Sequence[str], *, timeout: float | None = None, poll: float = 0.2
    ) -> list[Run]:
        """Wait until every run is terminal (or ``timeout``); return them as they are."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            runs = [await self._store.get_run(i) for i in run_ids]
            if all(r.state.terminal for r in runs):
                return runs
            if deadline is not None and loop.time() >= deadline:
                return runs
            await asyncio.sleep(poll)

    async def execute_now(
        self, name: str, *, params: dict[str, Any] | None = None, actor: str = "user"
    ) -> Run:
        """Run a job here and now, outside its schedule, retries included; return the run."""
        # Not published: a worker elsewhere would race this process for the run.
        ((run, _),) = await self.trigger(name, params=params, publish=False, actor=actor)
        worker = self._node.settings.worker
        return await execute_inline(
            self._store,
            self._node.registry,
            run,
            log_limit=worker.log_limit,
            result_limit=worker.result_limit,
            default_timeout=worker.default_timeout,
        )


def _run_again(
    prior: Run, *, state: RunState, trigger: Literal["retry", "flow"], reason: str
) -> NewRun:
    """A new run of what ``prior`` ran (job, params, priority, pool, policy), linked to it by
    ``retry_of`` and in its flow."""
    return NewRun(
        id=new_id(),
        job=prior.job,
        state=state,
        trigger=trigger,
        params=prior.params,
        priority=prior.priority,
        pool=prior.pool,
        policy=prior.policy,
        reason=reason,
        retry_of=prior.id,
        flow_id=prior.flow_id,
    )
