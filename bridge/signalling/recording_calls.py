"""Calling the recorder into a consult that has just been accepted, when consent to record is on record."""

from __future__ import annotations

from bridge.consults.events import Outcome
from bridge.consults.states import ConsultState
from bridge.recording.consent import recording_consented
from bridge.services import Services
from bridge.signalling.connection import RECORDERS_TOPIC


def call_recorder_if_consented(services: Services, outcome: Outcome) -> None:
    consult = (outcome.reply or {}).get("consult")
    if not isinstance(consult, dict) or consult.get("state") != ConsultState.ACCEPTED.value:
        return
    if services.settings.recording_enabled and recording_consented(services, consult["patient"]["id"]):
        outcome.tell(RECORDERS_TOPIC, {"v": 1, "type": "recorder.call", "consult_id": consult["id"]})
