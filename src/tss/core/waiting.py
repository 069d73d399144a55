"""Why a queued run waits: the one rule the API, the CLI, the dashboard and the scheduler
share. Pure: it reads a run and the registered workers, nothing else.

A run can wait for good reasons (every worker that could take it is busy) or because no
live worker can ever take it: nobody serves its pool, nobody has its task type, nobody
that has it also has every label the run requires, or it asks for more cores or memory
than any of them has. Only the second kind is explained
here; the scheduler fails such a run after ``scheduler.unrunnable_after`` seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tss.core.models import Run, WorkerInfo
from tss.core.states import RunState

#: the error type of a run the scheduler failed because no live worker could take it
UNRUNNABLE = "Unrunnable"
#: the id prefix of workers outside TSS that report their status (``POST /v1/queue``):
#: they take no TSS runs, so they never make a run runnable
EXTERNAL_PREFIX = "ext:"


@dataclass(frozen=True, slots=True)
class Waiting:
    """Why a run waits. ``final`` is False when no worker is up at all: that is the whole
    deployment being down or redeployed, not the run asking for what nobody has, so the
    scheduler explains it but never fails the run for it."""

    reason: str
    final: bool = True


def _cores(value: float) -> str:
    return f"{value:g} core" + ("" if value == 1 else "s")


def why_waiting(run: Run, workers: Sequence[WorkerInfo]) -> Waiting | None:
    """Why ``run`` cannot be taken by any live worker (a TSS worker whose state is ``up``;
    workers outside TSS that only report their status take no runs), or None when it is
    not queued or some live worker could take it (when it has room).

    A worker could take a run when it serves the run's pool, has its task type and every
    label the run requires (its job's ``requires``), and has at least the cores and memory
    the run declares (a run asking for no memory fits any, as
    in :class:`tss.core.workers.Room`).
    """
    if run.state is not RunState.QUEUED:
        return None
    live = [w for w in workers if w.state == "up" and not w.id.startswith(EXTERNAL_PREFIX)]
    if not live:
        return Waiting("no worker is up: the run waits for one to start", final=False)
    pool = run.pool
    serving = [w for w in live if pool in w.pools]
    if not serving:
        return Waiting(f"no live worker serves pool {pool!r}")
    task_type = run.policy.type
    typed = [w for w in serving if task_type in w.task_types]
    if not typed:
        return Waiting(f"no live worker in pool {pool!r} has task type {task_type!r}")
    requires = run.policy.requires
    if requires:
        typed = [w for w in typed if set(requires).issubset(w.labels)]
        if not typed:
            labels = f"labels [{', '.join(requires)}]"
            if any(set(requires).issubset(w.labels) for w in serving):
                # Some have the labels, but not the task type: say both.
                return Waiting(
                    f"no live worker in pool {pool!r} has {labels} and task type {task_type!r}"
                )
            return Waiting(f"no live worker in pool {pool!r} has {labels}")
    cores, memory = run.policy.cores, run.policy.memory
    most_cores = max(w.cores for w in typed)
    if cores > most_cores + 1e-9:
        return Waiting(
            f"needs {_cores(cores)} but the largest live worker in pool {pool!r} has {most_cores:g}"
        )
    most_memory = max(w.memory for w in typed)
    if memory > 0 and memory > most_memory:
        return Waiting(
            f"needs {memory} MB of memory but the largest live worker in pool {pool!r} has "
            f"{most_memory} MB"
        )
    if not any(cores <= w.cores + 1e-9 and (memory == 0 or memory <= w.memory) for w in typed):
        return Waiting(
            f"needs {_cores(cores)} and {memory} MB of memory together, but no live worker "
            f"in pool {pool!r} has both"
        )
    return None
