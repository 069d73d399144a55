"""The wire shape of a run: every field of the core record, written as it always was, and
read back by the client into the same record."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from tss.api.schemas import EVENT_OUT, RUN_OUT, WORKER_OUT, EventOut, RunOut, WorkerOut
from tss.core.models import ErrorInfo, Event, RetryPolicy, Run, RunPolicy, WorkerInfo
from tss.core.states import RunState

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RUN = Run(
    id="0" * 32, job="j", state=RunState.FAILED, trigger="manual",
    params={"env": {"TOKEN": "secret"}, "x": 1}, priority=3, pool="default",
    policy=RunPolicy(type="shell", timeout=5.0, isolation="auto", retries=RetryPolicy(max=2),
                     depends_on=(("up", "success"),)),
    attempt=1, created_at=NOW, updated_at=NOW, error=ErrorInfo("Boom", "it broke", exit_code=2),
    handbacks=1,
)  # fmt: skip
#: the keys of a run as the API has always written them
KEYS = {
    "id", "job", "state", "trigger", "params", "priority", "pool", "policy", "attempt",
    "max_attempts", "handbacks", "created_at", "updated_at", "scheduled_for", "not_before",
    "queued_at", "started_at", "finished_at", "lease_until", "worker_id", "idempotency_key",
    "result", "error", "reason", "retry_of", "flow_id", "waiting_because", "attempts",
}  # fmt: skip


def test_a_run_is_written_as_before() -> None:
    data = RUN_OUT.dump_python(RunOut.of(RUN, reveal=False), mode="json")
    assert set(data) == KEYS
    assert data["policy"] == RUN.policy.to_dict()
    assert data["max_attempts"] == 4  # 2 retries + the first try + 1 hand-back
    assert data["error"] == {"type": "Boom", "message": "it broke", "traceback": None,
                             "exit_code": 2}  # fmt: skip
    assert data["params"]["env"]["TOKEN"] != "secret"
    assert data["state"] == "failed"
    assert data["created_at"] == "2026-11-23T10:00:00Z"


def test_every_field_of_a_run_is_on_the_wire() -> None:
    properties = RUN_OUT.json_schema(mode="serialization")["properties"]
    assert {f.name for f in dataclasses.fields(Run)} <= set(properties)


def test_the_client_reads_a_run_back_into_the_record() -> None:
    written = RUN_OUT.dump_python(RunOut.of(RUN, reveal=True), mode="json")
    read = RUN_OUT.validate_python(written)
    assert isinstance(read, Run)
    assert read.policy == RUN.policy
    assert read.error == RUN.error
    assert read.max_attempts == RUN.max_attempts
    assert {f.name: getattr(read, f.name) for f in dataclasses.fields(Run)} == {
        f.name: getattr(RUN, f.name) for f in dataclasses.fields(Run)
    }


def test_an_event_is_every_field_of_the_record() -> None:
    event = Event(7, NOW, "0" * 32, "j", RunState.QUEUED, RunState.RUNNING, "worker:w", None, 1)
    data = EVENT_OUT.dump_python(EventOut.of(event), mode="json")
    assert data == {"id": 7, "at": "2026-11-23T10:00:00Z", "run_id": "0" * 32, "job": "j",
                    "source": "queued", "target": "running", "actor": "worker:w",
                    "reason": None, "attempt": 1}  # fmt: skip


def test_a_worker_is_written_as_before() -> None:
    worker = WorkerInfo("w1", "host", 42, ["default"], ["shell"], 4, 2.0, 512, "0.1.0",
                        "up", NOW, NOW, running=1)  # fmt: skip
    data = WORKER_OUT.dump_python(WorkerOut.of(worker), mode="json")
    assert data == {
        "id": "w1", "hostname": "host", "pid": 42, "pools": ["default"], "task_types": ["shell"],
        "concurrency": 4, "running": 1, "load": 0.25, "cores": 2.0, "memory": 512,
        "version": "0.1.0", "state": "up", "started_at": "2026-11-23T10:00:00Z",
        "last_heartbeat": "2026-11-23T10:00:00Z", "labels": [],
    }  # fmt: skip
    assert WORKER_OUT.validate_python(data) == WorkerOut.of(worker)
