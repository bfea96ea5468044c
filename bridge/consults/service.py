"""Requesting, answering and ending consults (docs/signalling.md). Synchronous: one database transaction
per call; the signalling layer publishes the Outcome's deliveries after the commit."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm.exc import StaleDataError

from bridge.clock import as_utc
from bridge.consults.caller import Caller
from bridge.consults.events import Outcome, station_topic
from bridge.consults.loop_steps import track_consult_step
from bridge.consults.queue import DoctorQueue
from bridge.consults.records import ConsultError, ConsultRecords
from bridge.consults.states import HOME_SIDE_ROLES, ConsultState, ParticipantRole, Urgency
from bridge.consults.timings import RingTimings
from bridge.db.tables import BedsideStation, Consult
from bridge.directory.codes import ContractKind
from bridge.directory.residents import display_name, home_of
from bridge.errors import BridgeError
from bridge.loops.codes import Step
from bridge.services import Services


def ring_timings(services: Services) -> RingTimings:
    s = services.settings
    return RingTimings(
        timedelta(seconds=s.consult_escalate_after_seconds),
        timedelta(seconds=s.consult_alert_after_seconds),
        timedelta(seconds=s.consult_ring_timeout_seconds),
    )


def presence_stale_after(services: Services) -> timedelta:
    # Three missed heartbeats: one late refresh must not take a doctor off duty.
    return timedelta(seconds=3 * services.settings.signal_heartbeat_seconds)


class ConsultService:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.records = ConsultRecords(services)
        self.queue = DoctorQueue(services, presence_stale_after(services))
        self.timings = ring_timings(services)

    def request(
        self, caller: Caller, connection_id: str, patient_id: str, urgency: Urgency, reason: str, station_id: str | None
    ) -> Outcome:
        if caller.role not in {ParticipantRole.NURSE, ParticipantRole.STATION, ParticipantRole.DOCTOR}:
            raise ConsultError("forbidden", "only nurses, bedside stations and doctors start consults")
        if caller.is_station:
            station_id = caller.reference.removeprefix("client:")
        patient = self._visible_resident(caller, patient_id)
        home_id = home_of(patient)
        if home_id is None:
            raise ConsultError("not_found", "the resident has no home")
        hospitals = sorted(
            self.services.contracts.providers_of(home_id, ContractKind.TELEMEDICINE, self.services.now().date())
        )
        ward_round = caller.is_doctor
        if ward_round:
            if caller.organization_id not in hospitals:
                raise ConsultError("forbidden", "the doctor's hospital does not serve this home")
            if station_id is None:
                raise ConsultError("invalid_message", "a doctor's call needs the station_id of a bedside station")
            hospital_id = caller.organization_id
        elif not hospitals:
            raise ConsultError("forbidden", "no internet hospital serves this home")
        else:
            hospital_id = hospitals[0]
        station = self._station(station_id, home_id) if station_id else None
        now = self.services.now()
        consult = Consult(
            id=str(uuid.uuid4()),
            state=ConsultState.REQUESTED.value,
            urgency=urgency.value,
            reason=reason,
            patient_id=patient["id"],
            patient_display=display_name(patient),
            home_id=home_id,
            hospital_id=hospital_id,
            requested_by=caller.reference,
            station_id=station.client_id if station else None,
            ward_round=ward_round,
            created_at=now,
            escalation=self.timings.initial_level(urgency),
        )
        self.services.db.add(consult)
        you = self._add_participant(consult, caller, connection_id)
        self.records.transition(consult, ConsultState.RINGING)
        consult.deadline_at = self.timings.next_deadline(urgency, consult.escalation, now)
        outcome = Outcome()
        self.records.announce(consult, outcome)
        track_consult_step(self.services, consult, Step.CONSULT_REQUESTED, caller)
        if ward_round and station is not None and self._answers_by_itself(station):
            self._accept(consult, None, outcome)
        else:
            self.queue.ring(consult, outcome)
        outcome.reply = self.records.reply_state(consult, you)
        return outcome

    def accept(self, caller: Caller, connection_id: str, consult_id: str) -> Outcome:
        consult = self.records.get(consult_id)
        if consult.ward_round:
            self._require_home_side(caller, consult)
            acceptor = None
        else:
            if not caller.is_doctor or caller.organization_id != consult.hospital_id:
                raise ConsultError("forbidden", "only a doctor of the consult's hospital accepts it")
            if consult.state != ConsultState.RINGING and consult.accepted_by is not None:
                raise ConsultError("already_taken", "another doctor accepted this consult")
            acceptor = caller
        outcome = Outcome()
        try:
            you = self._accept(consult, acceptor, outcome, connection_id)
        except StaleDataError as exc:
            # Another instance or request changed the consult since it was read: the first accept won.
            raise ConsultError("already_taken", "another doctor accepted this consult") from exc
        outcome.reply = self.records.reply_state(consult, you)
        return outcome

    def decline(self, caller: Caller, consult_id: str) -> Outcome:
        consult = self.records.get(consult_id)
        outcome = Outcome()
        if consult.ward_round:
            self._require_home_side(caller, consult)
            self.records.transition(consult, ConsultState.DECLINED)
            consult.end_reason = "declined"
            self.queue.removed(consult, "declined", outcome)
        else:
            # A doctor cannot refuse the home a doctor: the request passes to every on-duty colleague.
            if not caller.is_doctor or caller.organization_id != consult.hospital_id:
                raise ConsultError("forbidden", "only a doctor of the consult's hospital declines it")
            if consult.state != ConsultState.RINGING:
                raise ConsultError("invalid_transition", f"the consult is {consult.state}")
            consult.escalation = max(consult.escalation, 1)
            self.queue.ring(consult, outcome)
        self.records.announce(consult, outcome)
        outcome.reply = self.records.reply_state(consult, None)
        return outcome

    def cancel(self, caller: Caller, consult_id: str) -> Outcome:
        consult = self.records.get(consult_id)
        if caller.reference != consult.requested_by and not self._is_home_side(caller, consult):
            raise ConsultError("forbidden", "only the requester's side cancels a consult")
        outcome = Outcome()
        self.records.transition(consult, ConsultState.CANCELLED)
        consult.end_reason = "cancelled"
        self.queue.removed(consult, "cancelled", outcome)
        self.records.announce(consult, outcome)
        outcome.reply = self.records.reply_state(consult, None)
        return outcome

    def end(self, caller: Caller, consult_id: str, reason: str = "hung_up") -> Outcome:
        consult = self.records.get(consult_id)
        mine = self.records.participant_of(consult, caller.reference)
        allowed = caller.reference in {consult.accepted_by, consult.requested_by} or (
            mine is not None and ParticipantRole(mine.role) in HOME_SIDE_ROLES | {ParticipantRole.DOCTOR}
        )
        if not allowed:
            raise ConsultError("forbidden", "only the home's side or the doctor ends a consult")
        outcome = Outcome()
        if ConsultState(consult.state).is_waiting:
            return self.cancel(caller, consult_id)
        self.records.transition(consult, ConsultState.ENDED)
        consult.end_reason = reason
        self.records.announce(consult, outcome)
        track_consult_step(self.services, consult, Step.CONSULT_ENDED, caller)
        outcome.reply = self.records.reply_state(consult, None)
        return outcome

    # --- helpers ----------------------------------------------------------------------------------

    def _accept(
        self, consult: Consult, acceptor: Caller | None, outcome: Outcome, connection_id: str | None = None
    ) -> str | None:
        self.records.transition(consult, ConsultState.ACCEPTED)
        consult.accepted_at = self.services.now()
        consult.deadline_at = None
        you = None
        if acceptor is not None:
            consult.accepted_by = acceptor.reference
            you = self._add_participant(consult, acceptor, connection_id)
        self.queue.removed(consult, "accepted", outcome)
        if consult.station_id:
            outcome.tell(station_topic(consult.station_id), {"v": 1, "type": "station.call", "consult_id": consult.id})
        self.records.announce(consult, outcome)
        track_consult_step(self.services, consult, Step.CONSULT_ACCEPTED, acceptor)
        return you

    def _add_participant(self, consult: Consult, caller: Caller, connection_id: str | None) -> str:
        return self.records.add_participant(consult, caller, connection_id).id

    def _visible_resident(self, caller: Caller, patient_id: str) -> dict[str, object]:
        assert caller.principal is not None
        try:
            return self.services.policy.require_resident(caller.principal, patient_id)
        except BridgeError as exc:
            raise ConsultError("not_found", "no such resident that you may see") from exc

    def _station(self, station_id: str, home_id: str) -> BedsideStation:
        station = self.services.db.get(BedsideStation, station_id)
        if station is None or station.home_id != home_id:
            raise ConsultError("not_found", "no such bedside station in the resident's home")
        return station

    def _answers_by_itself(self, station: BedsideStation) -> bool:
        armed = station.armed_until is not None and as_utc(station.armed_until) > as_utc(self.services.now())
        return station.auto_answer and armed

    def _is_home_side(self, caller: Caller, consult: Consult) -> bool:
        if caller.organization_id != consult.home_id:
            return False
        return caller.is_nurse or (caller.is_station and caller.reference == f"client:{consult.station_id}")

    def _require_home_side(self, caller: Caller, consult: Consult) -> None:
        if not self._is_home_side(caller, consult):
            raise ConsultError("forbidden", "only the home's nurses or the called station answer a ward round")
