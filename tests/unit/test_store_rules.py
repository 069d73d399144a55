"""The rules every store calls, on their own: fencing, worker states, filters, named rows."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from tss.core.fencing import finish_change, holds, may_finish
from tss.core.models import Job, JobFilter, JobSpec, Outcome, RetryPolicy, Run, RunFilter, RunPolicy
from tss.core.states import RunState
from tss.core.workers import WORKER_STATES, worker_state
from tss.errors import ValidationError
from tss.store import encoding

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def outcome(target: RunState = RunState.SUCCEEDED, **fields: object) -> Outcome:
    return Outcome(run_id="r", attempt=2, target=target, **fields)  # type: ignore[arg-type]


def test_only_the_attempt_that_holds_a_running_run_may_finish_it() -> None:
    assert may_finish(RunState.RUNNING, 2, None, outcome(), NOW)
    assert may_finish("running", 2, None, outcome(), NOW)  # as a SQL row has it
    assert not may_finish(RunState.RUNNING, 3, None, outcome(), NOW)  # claimed again since
    assert not may_finish(RunState.CANCELLED, 2, None, outcome(), NOW)
    assert not may_finish(RunState.RUNNING, 2, None, outcome(RunState.SKIPPED), NOW)


def test_the_reaper_may_finish_only_once_the_lease_ran_out() -> None:
    reaped = outcome(RunState.FAILED, require_expired=True)
    assert not may_finish(RunState.RUNNING, 2, NOW + timedelta(seconds=1), reaped, NOW)
    assert may_finish(RunState.RUNNING, 2, NOW, reaped, NOW)
    assert may_finish(RunState.RUNNING, 2, 1_000, reaped, 1_000)  # microseconds work too
    assert not may_finish(RunState.RUNNING, 2, 1_001, reaped, 1_000)


def test_a_heartbeat_is_fenced_like_a_finish() -> None:
    assert holds(RunState.RUNNING, 2, 2)
    assert not holds(RunState.RUNNING, 2, 1)
    assert not holds(RunState.QUEUED, 2, 2)


def test_what_a_finish_changes() -> None:
    retried = finish_change(
        outcome(RunState.RETRYING, attempt_state=RunState.FAILED, retry_delay=5.0)
    )
    assert (retried.attempt_state, retried.retry_delay, retried.finished) == (
        RunState.FAILED,
        5.0,
        False,
    )
    handed_back = finish_change(outcome(RunState.QUEUED))
    assert handed_back.requeued and handed_back.retry_delay is None
    done = finish_change(outcome())
    assert done.finished and not done.requeued and done.attempt_state is RunState.SUCCEEDED


def test_a_worker_state_is_checked_in_one_place() -> None:
    assert worker_state("draining") == "draining"
    with pytest.raises(ValidationError) as refused:
        worker_state("asleep")
    assert refused.value.field == "state"
    assert str(refused.value) == (
        f"'asleep' is not a worker state: use one of {sorted(WORKER_STATES)}"
    )


def run(**fields: object) -> Run:
    policy = RunPolicy("noop", None, "auto", RetryPolicy())
    values: dict[str, object] = {
        "id": "r1", "job": "a", "state": RunState.QUEUED, "trigger": "manual", "params": {},
        "priority": 0, "pool": "default", "policy": policy, "attempt": 0, "created_at": NOW,
        "updated_at": NOW,
    }  # fmt: skip
    values.update(fields)
    return Run(**values)  # type: ignore[arg-type]


def test_a_run_filter_says_which_runs_it_selects() -> None:
    assert RunFilter().matches(run())
    assert RunFilter(job="a", states=(RunState.QUEUED,)).matches(run())
    assert not RunFilter(job="b").matches(run())
    assert not RunFilter(since=NOW + timedelta(seconds=1)).matches(run())
    assert RunFilter(until=NOW + timedelta(seconds=1)).matches(run())
    assert not RunFilter(until=NOW).matches(run())
    assert not RunFilter(flow_id="f").matches(run())


def test_a_job_filter_says_which_jobs_it_selects() -> None:
    spec = JobSpec(name="etl.load", type="noop", tags=["db"], pool="io", paused=True)
    job = Job(spec, NOW, NOW, None)

    def newest(name: str) -> RunState | None:
        return RunState.FAILED

    assert JobFilter().matches(job, newest)
    assert JobFilter(prefix="etl.", tag="db", pool="io", paused=True).matches(job, newest)
    assert JobFilter(last_state=RunState.FAILED).matches(job, newest)
    assert not JobFilter(last_state=RunState.SUCCEEDED).matches(job, newest)
    assert not JobFilter(tag="etl").matches(job, newest)
    assert not JobFilter(paused=False).matches(job, newest)


def test_the_run_decoder_takes_the_run_row_fields_in_order() -> None:
    names = list(inspect.signature(encoding._run_of).parameters)
    assert names == list(encoding.RunRow._fields)
