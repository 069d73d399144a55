"""Retry math and the failure decision."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tss.core.models import ErrorInfo, RetryPolicy
from tss.core.retry import decide_failure, is_retryable, retry_delay
from tss.core.states import RunState

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BOOM = ErrorInfo("ValueError", "boom")


def test_fixed_backoff_is_constant() -> None:
    policy = RetryPolicy(max=5, delay=7, backoff="fixed")
    assert [retry_delay(policy, n) for n in range(1, 5)] == [7, 7, 7, 7]


def test_exponential_backoff_doubles_and_caps() -> None:
    policy = RetryPolicy(max=10, delay=2, backoff="exponential", max_delay=20)
    assert [retry_delay(policy, n) for n in range(1, 6)] == [2, 4, 8, 16, 20]


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = RetryPolicy(max=1000, delay=1, backoff="exponential", max_delay=60)
    assert retry_delay(policy, 1000) == 60


@given(st.integers(1, 50), st.floats(0, 100), st.floats(0, 30), st.integers(0, 2**32))
def test_jitter_stays_within_bounds(attempt: int, delay: float, jitter: float, seed: int) -> None:
    policy = RetryPolicy(max=60, delay=delay, jitter=jitter, max_delay=500)
    base = retry_delay(RetryPolicy(max=60, delay=delay, max_delay=500), attempt)
    got = retry_delay(policy, attempt, random.Random(seed))
    assert base <= got <= base + jitter


def test_retry_on_matches_names_and_exit_codes() -> None:
    policy = RetryPolicy(max=3, retry_on=["ConnectionError", 75])
    assert is_retryable(policy, ErrorInfo("ConnectionError", "x"))
    assert is_retryable(policy, ErrorInfo("myapp.errors.ConnectionError", "x"))
    assert is_retryable(policy, ErrorInfo("ShellCommandFailed", "x", exit_code=75))
    assert not is_retryable(policy, ErrorInfo("ShellCommandFailed", "x", exit_code=1))
    assert not is_retryable(policy, ErrorInfo("ValueError", "x"))
    assert is_retryable(RetryPolicy(max=1), ErrorInfo("Anything", "x"))


def test_decide_failure_retries_until_tries_run_out() -> None:
    policy = RetryPolicy(max=2, delay=10, backoff="fixed")
    first = decide_failure(policy, 1, BOOM)
    assert first.target is RunState.RETRYING
    assert first.attempt_state is RunState.FAILED
    assert first.delay == 10
    assert decide_failure(policy, 2, BOOM).target is RunState.RETRYING
    last = decide_failure(policy, 3, BOOM)
    assert last.target is RunState.FAILED
    assert last.delay is None
    assert "no tries left" in last.reason


def test_timeouts_end_timed_out_after_retries() -> None:
    policy = RetryPolicy(max=1, delay=0)
    timeout = ErrorInfo("TimeoutError", "too slow")
    retried = decide_failure(policy, 1, timeout, timed_out=True)
    assert (retried.target, retried.attempt_state) == (RunState.RETRYING, RunState.TIMED_OUT)
    final = decide_failure(policy, 2, timeout, timed_out=True)
    assert final.target is RunState.TIMED_OUT


def test_not_retryable_error_fails_at_once() -> None:
    policy = RetryPolicy(max=5, retry_on=["IOError"])
    decision = decide_failure(policy, 1, BOOM)
    assert decision.target is RunState.FAILED
    assert "not in retry_on" in decision.reason
