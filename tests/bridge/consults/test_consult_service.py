"""Requesting, ringing, accepting and ending consults against the real store, on both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from bridge.auth.resolve import principal_from_bearer
from bridge.consults.caller import Caller, caller_from_principal
from bridge.consults.events import Outcome, queue_topic, station_topic, user_topic
from bridge.consults.records import ConsultError
from bridge.consults.service import ConsultService
from bridge.consults.states import Urgency
from bridge.db.tables import BedsideStation, LiveConnection
from bridge.services import Services
from tests.conftest import Bridge


def caller(bridge: Bridge, username: str) -> Caller:
    token = bridge.token(username)
    with bridge.services() as services:
        return caller_from_principal(principal_from_bearer(services, token))


def resident_of_home_1(bridge: Bridge) -> str:
    with bridge.services() as services:
        return str(services.residents.patients_of_homes({"demo-home-1"})[0]["id"])


def topics(outcome: Outcome, kind: str) -> set[str]:
    return {d.topic for d in outcome.deliveries if d.message["type"] == kind}


def run(bridge: Bridge, action: str, *args: Any) -> Outcome:
    with bridge.services() as services:
        result: Outcome = getattr(ConsultService(services), action)(*args)
        return result


def on_duty(bridge: Bridge, *callers: Caller) -> None:
    with bridge.services() as services:
        services.db.execute(delete(LiveConnection))
        for i, who in enumerate(callers):
            services.db.add(
                LiveConnection(
                    connection_id=f"test-{i}",
                    principal=who.reference,
                    organization_id=who.organization_id,
                    on_duty=True,
                    seen_at=services.now(),
                )
            )


def test_a_routine_request_rings_one_doctor_and_the_first_accept_wins(bridge: Bridge) -> None:
    nurse, doctor, doctor2 = caller(bridge, "nurse1"), caller(bridge, "doctor"), caller(bridge, "doctor2")
    on_duty(bridge, doctor, doctor2)
    requested = run(bridge, "request", nurse, "c-nurse", resident_of_home_1(bridge), Urgency.ROUTINE, "发热", None)
    assert requested.reply is not None
    consult = requested.reply["consult"]
    assert consult["state"] == "ringing" and consult["hospital"] == "demo-hospital"
    assert requested.reply["you"] == consult["participants"][0]["id"]
    rung = topics(requested, "queue.ring")
    assert len(rung) == 1 and rung <= {user_topic(doctor.reference), user_topic(doctor2.reference)}
    assert topics(requested, "queue.update") == {queue_topic("demo-hospital")}
    with bridge.services() as services:
        encounter = services.repository.read("Encounter", consult["id"])
    assert encounter["status"] == "planned" and encounter["class"]["code"] == "VR"
    assert encounter["priority"]["coding"][0]["code"] == "R"

    accepted = run(bridge, "accept", doctor2, "c-doc2", consult["id"])
    assert accepted.reply is not None and accepted.reply["consult"]["state"] == "accepted"
    assert topics(accepted, "queue.removed") == {queue_topic("demo-hospital")}
    with pytest.raises(ConsultError) as refused:
        run(bridge, "accept", doctor, "c-doc", consult["id"])
    assert refused.value.code == "already_taken"

    ended = run(bridge, "end", nurse, consult["id"])
    assert ended.reply is not None and ended.reply["consult"]["state"] == "ended"
    with bridge.services() as services:
        encounter = services.repository.read("Encounter", consult["id"])
    assert encounter["status"] == "finished" and "end" in encounter["period"]
    assert {p["individual"].get("reference") for p in encounter["participant"]} == {
        "Practitioner/demo-nurse-wang",
        "Practitioner/demo-dr-chen",
    }
    with pytest.raises(ConsultError) as over:
        run(bridge, "cancel", nurse, consult["id"])
    assert over.value.code == "consult_ended"


def test_an_emergency_rings_every_on_duty_doctor_at_once(bridge: Bridge) -> None:
    nurse = caller(bridge, "nurse1")
    on_duty(bridge, caller(bridge, "doctor"), caller(bridge, "doctor2"))
    outcome = run(bridge, "request", nurse, "c-n", resident_of_home_1(bridge), Urgency.EMERGENCY, "胸痛", None)
    assert topics(outcome, "queue.ring") == {queue_topic("demo-hospital")}
    with bridge.services() as services:
        item = ConsultService(services).queue.snapshot("demo-hospital")[0]
    assert item["urgency"] == "emergency"  # emergencies head the queue
    assert outcome.reply is not None
    run(bridge, "cancel", nurse, outcome.reply["consult"]["id"])


def test_nobody_starts_a_consult_for_another_homes_resident(bridge: Bridge) -> None:
    with pytest.raises(ConsultError) as refused:
        run(bridge, "request", caller(bridge, "nurse2"), "c", resident_of_home_1(bridge), Urgency.URGENT, "x", None)
    assert refused.value.code == "not_found"
    with pytest.raises(ConsultError) as pharmacist:
        run(bridge, "request", caller(bridge, "pharmacist"), "c", resident_of_home_1(bridge), Urgency.URGENT, "x", None)
    assert pharmacist.value.code == "forbidden"


def test_a_ward_round_call_is_answered_by_an_armed_station_and_calls_it(bridge: Bridge) -> None:
    doctor = caller(bridge, "doctor")
    with bridge.services() as services:
        services.db.merge(
            BedsideStation(
                client_id="test-station-1",
                home_id="demo-home-1",
                auto_answer=True,
                armed_by="account:nurse",
                armed_until=services.now() + timedelta(hours=1),
                last_seen_at=services.now(),
            )
        )
    patient = resident_of_home_1(bridge)
    outcome = run(bridge, "request", doctor, "c-d", patient, Urgency.ROUTINE, "查房", "test-station-1")
    assert outcome.reply is not None and outcome.reply["consult"]["state"] == "accepted"
    assert topics(outcome, "station.call") == {station_topic("test-station-1")}
    with pytest.raises(ConsultError) as elsewhere:
        run(bridge, "request", doctor, "c-d", resident_of_home_1(bridge), Urgency.ROUTINE, "x", "no-such-station")
    assert elsewhere.value.code == "not_found"


def test_two_doctors_accepting_at_once_one_wins(bridge: Bridge) -> None:
    """The loser read the consult while it was still ringing; the row version refuses its write."""
    nurse, doctor, doctor2 = caller(bridge, "nurse1"), caller(bridge, "doctor"), caller(bridge, "doctor2")
    requested = run(bridge, "request", nurse, "c-n", resident_of_home_1(bridge), Urgency.URGENT, "气促", None)
    assert requested.reply is not None
    consult_id = requested.reply["consult"]["id"]
    with bridge.runtime.session_factory() as db:
        slow = ConsultService(Services(db, bridge.runtime))
        assert slow.records.get(consult_id).state == "ringing"
        run(bridge, "accept", doctor2, "c-d2", consult_id)  # commits first, in its own transaction
        with pytest.raises(ConsultError) as lost:
            slow.accept(doctor, "c-d", consult_id)
        assert lost.value.code == "already_taken"
        db.rollback()
    with bridge.services() as services:
        winner = ConsultService(services).records.get(consult_id)
        assert winner.accepted_by == doctor2.reference and winner.state == "accepted"
