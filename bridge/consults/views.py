"""How consults and queue items look on the wire (docs/signalling.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from bridge.clock import as_utc
from bridge.consults.states import ParticipantStatus
from bridge.db.tables import Consult, ConsultParticipant


def instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def consult_view(consult: Consult, participants: Sequence[ConsultParticipant]) -> dict[str, Any]:
    return {
        "id": consult.id,
        "state": consult.state,
        "urgency": consult.urgency,
        "reason": consult.reason,
        "patient": {"id": consult.patient_id, "display": consult.patient_display},
        "home": consult.home_id,
        "hospital": consult.hospital_id,
        "station_id": consult.station_id,
        "ward_round": consult.ward_round,
        "requested_at": instant(consult.created_at),
        "accepted_at": instant(consult.accepted_at),
        "ended_at": instant(consult.ended_at),
        "end_reason": consult.end_reason,
        "escalation": consult.escalation,
        "participants": [
            {"id": p.id, "role": p.role, "display": p.display, "status": p.status}
            for p in participants
            if p.status != ParticipantStatus.LEFT
        ],
    }


def state_message(consult: Consult, participants: Sequence[ConsultParticipant]) -> dict[str, Any]:
    return {"v": 1, "type": "consult.state", "consult": consult_view(consult, participants)}


def queue_item(consult: Consult, home_display: str, now: datetime) -> dict[str, Any]:
    return {
        "consult_id": consult.id,
        "urgency": consult.urgency,
        "reason": consult.reason,
        "patient": {"id": consult.patient_id, "display": consult.patient_display},
        "home": {"id": consult.home_id, "display": home_display},
        "requested_at": instant(consult.created_at),
        "waiting_seconds": max(0, int((as_utc(now) - as_utc(consult.created_at)).total_seconds())),
        "escalation": consult.escalation,
        "ward_round": consult.ward_round,
    }
