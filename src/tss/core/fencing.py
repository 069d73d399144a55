"""Fencing: which finish or heartbeat an attempt may still make, and what a finish changes.

A run's ``attempt`` number is its fencing token: a claim raises it, and only the attempt
that holds the run (``running``, same number) may report on it. Every store decides with
these functions; the SQL stores keep the same conditions in their ``WHERE`` clauses so a
write never lands on a row that changed since it was read, and the Redis store's Lua
mirrors them (its scripts are generated from the same state names).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, TypeVar

from tss.core.models import Outcome
from tss.core.states import RunState, can_transition

#: a time as a store compares it: an aware datetime, or microseconds since the epoch
Instant = TypeVar("Instant", datetime, int)


def holds(state: RunState | str, attempt: int, held: int) -> bool:
    """Whether attempt ``held`` still holds a run that is in ``state`` at ``attempt``: the
    rule for a heartbeat (a late heartbeat still wins while the reaper has not ended the
    run, whatever its lease says)."""
    return state == RunState.RUNNING and attempt == held


def may_finish(
    state: RunState | str,
    attempt: int,
    lease_until: Instant | None,
    outcome: Outcome,
    now: Instant,
) -> bool:
    """Whether ``outcome`` may be recorded on a run in ``state`` at ``attempt`` whose lease
    runs to ``lease_until``: the attempt holds the run (:func:`holds`), the target is a legal
    move from ``running``, and, for the reaper (``require_expired``), the lease has run
    out by ``now`` (a heartbeat that came first wins)."""
    return (
        holds(state, attempt, outcome.attempt)
        and can_transition(RunState.RUNNING, outcome.target)
        and not (outcome.require_expired and lease_until is not None and lease_until > now)
    )


class FinishChange(NamedTuple):
    """What an accepted finish does to its run and attempt, beyond state and timestamps
    every move sets (``updated_at``; the lease is cleared on leaving ``running``)."""

    #: the state the run moves to
    target: RunState
    #: the state the attempt ends in (a retried failure: run retrying, attempt failed)
    attempt_state: RunState
    #: the run goes back to the queue (a hand-back): ``queued_at`` is now, it is to be
    #: published again, and its ``handbacks`` go up by one (no try is spent)
    requeued: bool
    #: the run ended: ``finished_at`` is now
    finished: bool
    #: seconds from now, by the store's clock, to the run's new ``not_before`` (a retry);
    #: None leaves ``not_before`` as it was
    retry_delay: float | None


def finish_change(outcome: Outcome) -> FinishChange:
    """What recording ``outcome`` (accepted by :func:`may_finish`) changes."""
    target = outcome.target
    # The delay runs on the store's clock, not the worker's (guarantee 5).
    delay = (outcome.retry_delay or 0.0) if target is RunState.RETRYING else None
    requeued = target is RunState.QUEUED
    return FinishChange(target, outcome.attempt_state or target, requeued, target.terminal, delay)
