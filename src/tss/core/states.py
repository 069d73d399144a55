"""The run state machine: one table of legal transitions, checked by every backend."""

from __future__ import annotations

from enum import StrEnum

from tss.errors import Conflict


class RunState(StrEnum):
    """Where a run is in its life."""

    SCHEDULED = "scheduled"
    WAITING = "waiting"
    QUEUED = "queued"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    SKIPPED = "skipped"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT, RunState.CANCELLED, RunState.SKIPPED}
)
#: States in which a run counts against a job's concurrency and max_active_runs.
ACTIVE_STATES = frozenset(
    {RunState.SCHEDULED, RunState.QUEUED, RunState.RUNNING, RunState.RETRYING}
)
#: The ends in failure: what the dead-letter list shows and failure counts add up.
FAILURE_STATES = frozenset({RunState.FAILED, RunState.TIMED_OUT})

S = RunState
#: Every legal transition. ``None`` as a source means "created in this state".
TRANSITIONS: dict[RunState | None, frozenset[RunState]] = {
    None: frozenset({S.SCHEDULED, S.WAITING, S.QUEUED, S.SKIPPED}),
    S.SCHEDULED: frozenset({S.QUEUED, S.CANCELLED, S.SKIPPED}),
    S.WAITING: frozenset({S.QUEUED, S.SKIPPED, S.CANCELLED}),
    # queued -> failed: the scheduler fails a run no live worker can ever take
    # (scheduler.unrunnable_after; tss.core.waiting), without an attempt.
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.FAILED}),
    # running -> queued is a hand-back: a worker shutting down returns what it cannot finish.
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.RETRYING, S.CANCELLED, S.QUEUED}),
    S.RETRYING: frozenset({S.QUEUED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset(),
    S.TIMED_OUT: frozenset(),
    S.CANCELLED: frozenset(),
    S.SKIPPED: frozenset(),
}
del S


def can_transition(source: RunState | None, target: RunState) -> bool:
    """Whether ``source -> target`` is in the transition table."""
    return target in TRANSITIONS[source]


def check_transition(source: RunState | None, target: RunState) -> None:
    """Raise :class:`Conflict` unless ``source -> target`` is legal.

    :raises Conflict: the transition is not in the table.
    """
    if not can_transition(source, target):
        origin = source.value if source is not None else "(new)"
        raise Conflict(f"a run cannot go from {origin} to {target.value}", field="state")
