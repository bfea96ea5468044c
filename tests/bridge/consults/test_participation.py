"""Joining, dropping out, rejoining within the window, and what the consult's state does meanwhile."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bridge.consults.events import Outcome
from bridge.consults.participation import Participation
from bridge.consults.records import ConsultError
from bridge.consults.service import ConsultService
from bridge.consults.states import Urgency
from bridge.db.tables import ConsultParticipant
from tests.bridge.consults.test_consult_service import caller, resident_of_home_1, run
from tests.conftest import Bridge


def act(bridge: Bridge, action: str, *args: Any) -> Outcome:
    with bridge.services() as services:
        result: Outcome = getattr(Participation(services), action)(*args)
        return result


def accepted_consult(bridge: Bridge) -> str:
    nurse, doctor = caller(bridge, "nurse1"), caller(bridge, "doctor")
    requested = run(bridge, "request", nurse, "conn-nurse", resident_of_home_1(bridge), Urgency.URGENT, "跌倒", None)
    assert requested.reply is not None
    consult_id = str(requested.reply["consult"]["id"])
    run(bridge, "accept", doctor, "conn-doctor", consult_id)
    return consult_id


def state_of(outcome: Outcome) -> dict[str, Any]:
    assert outcome.reply is not None
    consult: dict[str, Any] = outcome.reply["consult"]
    return consult


def test_a_dropped_doctor_rejoins_the_same_consult_with_the_same_id(bridge: Bridge) -> None:
    consult_id = accepted_consult(bridge)
    doctor = caller(bridge, "doctor")
    joined = act(bridge, "join", doctor, "conn-doctor", consult_id)
    assert state_of(joined)["state"] == "in_call"
    doctor_pid = joined.reply["you"] if joined.reply else None

    dropped = act(bridge, "disconnected", "conn-doctor")
    seen = dropped.deliveries[-1].message["consult"]
    assert seen["state"] == "reconnecting"
    assert {p["id"]: p["status"] for p in seen["participants"]}[doctor_pid] == "reconnecting"

    back = act(bridge, "join", doctor, "conn-doctor-2", consult_id)
    assert back.reply is not None and back.reply["you"] == doctor_pid
    assert state_of(back)["state"] == "in_call"
    run(bridge, "end", doctor, consult_id)


def test_a_consult_ends_when_the_home_side_does_not_come_back_in_time(bridge: Bridge) -> None:
    consult_id = accepted_consult(bridge)
    act(bridge, "join", caller(bridge, "doctor"), "conn-doctor", consult_id)
    act(bridge, "disconnected", "conn-nurse")
    with bridge.services() as services:
        participation = Participation(services)
        nurse_row = services.db.scalars(
            select(ConsultParticipant).where(
                ConsultParticipant.consult_id == consult_id, ConsultParticipant.principal.like("account:%")
            )
        ).all()
        dropped = [p for p in nurse_row if p.status == "reconnecting"]
        assert len(dropped) == 1 and not participation.window_over(dropped[0])
    later = timedelta(seconds=bridge.runtime.settings.reconnect_window_seconds + 1)
    with bridge.clock.advanced(later), bridge.services() as services:
        participation = Participation(services)
        row = services.db.get(ConsultParticipant, dropped[0].id)
        assert row is not None and participation.window_over(row)
        outcome = Outcome()
        participation.expire(row, outcome)
    final = outcome.deliveries[-1].message["consult"]
    assert final["state"] == "ended" and final["end_reason"] == "reconnect_timeout"
    with pytest.raises(ConsultError) as over:
        act(bridge, "join", caller(bridge, "nurse1"), "conn-late", consult_id)
    assert over.value.code == "consult_ended"
    with bridge.services() as services:
        assert services.repository.read("Encounter", consult_id)["status"] == "finished"


@pytest.mark.parametrize(("username", "code"), [("nurse2", "forbidden"), ("doctor2", "forbidden")])
def test_outsiders_cannot_join(bridge: Bridge, username: str, code: str) -> None:
    consult_id = accepted_consult(bridge)
    with pytest.raises(ConsultError) as refused:
        act(bridge, "join", caller(bridge, username), "conn-x", consult_id)
    assert refused.value.code == code
    with pytest.raises(ConsultError) as unknown:
        act(bridge, "join", caller(bridge, "nurse1"), "conn-x", "no-such-consult")
    assert unknown.value.code == "not_found"
    with bridge.services() as services:
        ConsultService(services).end(caller(bridge, "doctor"), consult_id)


def test_a_doctor_leaving_ends_the_consult(bridge: Bridge) -> None:
    consult_id = accepted_consult(bridge)
    left = act(bridge, "leave", caller(bridge, "doctor"), consult_id)
    assert state_of(left)["state"] == "ended" and state_of(left)["end_reason"] == "left"
