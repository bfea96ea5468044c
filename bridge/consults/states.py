"""The consult's states and the only transitions between them (docs/signalling.md)."""

from __future__ import annotations

from enum import StrEnum


class ConsultState(StrEnum):
    REQUESTED = "requested"
    RINGING = "ringing"
    ACCEPTED = "accepted"
    IN_CALL = "in_call"
    RECONNECTING = "reconnecting"
    ENDED = "ended"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_live(self) -> bool:
        """Accepted and not over: participants may join and exchange media."""
        return self in {ConsultState.ACCEPTED, ConsultState.IN_CALL, ConsultState.RECONNECTING}

    @property
    def is_waiting(self) -> bool:
        return self in {ConsultState.REQUESTED, ConsultState.RINGING}


TERMINAL_STATES = frozenset({ConsultState.ENDED, ConsultState.DECLINED, ConsultState.TIMED_OUT, ConsultState.CANCELLED})

_ALLOWED: dict[ConsultState, frozenset[ConsultState]] = {
    ConsultState.REQUESTED: frozenset({ConsultState.RINGING, ConsultState.CANCELLED}),
    ConsultState.RINGING: frozenset(
        {ConsultState.ACCEPTED, ConsultState.DECLINED, ConsultState.TIMED_OUT, ConsultState.CANCELLED}
    ),
    ConsultState.ACCEPTED: frozenset({ConsultState.IN_CALL, ConsultState.RECONNECTING, ConsultState.ENDED}),
    ConsultState.IN_CALL: frozenset({ConsultState.RECONNECTING, ConsultState.ENDED}),
    ConsultState.RECONNECTING: frozenset({ConsultState.IN_CALL, ConsultState.ACCEPTED, ConsultState.ENDED}),
}


class IllegalTransition(ValueError):
    def __init__(self, current: ConsultState, target: ConsultState) -> None:
        super().__init__(f"a consult cannot go from {current} to {target}")
        self.current = current
        self.target = target


def check_transition(current: ConsultState, target: ConsultState) -> None:
    if target not in _ALLOWED.get(current, frozenset()):
        raise IllegalTransition(current, target)


class Urgency(StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"

    @property
    def rank(self) -> int:
        """Queue order: emergencies first."""
        return {Urgency.EMERGENCY: 0, Urgency.URGENT: 1, Urgency.ROUTINE: 2}[self]


class ParticipantRole(StrEnum):
    NURSE = "nurse"
    DOCTOR = "doctor"
    STATION = "station"
    SPECIALIST = "specialist"
    INTERPRETER = "interpreter"
    FAMILY = "family"
    RECORDER = "recorder"  # the consent-gated server-side recorder; not counted in the participant limit


HOME_SIDE_ROLES = frozenset({ParticipantRole.NURSE, ParticipantRole.STATION})


class ParticipantStatus(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    LEFT = "left"
