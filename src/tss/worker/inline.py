"""Run one run here and now, in this process: what ``tss job run --now`` and
:meth:`tss.service.runs.Runs.execute_now` do instead of waiting for a worker.

The run is claimed like a worker claims it (the attempt number fences its outcome), its
retries are waited for and promoted here, and the run is returned once it has ended.
"""

from __future__ import annotations

import asyncio
import os
import random

from tss.core.models import Run
from tss.core.states import RunState
from tss.store.base import Store
from tss.tasks.registry import TaskRegistry
from tss.worker.attempt import run_attempt
from tss.worker.capture import install_routing

#: how long an inline claim holds its lease (seconds): nobody else is meant to take the run
LEASE = 3600


async def execute_inline(
    store: Store,
    registry: TaskRegistry,
    run: Run,
    *,
    log_limit: int,
    result_limit: int,
    default_timeout: float | None = None,
) -> Run:
    """Claim and execute ``run`` (created queued and not published) until it ends, its
    retries included; return it as it ended. ``default_timeout`` as in :func:`run_attempt`."""
    install_routing()
    worker_id = f"execute-{os.getpid()}"
    rng = random.Random()
    while True:
        claimed = await store.claim_runs([run.id], worker_id=worker_id, lease=LEASE)
        if claimed:
            current = claimed[0]
            outcome = await run_attempt(
                current,
                registry.get(current.policy.type),
                worker_id=worker_id,
                log_limit=log_limit,
                result_limit=result_limit,
                rng=rng,
                default_timeout=default_timeout,
            )
            await store.finish_runs([outcome], actor=f"worker:{worker_id}")
        current = await store.get_run(run.id)
        if current.state.terminal:
            return current
        if current.state is RunState.RETRYING and current.not_before is not None:
            delay = (current.not_before - await store.now()).total_seconds()
            await asyncio.sleep(max(delay, 0) + 0.01)
            await store.promote_due_runs(limit=1000, actor=f"worker:{worker_id}")
        else:
            await asyncio.sleep(0.1)
