"""Finishing attempts: outcomes, fencing, retries, illegal transitions, logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tss.core.models import ErrorInfo
from tss.core.retry import failure_outcome
from tss.core.states import RunState
from tss.errors import Conflict, NotFound, ValidationError
from tss.store.base import Store

from .support import ACTOR, error, outcome, queued, running, seconds


async def test_success_is_recorded_on_run_and_attempt(store: Store) -> None:
    run = await running(store)
    done = outcome(run, result={"rows": 3}, stdout="hello\n", stderr="warn\n", reason="ok")
    assert await store.finish_runs([done], actor="w1") == [True]
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.SUCCEEDED
    assert fetched.result == {"rows": 3}
    assert fetched.finished_at is not None
    assert fetched.error is None
    [attempt] = await store.list_attempts(run.id)
    assert attempt.state is RunState.SUCCEEDED
    assert attempt.finished_at is not None
    assert attempt.result == {"rows": 3}
    assert (attempt.stdout, attempt.stderr) == ("hello\n", "warn\n")
    assert await store.get_logs(run.id) == ("hello\n", "warn\n")


async def test_failure_keeps_the_error(store: Store) -> None:
    run = await running(store)
    info = ErrorInfo("ValueError", "bad input", "Traceback ...", exit_code=2)
    ok = await store.finish_runs(
        [outcome(run, RunState.FAILED, error=info, reason="attempt 1 of 1 failed")], actor="w1"
    )
    assert ok == [True]
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.FAILED
    assert fetched.error == info
    assert fetched.reason == "attempt 1 of 1 failed"
    [attempt] = await store.list_attempts(run.id)
    assert (attempt.state, attempt.error) == (RunState.FAILED, info)


async def test_a_stale_attempt_cannot_finish_the_run(
    store: Store, advance: Callable[[float], None]
) -> None:
    run = await running(store, worker="w1", lease=0.1, retries=1)
    advance(0.2)
    # the reaper retries the expired attempt 1 and worker w2 claims attempt 2
    reaped = outcome(
        run, RunState.RETRYING, error=error("lease expired"), attempt_state=RunState.FAILED,
        require_expired=True,
    )  # fmt: skip
    assert await store.finish_runs([reaped], actor="reaper") == [True]
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler")
    [second] = await store.claim_runs([promoted.id], worker_id="w2", lease=30)
    assert second.attempt == 2
    before = await store.get_run(run.id)
    events_before = await store.list_events()
    # the frozen worker w1 wakes up and reports attempt 1
    late = outcome(run, RunState.SUCCEEDED, result="late", stdout="late")
    assert late.attempt == 1
    assert await store.finish_runs([late], actor="w1") == [False]
    assert await store.get_run(run.id) == before
    assert await store.list_events() == events_before
    attempts = await store.list_attempts(run.id)
    assert [(a.number, a.state) for a in attempts] == [
        (1, RunState.FAILED),
        (2, RunState.RUNNING),
    ]
    assert attempts[0].stdout == ""
    # the current attempt still can
    assert await store.finish_runs([outcome(second)], actor="w2") == [True]


async def test_an_attempt_number_that_never_was_is_refused(store: Store) -> None:
    run = await running(store)
    future = outcome(run)
    future.attempt = 2
    assert await store.finish_runs([future], actor="w1") == [False]
    assert (await store.get_run(run.id)).state is RunState.RUNNING


async def test_the_reaper_cannot_end_a_run_whose_lease_is_live(
    store: Store, advance: Callable[[float], None]
) -> None:
    run = await running(store, lease=0.2)
    reap = outcome(run, RunState.FAILED, error=error("lease"), require_expired=True)
    assert await store.finish_runs([reap], actor="reaper") == [False]
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.RUNNING
    assert len(await store.list_events(run_id=run.id)) == 2
    advance(0.3)
    assert await store.finish_runs([reap], actor="reaper") == [True]
    assert (await store.get_run(run.id)).state is RunState.FAILED


async def test_a_late_heartbeat_wins_over_the_reaper(
    store: Store, advance: Callable[[float], None]
) -> None:
    run = await running(store, lease=0.1)
    advance(0.2)
    assert [r.id for r in await store.expired_runs(limit=5)] == [run.id]
    assert await store.heartbeat("w1", [(run.id, 1)], lease=30) == []
    reap = outcome(run, RunState.FAILED, error=error("lease"), require_expired=True)
    assert await store.finish_runs([reap], actor="reaper") == [False]
    assert (await store.get_run(run.id)).state is RunState.RUNNING


async def test_retry_path_runs_a_second_attempt(
    store: Store, advance: Callable[[float], None]
) -> None:
    run = await running(store, retries=2)
    now = await store.now()
    retry = outcome(
        run, RunState.RETRYING, error=error("flaky"), attempt_state=RunState.FAILED,
        retry_delay=0.2, reason="attempt 1 of 3 failed; retrying",
    )  # fmt: skip
    assert await store.finish_runs([retry], actor="w1") == [True]
    after = await store.now()
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.RETRYING
    # The delay counts from the store's clock when it records the outcome.
    assert fetched.not_before is not None
    assert now + seconds(0.2) <= fetched.not_before <= after + seconds(0.2)
    assert fetched.finished_at is None
    assert fetched.error is not None and fetched.error.message == "flaky"
    assert await store.promote_due_runs(limit=10, actor="scheduler") == []
    assert await store.claim_runs([run.id], worker_id="w2", lease=30) == []  # not queued yet
    advance(0.3)
    [promoted] = await store.promote_due_runs(limit=10, actor="scheduler")
    assert (promoted.id, promoted.state) == (run.id, RunState.QUEUED)
    [second] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    assert (second.state, second.attempt, second.worker_id) == (RunState.RUNNING, 2, "w2")
    assert await store.finish_runs([outcome(second, stdout="2nd")], actor="w2") == [True]
    final = await store.get_run(run.id)
    assert (final.state, final.attempt) == (RunState.SUCCEEDED, 2)
    attempts = await store.list_attempts(run.id)
    assert [(a.number, a.state, a.worker_id) for a in attempts] == [
        (1, RunState.FAILED, "w1"),
        (2, RunState.SUCCEEDED, "w2"),
    ]


async def test_hand_back_requeues_the_run(store: Store) -> None:
    run = await running(store)
    await store.mark_published([run.id])
    assert await store.finish_runs([outcome(run, RunState.QUEUED)], actor="w1") == [True]
    fetched = await store.get_run(run.id)
    assert fetched.state is RunState.QUEUED
    assert fetched.lease_until is None
    assert [r.id for r in await store.fetch_queued(["default"], limit=5)] == [run.id]
    [again] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    assert again.attempt == 2


async def test_terminal_runs_cannot_be_finished_again(store: Store) -> None:
    run = await running(store)
    assert await store.finish_runs([outcome(run)], actor="w1") == [True]
    events = await store.list_events()
    again = outcome(run, RunState.FAILED, error=error())
    assert await store.finish_runs([again], actor="w1") == [False]
    assert await store.finish_runs([outcome(run)], actor="w1") == [False]
    assert (await store.get_run(run.id)).state is RunState.SUCCEEDED
    assert await store.list_events() == events


async def test_runs_that_are_not_running_cannot_be_finished(store: Store) -> None:
    [run] = await queued(store)
    assert await store.finish_runs([outcome(run)], actor="w1") == [False]
    missing = outcome(run)
    missing.run_id = "0" * 32
    assert await store.finish_runs([missing], actor="w1") == [False]
    assert (await store.get_run(run.id)).state is RunState.QUEUED


async def test_a_target_the_state_machine_forbids_is_refused(store: Store) -> None:
    run = await running(store)
    refused = [outcome(run, RunState.SKIPPED), outcome(run, RunState.SCHEDULED)]
    for out in refused:
        try:
            accepted = await store.finish_runs([out], actor="w1")
        except (Conflict, ValidationError):
            pass  # refusing loudly is fine too
        else:
            assert accepted == [False]
    assert (await store.get_run(run.id)).state is RunState.RUNNING


async def test_one_batch_many_outcomes(store: Store) -> None:
    a = await running(store)
    b = await running(store)
    results = await store.finish_runs(
        [outcome(a), outcome(b, RunState.FAILED, error=error()), outcome(a)], actor="w1"
    )
    assert results == [True, True, False]
    assert (await store.get_run(a.id)).state is RunState.SUCCEEDED
    assert (await store.get_run(b.id)).state is RunState.FAILED


async def test_logs_are_kept_per_attempt(store: Store) -> None:
    run = await running(store, retries=1)
    first = outcome(
        run, RunState.RETRYING, error=error(), attempt_state=RunState.FAILED,
        retry_delay=0.0, stdout="one-out", stderr="one-err",
    )  # fmt: skip
    await store.finish_runs([first], actor="w1")
    await store.promote_due_runs(limit=5, actor="scheduler")
    [second] = await store.claim_runs([run.id], worker_id="w1", lease=30)
    await store.finish_runs([outcome(second, stdout="two-out", stderr="")], actor="w1")
    assert await store.get_logs(run.id, 1) == ("one-out", "one-err")
    assert await store.get_logs(run.id, 2) == ("two-out", "")
    assert await store.get_logs(run.id) == ("two-out", "")
    with pytest.raises(NotFound):
        await store.get_logs(run.id, 3)


async def test_actor_of_a_finish_is_recorded(store: Store) -> None:
    run = await running(store)
    await store.finish_runs([outcome(run)], actor="worker-7")
    events = await store.list_events(run_id=run.id)
    assert events[-1].actor == "worker-7"
    assert events[-1].source is RunState.RUNNING
    assert events[-1].target is RunState.SUCCEEDED
    assert events[0].actor == ACTOR


@pytest.mark.parametrize(
    ("retries", "after_failure"), [(0, RunState.FAILED), (1, RunState.RETRYING)]
)
async def test_a_hand_back_does_not_use_up_a_try(
    store: Store, retries: int, after_failure: RunState
) -> None:
    run = await running(store, retries=retries)
    back = outcome(run, RunState.QUEUED, attempt_state=RunState.CANCELLED, reason="handed back")
    assert await store.finish_runs([back], actor="w1") == [True]
    returned = await store.get_run(run.id)
    assert (returned.state, returned.handbacks) == (RunState.QUEUED, 1)
    assert returned.max_attempts == retries + 2
    [again] = await store.claim_runs([run.id], worker_id="w2", lease=30)
    assert (again.attempt, again.handbacks) == (2, 1)  # the fencing token still moves on
    failed = failure_outcome(again, ErrorInfo("RuntimeError", "boom"))
    assert failed.target is after_failure
    assert await store.finish_runs([failed], actor="w2") == [True]
    assert (await store.get_run(run.id)).state is after_failure


async def test_output_saved_while_running_is_readable_and_final_logs_win(store: Store) -> None:
    run = await running(store)
    await store.save_logs([(run.id, run.attempt, "line 1\n", "")])
    assert await store.get_logs(run.id) == ("line 1\n", "")
    await store.save_logs([(run.id, run.attempt, "line 1\nline 2\n", "warn\n")])
    assert await store.get_logs(run.id) == ("line 1\nline 2\n", "warn\n")
    done = outcome(run, stdout="line 1\nline 2\nline 3\n", stderr="warn\n")
    assert await store.finish_runs([done], actor="w1") == [True]
    # A save that arrives after the outcome (a heartbeat racing the finish) changes nothing.
    await store.save_logs([(run.id, run.attempt, "line 1\n", "")])
    assert await store.get_logs(run.id) == ("line 1\nline 2\nline 3\n", "warn\n")
    # Unknown runs and attempts are ignored.
    await store.save_logs([("no-such-run", 1, "x", "y"), (run.id, 7, "x", "y")])
