"""The run state machine: one table, and nothing outside it."""

from __future__ import annotations

import pytest

from tss.core.states import TERMINAL_STATES, TRANSITIONS, RunState, can_transition, check_transition
from tss.errors import Conflict


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == {None, *RunState}


def test_terminal_states_lead_nowhere() -> None:
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == frozenset()
        assert state.terminal


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (None, RunState.QUEUED),
        (RunState.SCHEDULED, RunState.QUEUED),
        (RunState.QUEUED, RunState.RUNNING),
        (RunState.RUNNING, RunState.SUCCEEDED),
        (RunState.RUNNING, RunState.RETRYING),
        (RunState.RETRYING, RunState.QUEUED),
        (RunState.RUNNING, RunState.TIMED_OUT),
        (RunState.WAITING, RunState.SKIPPED),
        (RunState.RUNNING, RunState.QUEUED),
        (RunState.QUEUED, RunState.FAILED),  # a run no live worker can take (unrunnable)
    ],
)
def test_design_transitions_are_legal(source: RunState | None, target: RunState) -> None:
    assert can_transition(source, target)
    check_transition(source, target)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (RunState.SUCCEEDED, RunState.QUEUED),
        (RunState.FAILED, RunState.RUNNING),
        (RunState.QUEUED, RunState.SUCCEEDED),
        (RunState.SCHEDULED, RunState.RUNNING),
        (None, RunState.RUNNING),
        (RunState.CANCELLED, RunState.QUEUED),
    ],
)
def test_illegal_transitions_are_refused(source: RunState | None, target: RunState) -> None:
    assert not can_transition(source, target)
    with pytest.raises(Conflict, match=target.value):
        check_transition(source, target)
