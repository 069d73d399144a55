"""The rule that says why a queued run waits (tss.core.waiting)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tss.core.models import RetryPolicy, Run, RunPolicy, WorkerInfo
from tss.core.states import RunState
from tss.core.waiting import Waiting, why_waiting

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def run(
    *, pool: str = "default", type: str = "noop", cores: float = 0.0, memory: int = 0,
    state: RunState = RunState.QUEUED, requires: tuple[str, ...] = (),
) -> Run:  # fmt: skip
    policy = RunPolicy(type=type, timeout=None, isolation="auto", retries=RetryPolicy(),
                       cores=cores, memory=memory, requires=requires)  # fmt: skip
    return Run(id="r1", job="j", state=state, trigger="manual", params={}, priority=0,
               pool=pool, policy=policy, attempt=0, created_at=NOW, updated_at=NOW)  # fmt: skip


def worker(name: str = "w1", **fields: Any) -> WorkerInfo:
    values: dict[str, Any] = {
        "hostname": "h", "pid": 1, "pools": ["default"], "task_types": ["noop", "python"],
        "concurrency": 4, "cores": 4.0, "memory": 4096, "version": "1",
    }  # fmt: skip
    return WorkerInfo(id=name, **{**values, **fields})


def test_a_run_some_live_worker_can_take_has_no_reason() -> None:
    assert why_waiting(run(cores=4, memory=4096), [worker()]) is None
    assert why_waiting(run(memory=0), [worker(memory=0)]) is None  # no memory asked: fits


@pytest.mark.parametrize("state", [s for s in RunState if s is not RunState.QUEUED])
def test_only_a_queued_run_waits_for_a_worker(state: RunState) -> None:
    assert why_waiting(run(pool="gpu", state=state), [worker()]) is None


def test_no_worker_up_is_explained_but_not_final() -> None:
    expected = Waiting("no worker is up: the run waits for one to start", final=False)
    assert why_waiting(run(), []) == expected
    assert why_waiting(run(), [worker(state="dead"), worker("w2", state="draining")]) == expected


def test_a_worker_outside_tss_takes_no_runs() -> None:
    reported = worker("ext:seed-1")  # a status report through POST /v1/queue
    assert why_waiting(run(), [reported]) == Waiting(
        "no worker is up: the run waits for one to start", final=False
    )


def test_a_pool_nobody_live_serves() -> None:
    found = why_waiting(run(pool="gpu"), [worker(), worker("w2", pools=["gpu"], state="dead")])
    assert found == Waiting("no live worker serves pool 'gpu'")


def test_a_task_type_no_live_worker_in_the_pool_has() -> None:
    found = why_waiting(
        run(type="http"), [worker(), worker("w2", pools=["x"], task_types=["http"])]
    )
    assert found == Waiting("no live worker in pool 'default' has task type 'http'")


def test_more_cores_than_the_largest_worker() -> None:
    found = why_waiting(run(cores=8), [worker(cores=4), worker("w2", cores=2)])
    assert found == Waiting("needs 8 cores but the largest live worker in pool 'default' has 4")
    assert why_waiting(run(cores=1), [worker(cores=0.5)]) == Waiting(
        "needs 1 core but the largest live worker in pool 'default' has 0.5"
    )


def test_more_memory_than_the_largest_worker() -> None:
    found = why_waiting(run(memory=8192), [worker(memory=4096)])
    assert found == Waiting(
        "needs 8192 MB of memory but the largest live worker in pool 'default' has 4096 MB"
    )


def test_cores_and_memory_must_be_on_one_worker() -> None:
    workers = [worker(cores=8, memory=1024), worker("w2", cores=1, memory=8192)]
    assert why_waiting(run(cores=4, memory=4096), workers) == Waiting(
        "needs 4 cores and 4096 MB of memory together, but no live worker in pool 'default' "
        "has both"
    )
    assert why_waiting(run(cores=4, memory=1024), workers) is None


def test_labels_no_live_worker_of_the_pool_has() -> None:
    gpu_elsewhere = worker("w2", pools=["other"], labels=["gpu", "region=eu"])
    dead = worker("w3", labels=["gpu", "region=eu"], state="dead")
    only_gpu = worker("w4", labels=["gpu"])
    found = why_waiting(
        run(requires=("gpu", "region=eu")), [worker(), gpu_elsewhere, dead, only_gpu]
    )
    assert found == Waiting("no live worker in pool 'default' has labels [gpu, region=eu]")


def test_labels_only_workers_without_the_task_type_have() -> None:
    labelled = worker("w2", labels=["gpu"], task_types=["python"])
    found = why_waiting(run(requires=("gpu",)), [worker(), labelled])
    assert found == Waiting(
        "no live worker in pool 'default' has labels [gpu] and task type 'noop'"
    )


def test_a_worker_with_the_labels_and_more_can_take_the_run() -> None:
    assert why_waiting(run(requires=("gpu",)), [worker(labels=["ssd", "gpu"])]) is None
    assert why_waiting(run(), [worker(labels=["gpu"])]) is None  # none required: any worker


def test_resources_are_weighed_among_the_workers_with_the_labels() -> None:
    big = worker("big", cores=16.0)  # no labels: cannot take the run at all
    small = worker("small", cores=2.0, labels=["gpu"])
    found = why_waiting(run(requires=("gpu",), cores=8), [big, small])
    assert found == Waiting("needs 8 cores but the largest live worker in pool 'default' has 2")
