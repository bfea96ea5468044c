"""Loading and changing consult rows; every change also rewrites the Encounter and tells everyone."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select

from bridge.consults.caller import Caller
from bridge.consults.encounter import encounter_resource
from bridge.consults.events import Outcome, consult_topic
from bridge.consults.states import ConsultState, IllegalTransition, ParticipantStatus, check_transition
from bridge.consults.views import state_message
from bridge.db.tables import Consult, ConsultParticipant
from bridge.services import Services


class ConsultError(Exception):
    """A signalling error (docs/signalling.md, "Errors"): a code for machines, a message for logs."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def new_participant_id() -> str:
    return f"p-{secrets.token_hex(6)}"


class ConsultRecords:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.db = services.db

    def now(self) -> datetime:
        return self.services.now()

    def get(self, consult_id: str) -> Consult:
        consult = self.db.get(Consult, consult_id) if isinstance(consult_id, str) else None
        if consult is None:
            raise ConsultError("not_found", "no such consult")
        return consult

    def participants(self, consult: Consult) -> list[ConsultParticipant]:
        query = (
            select(ConsultParticipant)
            .where(ConsultParticipant.consult_id == consult.id)
            .order_by(ConsultParticipant.joined_at, ConsultParticipant.id)
        )
        return list(self.db.scalars(query))

    def participant_of(self, consult: Consult, reference: str) -> ConsultParticipant | None:
        for participant in self.participants(consult):
            if participant.principal == reference:
                return participant
        return None

    def add_participant(self, consult: Consult, caller: Caller, connection_id: str | None) -> ConsultParticipant:
        """A new participant; connected when it comes with a socket (a station called later has none yet)."""
        assert caller.role is not None
        participant = ConsultParticipant(
            id=new_participant_id(),
            consult_id=consult.id,
            principal=caller.reference,
            role=caller.role.value,
            display=caller.display,
            practitioner_id=caller.practitioner_id,
            status=(ParticipantStatus.CONNECTED if connection_id else ParticipantStatus.RECONNECTING).value,
            connection_id=connection_id,
            joined_at=self.now(),
        )
        self.db.add(participant)
        self.db.flush()
        return participant

    def transition(self, consult: Consult, target: ConsultState) -> None:
        try:
            check_transition(ConsultState(consult.state), target)
        except IllegalTransition as exc:
            code = "consult_ended" if ConsultState(consult.state).is_terminal else "invalid_transition"
            raise ConsultError(code, str(exc)) from exc
        consult.state = target.value
        if target.is_terminal:
            consult.ended_at = self.now()
            consult.deadline_at = None
            for participant in self.participants(consult):
                if participant.status != ParticipantStatus.LEFT:
                    participant.status = ParticipantStatus.LEFT.value
                    participant.left_at = consult.ended_at
                    participant.connection_id = None

    def announce(self, consult: Consult, outcome: Outcome) -> None:
        """Flush, keep the Encounter in step, and tell the consult's sockets and the people behind it."""
        self.db.flush()
        participants = self.participants(consult)
        self.services.repository.update(encounter_resource(consult, participants))
        message = state_message(consult, participants)
        outcome.tell(consult_topic(consult.id), message)

    def reply_state(self, consult: Consult, you: str | None) -> dict[str, object]:
        message = state_message(consult, self.participants(consult))
        if you is not None:
            message["you"] = you
        return message
