"""Joining, leaving and dropping out of a consult, and what that does to its state.

A participant keeps its id across reconnects: a socket that closes without ``consult.leave`` only
marks it ``reconnecting``; it has left once the reconnect window passes (bridge/consults/timers.py).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bridge.clock import as_utc
from bridge.consults.caller import Caller
from bridge.consults.events import Outcome
from bridge.consults.records import ConsultError, ConsultRecords
from bridge.consults.states import HOME_SIDE_ROLES, ConsultState, ParticipantRole, ParticipantStatus
from bridge.db.tables import Consult, ConsultParticipant
from bridge.recording.consent import recording_consented
from bridge.services import Services

MAX_PARTICIPANTS = 4


class Participation:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.records = ConsultRecords(services)
        self.window = timedelta(seconds=services.settings.reconnect_window_seconds)

    def join(self, caller: Caller, connection_id: str, consult_id: str) -> Outcome:
        consult = self.records.get(consult_id)
        state = ConsultState(consult.state)
        if state.is_terminal:
            raise ConsultError("consult_ended", "the consult is over")
        participant = self.records.participant_of(consult, caller.reference)
        if participant is None or participant.status == ParticipantStatus.LEFT:
            if state.is_waiting:
                raise ConsultError("invalid_transition", "only the requester is in a consult before it is accepted")
            self._require_may_join(caller, consult)
            participant = self._add(consult, caller, connection_id, participant)
        participant.status = ParticipantStatus.CONNECTED.value
        participant.connection_id = connection_id
        participant.disconnected_at = None
        outcome = Outcome()
        self._settle(consult)
        self.records.announce(consult, outcome)
        outcome.reply = self.records.reply_state(consult, participant.id)
        return outcome

    def leave(self, caller: Caller, consult_id: str) -> Outcome:
        consult = self.records.get(consult_id)
        participant = self.records.participant_of(consult, caller.reference)
        if participant is None or participant.status == ParticipantStatus.LEFT:
            raise ConsultError("not_in_consult", "you are not in this consult")
        outcome = Outcome()
        self._mark_left(participant)
        self._settle(consult, reason="left")
        self.records.announce(consult, outcome)
        outcome.reply = self.records.reply_state(consult, None)
        return outcome

    def disconnected(self, connection_id: str) -> Outcome:
        """A socket closed without leaving: each consult it was in keeps its place for the window."""
        outcome = Outcome()
        query = select(ConsultParticipant).where(
            ConsultParticipant.connection_id == connection_id,
            ConsultParticipant.status == ParticipantStatus.CONNECTED.value,
        )
        for participant in list(self.services.db.scalars(query)):
            self.drop(participant, outcome)
        return outcome

    def drop(self, participant: ConsultParticipant, outcome: Outcome) -> None:
        consult = self.records.get(participant.consult_id)
        participant.status = ParticipantStatus.RECONNECTING.value
        participant.disconnected_at = self.services.now()
        participant.connection_id = None
        self._settle(consult)
        self.records.announce(consult, outcome)

    def expire(self, participant: ConsultParticipant, outcome: Outcome) -> None:
        """The reconnect window passed: the participant has left."""
        consult = self.records.get(participant.consult_id)
        self._mark_left(participant)
        self._settle(consult, reason="reconnect_timeout")
        self.records.announce(consult, outcome)

    def recording_allowed(self, consult: Consult) -> bool:
        return self.services.settings.recording_enabled and recording_consented(self.services, consult.patient_id)

    def window_over(self, participant: ConsultParticipant) -> bool:
        if participant.disconnected_at is None:
            return False
        return as_utc(participant.disconnected_at) + self.window <= as_utc(self.services.now())

    # --- helpers ----------------------------------------------------------------------------------

    def _settle(self, consult: Consult, reason: str = "left") -> None:
        """Derive the state from who is there; end a live consult that lost its home side or its doctor."""
        state = ConsultState(consult.state)
        present = [p for p in self.records.participants(consult) if p.status != ParticipantStatus.LEFT]
        roles = {ParticipantRole(p.role) for p in present}
        if state.is_waiting:
            if not roles & HOME_SIDE_ROLES and not consult.ward_round:
                self.records.transition(consult, ConsultState.CANCELLED)
                consult.end_reason = reason
            return
        if not state.is_live:
            return
        doctor_gone = consult.accepted_by is not None and ParticipantRole.DOCTOR not in roles
        if not roles & HOME_SIDE_ROLES or doctor_gone:
            self.records.transition(consult, ConsultState.ENDED)
            consult.end_reason = reason
            return
        connected = sum(p.status == ParticipantStatus.CONNECTED and p.role != ParticipantRole.RECORDER for p in present)
        people = [p for p in present if p.role != ParticipantRole.RECORDER]
        if any(p.status == ParticipantStatus.RECONNECTING for p in people):
            target = ConsultState.RECONNECTING
        elif connected >= 2:
            target = ConsultState.IN_CALL
        else:
            target = ConsultState.ACCEPTED
        if target != state:
            self.records.transition(consult, target)

    def _require_may_join(self, caller: Caller, consult: Consult) -> None:
        if caller.is_recorder:
            if not self.recording_allowed(consult):
                raise ConsultError("forbidden", "no consent to record this consult is on record")
            if any(
                p.role == ParticipantRole.RECORDER and p.status != ParticipantStatus.LEFT
                for p in self.records.participants(consult)
            ):
                # Every instance's worker hears the call; the first to join records.
                raise ConsultError("forbidden", "another recorder is recording this consult")
        elif caller.guest_consult_id is not None:
            if caller.guest_consult_id != consult.id:
                raise ConsultError("forbidden", "the invitation is for another consult")
        elif caller.is_doctor:
            if caller.reference != consult.accepted_by:
                raise ConsultError("forbidden", "only the doctor who accepted the consult joins it")
        elif caller.is_station:
            if caller.reference != f"client:{consult.station_id}":
                raise ConsultError("forbidden", "the consult was not started at this station")
        elif not (caller.is_nurse and caller.organization_id == consult.home_id):
            raise ConsultError("forbidden", "only the resident's home, the doctor and invited guests join")
        if caller.is_recorder:
            return  # not counted: the limit is about people on screen
        present = [
            p
            for p in self.records.participants(consult)
            if p.status != ParticipantStatus.LEFT and p.role != ParticipantRole.RECORDER
        ]
        if len(present) >= MAX_PARTICIPANTS:
            raise ConsultError("consult_full", f"a consult has at most {MAX_PARTICIPANTS} participants")

    def _add(
        self, consult: Consult, caller: Caller, connection_id: str, previous: ConsultParticipant | None
    ) -> ConsultParticipant:
        if previous is not None:  # came back after the window: same person, same id
            previous.left_at = None
            return previous
        return self.records.add_participant(consult, caller, connection_id)

    def _mark_left(self, participant: ConsultParticipant) -> None:
        participant.status = ParticipantStatus.LEFT.value
        participant.left_at = self.services.now()
        participant.connection_id = None
