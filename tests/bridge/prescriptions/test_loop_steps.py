"""Each prescription step, taken over the FHIR API, advances the resident's care loop and its clocks."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bridge.clock import as_utc
from bridge.loops.tables import LoopClock, LoopStep
from tests.bridge.prescriptions.workflow_support import fhir, parameters, prescribable_resident, signed_task
from tests.conftest import Bridge

DISPENSE = {"resourceType": "MedicationDispense", "status": "in-progress", "quantity": {"value": 28, "unit": "片"}}


def clocks_of(bridge: Bridge, task_id: str) -> list[tuple[str, str | None, str]]:
    with bridge.services() as services:
        rows = services.db.scalars(
            select(LoopClock).where(LoopClock.subject == f"Task/{task_id}").order_by(LoopClock.id)
        ).all()
        return [(r.kind, r.outcome, r.responsible_id) for r in rows]


def test_from_signing_to_receipt_every_clock_starts_and_is_met_in_one_loop(bridge: Bridge) -> None:
    signed = signed_task(bridge, prescribable_resident(bridge))
    request, task = signed["medicationRequest"], signed["task"]
    assert clocks_of(bridge, task["id"]) == [("pharmacy-review", None, "demo-pharmacy")]
    # Bearer tokens are checked against real time, so the review is made to have started 50 minutes ago.
    with bridge.services() as services:
        services.db.execute(
            update(LoopClock)
            .where(LoopClock.subject == f"Task/{task['id']}")
            .values(started_at=as_utc(services.now()) - timedelta(minutes=50))
        )
    pharmacist, nurse = fhir(bridge, "pharmacist"), fhir(bridge, "nurse1")
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$accept", json=parameters(note="审核通过")).status_code == 200
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=DISPENSE).status_code == 200
    arrival = {"valueDateTime": (bridge.clock.now() + timedelta(hours=4)).isoformat()}
    dispatched = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(courier="顺丰速运", trackingNumber="SF1", expectedArrival=arrival),
    )
    assert dispatched.status_code == 200, dispatched.text
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$deliver", json=parameters(note="交护士站")).status_code == 200
    assert clocks_of(bridge, task["id"])[-1] == ("receipt", None, "demo-home-1")
    received = nurse.post(
        f"/fhir/Task/{task['id']}/$confirm-receipt", json=parameters(quantityReceived={"valueDecimal": 28})
    )
    assert received.status_code == 200, received.text

    assert clocks_of(bridge, task["id"]) == [
        ("pharmacy-review", "met", "demo-pharmacy"),
        ("dispense", "met", "demo-pharmacy"),
        ("delivery", "met", "demo-pharmacy"),
        ("receipt", "met", "demo-home-1"),
    ]
    with bridge.services() as services:
        steps = services.db.scalars(
            select(LoopStep)
            .where(LoopStep.patient_id == request["subject"]["reference"].split("/")[1])
            .order_by(LoopStep.id)
        ).all()
        review = services.db.scalars(
            select(LoopClock).where(LoopClock.subject == f"Task/{task['id']}", LoopClock.kind == "pharmacy-review")
        ).one()
    assert [s.step for s in steps] == [
        "prescription-signed",
        "prescription-accepted",
        "prescription-dispensed",
        "prescription-dispatched",
        "prescription-delivered",
        "prescription-received",
    ]
    assert {s.loop_id for s in steps} == {f"MedicationRequest/{request['id']}"}
    assert steps[0].actor_reference == "Practitioner/demo-dr-li" and steps[-1].actor_display == "王芳"
    assert review.done_at is not None
    assert abs(as_utc(review.done_at) - as_utc(review.started_at) - timedelta(minutes=50)) < timedelta(seconds=30)


def test_a_rejection_meets_the_review_and_a_cancellation_makes_the_rest_moot(bridge: Bridge) -> None:
    pharmacist, doctor = fhir(bridge, "pharmacist"), fhir(bridge, "doctor")
    rejected = signed_task(bridge, prescribable_resident(bridge))["task"]
    answer = pharmacist.post(f"/fhir/Task/{rejected['id']}/$reject", json=parameters(reason="剂量需要确认"))
    assert answer.status_code == 200, answer.text
    assert clocks_of(bridge, rejected["id"]) == [("pharmacy-review", "met", "demo-pharmacy")]
    # Rejected after acceptance: the dispensing it awaited will not happen, so its clock is not left running.
    second = signed_task(bridge, prescribable_resident(bridge))["task"]
    assert pharmacist.post(f"/fhir/Task/{second['id']}/$accept").status_code == 200
    answer = pharmacist.post(f"/fhir/Task/{second['id']}/$reject", json=parameters(reason="缺货，请改开同类药"))
    assert answer.status_code == 200, answer.text
    assert clocks_of(bridge, second["id"]) == [
        ("pharmacy-review", "met", "demo-pharmacy"),
        ("dispense", "cancelled", "demo-pharmacy"),
    ]

    cancelled = signed_task(bridge, prescribable_resident(bridge))["task"]
    assert pharmacist.post(f"/fhir/Task/{cancelled['id']}/$accept").status_code == 200
    answer = doctor.post(f"/fhir/Task/{cancelled['id']}/$cancel", json=parameters(reason="家属要求暂停用药"))
    assert answer.status_code == 200, answer.text
    assert clocks_of(bridge, cancelled["id"]) == [
        ("pharmacy-review", "met", "demo-pharmacy"),
        ("dispense", "cancelled", "demo-pharmacy"),
    ]
