"""The timer sweep: a waiting request escalates, alerts supervisors and times out; a participant whose
instance vanished becomes reconnecting."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from bridge.consults.events import Outcome, alerts_topic, queue_topic
from bridge.consults.states import Urgency
from bridge.consults.timers import ConsultTimers
from bridge.db.tables import LiveConnection, SupervisorAlert
from tests.bridge.consults.test_consult_service import caller, resident_of_home_1, run
from tests.conftest import Bridge


def sweep(bridge: Bridge) -> Outcome:
    with bridge.services() as services:
        return ConsultTimers(services).sweep()


def mine(outcome: Outcome, consult_id: str, kind: str) -> set[str]:
    found = set()
    for delivery in outcome.deliveries:
        message = delivery.message
        item, consult = message.get("item", {}), message.get("consult", {})
        about = message.get("consult_id") or item.get("consult_id") or consult.get("id")
        if about == consult_id and message["type"] == kind:
            found.add(delivery.topic)
    return found


def keep_alive(bridge: Bridge, *connection_ids: str) -> None:
    with bridge.services() as services:
        for connection_id in connection_ids:
            services.db.merge(
                LiveConnection(
                    connection_id=connection_id,
                    principal="test",
                    organization_id="test",
                    on_duty=False,
                    seen_at=services.now(),
                )
            )


def test_an_unanswered_request_escalates_alerts_and_times_out(bridge: Bridge) -> None:
    settings = bridge.runtime.settings
    keep_alive(bridge, "timer-nurse")
    nurse, patient = caller(bridge, "nurse1"), resident_of_home_1(bridge)
    requested = run(bridge, "request", nurse, "timer-nurse", patient, Urgency.ROUTINE, "咳嗽", None)
    assert requested.reply is not None
    consult_id = requested.reply["consult"]["id"]
    assert mine(sweep(bridge), consult_id, "queue.ring") == set()  # not yet

    with bridge.clock.advanced(timedelta(seconds=settings.consult_escalate_after_seconds + 1)):
        keep_alive(bridge, "timer-nurse")
        assert mine(sweep(bridge), consult_id, "queue.ring") == {queue_topic("demo-hospital")}
    with bridge.clock.advanced(timedelta(seconds=settings.consult_alert_after_seconds + 1)):
        keep_alive(bridge, "timer-nurse")
        alerted = mine(sweep(bridge), consult_id, "alert")
        assert {alerts_topic("demo-home-1"), alerts_topic("demo-hospital"), alerts_topic("*")} == alerted
    with bridge.services() as services:
        alerts = services.db.scalars(select(SupervisorAlert).where(SupervisorAlert.consult_id == consult_id)).all()
        assert [a.kind for a in alerts] == ["consult_unanswered"]
    with bridge.clock.advanced(timedelta(seconds=settings.consult_ring_timeout_seconds + 1)):
        keep_alive(bridge, "timer-nurse")
        outcome = sweep(bridge)
    assert mine(outcome, consult_id, "queue.removed") == {queue_topic("demo-hospital")}
    with bridge.services() as services:
        assert services.repository.read("Encounter", consult_id)["status"] == "cancelled"


def test_participants_of_a_vanished_instance_become_reconnecting(bridge: Bridge) -> None:
    keep_alive(bridge, "timer-nurse-2", "timer-doctor-2")
    nurse, doctor = caller(bridge, "nurse1"), caller(bridge, "doctor")
    requested = run(bridge, "request", nurse, "timer-nurse-2", resident_of_home_1(bridge), Urgency.URGENT, "x", None)
    assert requested.reply is not None
    consult_id = requested.reply["consult"]["id"]
    run(bridge, "accept", doctor, "timer-doctor-2", consult_id)
    with bridge.services() as services:
        services.db.execute(delete(LiveConnection).where(LiveConnection.connection_id == "timer-doctor-2"))
    deliveries = sweep(bridge).deliveries
    states = [d.message["consult"] for d in deliveries if d.message.get("consult", {}).get("id") == consult_id]
    assert states and states[-1]["state"] == "reconnecting"
    statuses = {p["role"]: p["status"] for p in states[-1]["participants"]}
    assert statuses == {"nurse": "connected", "doctor": "reconnecting"}
    run(bridge, "end", nurse, consult_id)
