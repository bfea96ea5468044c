"""The consult's FHIR Encounter (class VR): resident, reason, urgency, participants and period."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.clock import as_utc
from bridge.consults.states import ConsultState, ParticipantRole, Urgency
from bridge.db.tables import Consult, ConsultParticipant
from bridge.directory.codes import ENCOUNTER_CLASS_SYSTEM, NAMESPACE

CONSULT_IDENTIFIER_SYSTEM = f"{NAMESPACE}/sid/consult"
PRIORITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActPriority"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"

_PRIORITY = {
    Urgency.ROUTINE: ("R", "routine"),
    Urgency.URGENT: ("UR", "urgent"),
    Urgency.EMERGENCY: ("EM", "emergency"),
}
_STATUS = {
    ConsultState.REQUESTED: "planned",
    ConsultState.RINGING: "planned",
    ConsultState.ACCEPTED: "in-progress",
    ConsultState.IN_CALL: "in-progress",
    ConsultState.RECONNECTING: "in-progress",
    ConsultState.ENDED: "finished",
    ConsultState.DECLINED: "cancelled",
    ConsultState.TIMED_OUT: "cancelled",
    ConsultState.CANCELLED: "cancelled",
}
# The hospital doctor performs the consult; everyone else takes part (the nurse, a specialist consults).
_PARTICIPATION = {
    ParticipantRole.DOCTOR: ("PPRF", "primary performer"),
    ParticipantRole.SPECIALIST: ("CON", "consultant"),
    ParticipantRole.INTERPRETER: ("TRANS", "Translator"),
    ParticipantRole.NURSE: ("PART", "Participation"),
    ParticipantRole.STATION: ("PART", "Participation"),
    ParticipantRole.FAMILY: ("PART", "Participation"),
}


def encounter_resource(consult: Consult, participants: Sequence[ConsultParticipant]) -> dict[str, Any]:
    code, display = _PRIORITY[Urgency(consult.urgency)]
    period: dict[str, str] = {"start": _instant(consult.created_at)}
    if consult.ended_at is not None:
        period["end"] = _instant(consult.ended_at)
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": consult.id,
        "identifier": [{"system": CONSULT_IDENTIFIER_SYSTEM, "value": consult.id}],
        "status": _STATUS[ConsultState(consult.state)],
        "class": {"system": ENCOUNTER_CLASS_SYSTEM, "code": "VR", "display": "virtual"},
        "priority": {"coding": [{"system": PRIORITY_SYSTEM, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{consult.patient_id}", "display": consult.patient_display},
        "reasonCode": [{"text": consult.reason}],
        "period": period,
        "serviceProvider": {"reference": f"Organization/{consult.hospital_id}"},
    }
    # The recorder is equipment, not a person taking part; its recording is a DocumentReference instead.
    entries = [_participant(p) for p in participants if p.role != ParticipantRole.RECORDER]
    if entries:
        resource["participant"] = entries
    return resource


def _participant(participant: ConsultParticipant) -> dict[str, Any]:
    code, display = _PARTICIPATION[ParticipantRole(participant.role)]
    period: dict[str, str] = {"start": _instant(participant.joined_at)}
    if participant.left_at is not None:
        period["end"] = _instant(participant.left_at)
    individual: dict[str, str] = {"display": participant.display}
    if participant.practitioner_id:
        individual["reference"] = f"Practitioner/{participant.practitioner_id}"
    return {
        "type": [{"coding": [{"system": PARTICIPATION_SYSTEM, "code": code, "display": display}]}],
        "period": period,
        "individual": individual,
    }


def _instant(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")
