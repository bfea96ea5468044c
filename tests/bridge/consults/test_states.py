"""The consult state machine refuses every transition the protocol does not list."""

from __future__ import annotations

import itertools

import pytest

from bridge.consults.states import TERMINAL_STATES, ConsultState, IllegalTransition, check_transition


def test_the_happy_path_is_allowed() -> None:
    path = [
        ConsultState.REQUESTED,
        ConsultState.RINGING,
        ConsultState.ACCEPTED,
        ConsultState.IN_CALL,
        ConsultState.RECONNECTING,
        ConsultState.IN_CALL,
        ConsultState.ENDED,
    ]
    for current, target in itertools.pairwise(path):
        check_transition(current, target)


@pytest.mark.parametrize("terminal", sorted(TERMINAL_STATES))
def test_nothing_leaves_a_terminal_state(terminal: ConsultState) -> None:
    for target in ConsultState:
        with pytest.raises(IllegalTransition):
            check_transition(terminal, target)


def test_a_ringing_consult_cannot_skip_acceptance() -> None:
    with pytest.raises(IllegalTransition, match="ringing to in_call"):
        check_transition(ConsultState.RINGING, ConsultState.IN_CALL)
    with pytest.raises(IllegalTransition):
        check_transition(ConsultState.REQUESTED, ConsultState.ACCEPTED)
