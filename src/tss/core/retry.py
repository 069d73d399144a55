"""Retry policy: whether a failed attempt is retried, and after how long."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from tss.core.models import ErrorInfo, Outcome, RetryPolicy, Run
from tss.core.states import RunState

#: error type recorded when an attempt outlives its job's timeout
TIMEOUT_ERROR = "TimeoutError"
#: error type recorded when a worker stopped heartbeating while holding a run
LEASE_EXPIRED = "LeaseExpired"


def retry_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after attempt number ``attempt`` (1-based) failed.

    ``fixed`` waits ``delay`` each time; ``exponential`` doubles it per attempt. Either is
    capped at ``max_delay``, then up to ``jitter`` random seconds are added.
    """
    if policy.backoff == "exponential":
        # Cap the exponent: 2**1000 overflows a float long before max_delay matters.
        base = policy.delay * (2.0 ** min(attempt - 1, 62))
    else:
        base = policy.delay
    delay = min(base, policy.max_delay)
    if policy.jitter > 0:
        delay += (rng or random).uniform(0, policy.jitter)
    return delay


def is_retryable(policy: RetryPolicy, error: ErrorInfo | None, *, final: bool = False) -> bool:
    """Whether ``error`` is one the policy retries: any error when ``retry_on`` is empty,
    but a ``final`` one (the task says trying again cannot help) only when named."""
    if not policy.retry_on:
        return not final
    if error is None:
        return False
    names = {error.type, error.type.rsplit(".", 1)[-1]}
    for entry in policy.retry_on:
        if isinstance(entry, int):
            if error.exit_code == entry:
                return True
        elif entry in names:
            return True
    return False


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """What a failed attempt leads to. ``delay`` is set for a retry: seconds until the next
    attempt, counted by the store from the moment it records the outcome."""

    target: RunState
    attempt_state: RunState
    delay: float | None
    reason: str


def decide_failure(
    policy: RetryPolicy,
    attempt: int,
    error: ErrorInfo,
    *,
    timed_out: bool = False,
    rng: random.Random | None = None,
    handbacks: int = 0,
    final: bool = False,
    retry_after: float | None = None,
) -> FailureDecision:
    """Decide what a failed (or timed-out) attempt number ``attempt`` does to its run.
    Attempts that were handed back (``handbacks``) are not counted as tries. ``final`` and
    ``retry_after`` are the task's hints (:class:`~tss.errors.TaskFailure`): a final error
    is retried only when ``retry_on`` names it; the next attempt waits at least
    ``retry_after`` seconds (what the server asked), at most ``max_delay``."""
    attempt_state = RunState.TIMED_OUT if timed_out else RunState.FAILED
    tries = policy.max + 1
    attempt -= handbacks
    if attempt < tries and is_retryable(policy, error, final=final):
        delay = retry_delay(policy, attempt, rng)
        asked = ""
        if retry_after is not None and min(retry_after, policy.max_delay) > delay:
            delay = min(retry_after, policy.max_delay)
            asked = " (as the task asked)"
        return FailureDecision(
            RunState.RETRYING,
            attempt_state,
            delay,
            f"attempt {attempt} of {tries} {attempt_state.value} ({error.type}); "
            f"retrying in {delay:.1f}s{asked}",
        )
    if attempt >= tries:
        why = "no tries left"
    elif final and not policy.retry_on:
        why = f"{error.type} is final: trying again cannot help (retry_on may name it)"
    else:
        why = f"{error.type} is not in retry_on"
    return FailureDecision(
        attempt_state,
        attempt_state,
        None,
        f"attempt {attempt} of {tries} {attempt_state.value} ({error.type}); {why}",
    )


def failure_outcome(
    run: Run,
    error: ErrorInfo,
    *,
    timed_out: bool = False,
    rng: random.Random | None = None,
    stdout: str = "",
    stderr: str = "",
    require_expired: bool = False,
    final: bool = False,
    retry_after: float | None = None,
) -> Outcome:
    """The outcome of ``run``'s current attempt failing with ``error``, by the run's policy.
    One decision for the worker (a task's failure, with its ``final`` and ``retry_after``
    hints, see :func:`decide_failure`) and the reaper (a lost lease, a timeout its worker
    missed)."""
    decision = decide_failure(
        run.policy.retries,
        run.attempt,
        error,
        timed_out=timed_out,
        rng=rng,
        handbacks=run.handbacks,
        final=final,
        retry_after=retry_after,
    )
    return Outcome(
        run.id,
        run.attempt,
        decision.target,
        reason=decision.reason,
        error=error,
        attempt_state=decision.attempt_state,
        retry_delay=decision.delay,
        stdout=stdout,
        stderr=stderr,
        require_expired=require_expired,
    )


#: how many times, by default, a run whose worker died is re-queued without spending a try
DEFAULT_MAX_LOST = 3


def lost_outcome(
    run: Run,
    lost_by: Sequence[str],
    *,
    max_lost: int,
    rng: random.Random | None = None,
) -> Outcome:
    """The outcome of ``run``'s attempt whose lease ran out: its worker died or hung.

    ``lost_by`` names the workers that held the run's lost attempts, earlier ones first and
    this one last. A lost worker is not the task's failure, so the first ``max_lost`` losses
    re-queue the run without spending a try. Past that bound the run is probably what kills
    its workers (a poison run): the loss counts as a failed try by the job's retry policy,
    so such a run ends after its tries instead of looping; the error names every worker.
    """
    worker = lost_by[-1] if lost_by else run.worker_id
    lost = len(lost_by)
    what = f"worker {worker} stopped heartbeating while running attempt {run.attempt}"
    if lost <= max_lost:
        error = ErrorInfo(LEASE_EXPIRED, f"{what} (lease expired)")
        return Outcome(
            run.id,
            run.attempt,
            RunState.QUEUED,
            reason=f"{what}; re-queued without spending a try (lost {lost} of max_lost {max_lost})",
            error=error,
            attempt_state=RunState.FAILED,
            require_expired=True,
        )
    error = ErrorInfo(
        LEASE_EXPIRED,
        f"{what} (lease expired); it lost {lost} workers, more than max_lost {max_lost}: "
        f"{', '.join(str(w) for w in lost_by)}. A run that keeps losing its workers may be "
        "what kills them (memory, a crash in native code)",
    )
    return failure_outcome(run, error, rng=rng, require_expired=True)
