"""The prescription workflow over the FHIR API, through a live server: sign, the pharmacy's steps, the
nurse's receipt, cancel and reject; every refused operation answers 4xx and changes nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bridge.prescriptions.tables import PrescriptionStep
from tests.bridge.api.fhir_support import issue_text, system_client
from tests.bridge.prescriptions.workflow_support import draft, fhir, parameters, prescribable_resident, signed_task
from tests.conftest import Bridge

DELIVERY = "https://nhbridge.org/fhir/CodeSystem/prescription-delivery-status"


def _delivery(task: dict[str, object]) -> str:
    return str(task["businessStatus"]["coding"][0]["code"])  # type: ignore[index]


def _dispense_body(quantity: float = 28) -> dict[str, object]:
    return {
        "resourceType": "MedicationDispense",
        "status": "in-progress",
        "quantity": {"value": quantity, "unit": "片"},
    }


def _arrival(bridge: Bridge, hours: int = 4) -> dict[str, object]:
    return {"valueDateTime": (bridge.clock.now() + timedelta(hours=hours)).isoformat()}


def test_signed_prescription_travels_to_the_home_and_is_received(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    signed = signed_task(bridge, patient)
    request, provenance, task = signed["medicationRequest"], signed["provenance"], signed["task"]
    assert request["status"] == "active"
    assert request["dispenseRequest"]["performer"]["reference"] == "Organization/demo-pharmacy"
    assert (
        provenance["target"][0]["reference"]
        == f"MedicationRequest/{request['id']}/_history/{request['meta']['versionId']}"
    )
    assert provenance["signature"][0]["sigFormat"] == "application/jose"
    assert task["status"] == "ready" and _delivery(task) == "with-pharmacy"
    assert task["owner"]["reference"] == "Organization/demo-pharmacy"
    assert task["focus"]["reference"] == f"MedicationRequest/{request['id']}"

    pharmacist, nurse = fhir(bridge, "pharmacist"), fhir(bridge, "nurse1")
    # The pharmacy finds it by pulling, with the prescription included.
    pulled = pharmacist.get(
        "/fhir/Task", params={"owner": "Organization/demo-pharmacy", "status": "ready", "_include": "Task:focus"}
    ).json()
    ids = {e["resource"]["id"] for e in pulled.get("entry", [])}
    assert {task["id"], request["id"]} <= ids

    accepted = pharmacist.post(f"/fhir/Task/{task['id']}/$accept", json=parameters(note="审核通过"))
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "in-progress"
    dispensed = pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body())
    assert dispensed.status_code == 200, dispensed.text
    assert _delivery(dispensed.json()) == "dispensed"
    dispense_ref = dispensed.json()["output"][0]["valueReference"]["reference"]
    dispatched = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(courier="顺丰速运", trackingNumber="SF1234567890", expectedArrival=_arrival(bridge)),
    )
    assert dispatched.status_code == 200, dispatched.text
    assert _delivery(dispatched.json()) == "dispatched"
    delivered = pharmacist.post(f"/fhir/Task/{task['id']}/$deliver", json=parameters(note="交护士站"))
    assert delivered.status_code == 200 and _delivery(delivered.json()) == "delivered"

    received = nurse.post(
        f"/fhir/Task/{task['id']}/$confirm-receipt", json=parameters(quantityReceived={"valueDecimal": 28})
    )
    assert received.status_code == 200, received.text
    final = received.json()
    assert final["status"] == "completed" and _delivery(final) == "received"
    dispense = nurse.get(f"/fhir/{dispense_ref}").json()
    assert dispense["status"] == "completed" and dispense["receiver"][0]["reference"] == "Practitioner/demo-nurse-wang"
    steps = [e for e in final["extension"] if e["url"].endswith("prescription-step")]
    assert [s["extension"][0]["valueCode"] for s in steps] == [
        "signed",
        "accepted",
        "dispensed",
        "dispatched",
        "delivered",
        "received",
    ]
    with bridge.services() as services:
        rows = services.db.scalars(
            select(PrescriptionStep)
            .where(PrescriptionStep.medication_request_id == request["id"])
            .order_by(PrescriptionStep.id)
        ).all()
    assert [r.step for r in rows] == ["signed", "accepted", "dispensed", "dispatched", "delivered", "received"]
    assert (
        rows[0].actor_reference == "Practitioner/demo-dr-li"
        and rows[-1].actor_reference == "Practitioner/demo-nurse-wang"
    )
    assert rows[1].actor_reference == "Practitioner/demo-pharm-liu"


def test_operation_in_the_wrong_state_is_a_conflict_naming_the_state(bridge: Bridge) -> None:
    task = signed_task(bridge, prescribable_resident(bridge))["task"]
    pharmacist = fhir(bridge, "pharmacist")
    early = pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body())
    assert early.status_code == 409
    assert "ready/with-pharmacy" in issue_text(early)
    assert pharmacist.get(f"/fhir/Task/{task['id']}").json()["meta"]["versionId"] == task["meta"]["versionId"]
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$accept").status_code == 200
    twice = pharmacist.post(f"/fhir/Task/{task['id']}/$accept")
    assert twice.status_code == 409 and "in-progress/with-pharmacy" in issue_text(twice)


def test_only_the_right_party_may_act(bridge: Bridge) -> None:
    task = signed_task(bridge, prescribable_resident(bridge))["task"]
    nurse, doctor = fhir(bridge, "nurse1"), fhir(bridge, "doctor")
    assert nurse.post(f"/fhir/Task/{task['id']}/$accept").status_code == 403
    assert doctor.post(f"/fhir/Task/{task['id']}/$accept").status_code == 403
    # Another home's nurse and another pharmacy do not even learn that the Task exists.
    receipt = parameters(quantityReceived={"valueDecimal": 28})
    assert fhir(bridge, "nurse2").post(f"/fhir/Task/{task['id']}/$confirm-receipt", json=receipt).status_code == 404
    with bridge.services() as services:
        from bridge.directory.codes import OrgKind
        from bridge.directory.organizations import organization_resource

        services.repository.update(
            organization_resource(OrgKind.PHARMACY, "别家药房", "PH2", resource_id="zz-other-pharmacy")
        )
    other = system_client(
        bridge, "zz-other-pharmacy", "system/Task.rus system/MedicationDispense.crus system/Patient.rs"
    )
    assert other.post(f"/fhir/Task/{task['id']}/$accept").status_code == 404
    # The plain API cannot move a prescription's Task either.
    pharmacist = fhir(bridge, "pharmacist")
    moved = pharmacist.put(f"/fhir/Task/{task['id']}", json={**task, "status": "completed"})
    assert moved.status_code == 409
    assert pharmacist.get(f"/fhir/Task/{task['id']}").json()["status"] == "ready"


def test_pharmacy_system_works_the_task_over_fhir(bridge: Bridge) -> None:
    task = signed_task(bridge, prescribable_resident(bridge))["task"]
    system = system_client(
        bridge, "demo-pharmacy", "system/Task.rus system/MedicationDispense.crus system/MedicationRequest.rs"
    )
    assert system.post(f"/fhir/Task/{task['id']}/$accept").status_code == 200
    done = system.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body())
    assert done.status_code == 200, done.text
    steps = [e for e in done.json()["extension"] if e["url"].endswith("prescription-step")]
    assert steps[-1]["extension"][1]["valueReference"]["reference"] == "Organization/demo-pharmacy"


def test_reject_puts_the_prescription_on_hold_for_revision_and_resigning(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    signed = signed_task(bridge, patient)
    task, request = signed["task"], signed["medicationRequest"]
    pharmacist, doctor = fhir(bridge, "pharmacist"), fhir(bridge, "doctor")
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$reject", json=parameters(reason="短")).status_code == 422
    rejected = pharmacist.post(f"/fhir/Task/{task['id']}/$reject", json=parameters(reason="剂量需与家属确认"))
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    held = doctor.get(f"/fhir/MedicationRequest/{request['id']}").json()
    assert held["status"] == "on-hold" and held["statusReason"]["text"] == "剂量需与家属确认"
    # Revised (back to draft, lower dose) and signed again: a new Task goes to the pharmacy.
    revised = {**held, "status": "draft"}
    revised["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 2.5
    revised.pop("statusReason")
    put = doctor.put(f"/fhir/MedicationRequest/{request['id']}", json=revised)
    assert put.status_code == 200, put.text
    again = doctor.post(f"/fhir/MedicationRequest/{request['id']}/$sign", json={"resourceType": "Parameters"})
    assert again.status_code == 200, again.text
    new_task = next(p["resource"] for p in again.json()["parameter"] if p["name"] == "task")
    assert new_task["id"] != task["id"] and new_task["status"] == "ready"


def test_doctor_cancels_before_dispensing_only(bridge: Bridge) -> None:
    doctor, pharmacist = fhir(bridge, "doctor"), fhir(bridge, "pharmacist")
    first = signed_task(bridge, prescribable_resident(bridge))
    cancelled = doctor.post(f"/fhir/Task/{first['task']['id']}/$cancel", json=parameters(reason="家属要求暂停用药"))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert doctor.get(f"/fhir/MedicationRequest/{first['medicationRequest']['id']}").json()["status"] == "cancelled"
    second = signed_task(bridge, prescribable_resident(bridge))["task"]
    pharmacist.post(f"/fhir/Task/{second['id']}/$accept")
    assert pharmacist.post(f"/fhir/Task/{second['id']}/$dispense", json=_dispense_body()).status_code == 200
    late = doctor.post(f"/fhir/Task/{second['id']}/$cancel", json=parameters(reason="家属要求暂停用药"))
    assert late.status_code == 409 and "in-progress/dispensed" in issue_text(late)


def test_receipt_with_a_short_delivery_needs_a_discrepancy(bridge: Bridge) -> None:
    task = signed_task(bridge, prescribable_resident(bridge))["task"]
    pharmacist, nurse = fhir(bridge, "pharmacist"), fhir(bridge, "nurse1")
    pharmacist.post(f"/fhir/Task/{task['id']}/$accept")
    pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body(28))
    pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(courier="闪送", trackingNumber="SS-1", expectedArrival=_arrival(bridge)),
    )
    short = nurse.post(
        f"/fhir/Task/{task['id']}/$confirm-receipt", json=parameters(quantityReceived={"valueDecimal": 21})
    )
    assert short.status_code == 422
    assert nurse.get(f"/fhir/Task/{task['id']}").json()["status"] == "in-progress"
    explained = nurse.post(
        f"/fhir/Task/{task['id']}/$confirm-receipt",
        json=parameters(quantityReceived={"valueDecimal": 21}, discrepancy="少一盒（7片），已电话告知药房"),
    )
    assert explained.status_code == 200, explained.text
    receipt = next(e for e in explained.json()["extension"] if e["url"].endswith("prescription-receipt"))
    assert receipt["extension"][0]["valueQuantity"]["value"] == 21


def test_bad_dispatch_and_dispense_input_change_nothing(bridge: Bridge) -> None:
    task = signed_task(bridge, prescribable_resident(bridge))["task"]
    pharmacist = fhir(bridge, "pharmacist")
    pharmacist.post(f"/fhir/Task/{task['id']}/$accept")
    too_much = pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body(100))
    assert too_much.status_code == 422
    wrong_drug = {**_dispense_body(), "medicationReference": {"reference": "Medication/drug-a10ba02"}}
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=wrong_drug).status_code == 422
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json={"resourceType": "Patient"}).status_code == 422
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", content=b"{not json").status_code == 400
    assert pharmacist.post(f"/fhir/Task/{task['id']}/$dispense", json=_dispense_body()).status_code == 200
    no_courier = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch", json=parameters(trackingNumber="X1", expectedArrival=_arrival(bridge))
    )
    assert no_courier.status_code == 422
    past = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(courier="顺丰", trackingNumber="X1", expectedArrival=_arrival(bridge, -5)),
    )
    assert past.status_code == 422
    naive = pharmacist.post(
        f"/fhir/Task/{task['id']}/$dispatch",
        json=parameters(courier="顺丰", trackingNumber="X1", expectedArrival={"valueDateTime": "2026-12-01T10:00:00"}),
    )
    assert naive.status_code == 422
    assert _delivery(pharmacist.get(f"/fhir/Task/{task['id']}").json()) == "dispensed"


def test_prescriptions_become_active_only_by_signing(bridge: Bridge) -> None:
    patient = prescribable_resident(bridge)
    doctor, nurse = fhir(bridge, "doctor"), fhir(bridge, "nurse1")
    active = {**draft(patient), "status": "active"}
    refused = doctor.post("/fhir/MedicationRequest", json=active)
    assert refused.status_code == 422 and "$sign" in issue_text(refused)
    reported = {**active, "reportedBoolean": True}
    assert doctor.post("/fhir/MedicationRequest", json=reported).status_code == 201
    # A nurse does not draft prescriptions; a doctor's signed one is not edited or deleted.
    assert nurse.post("/fhir/MedicationRequest", json=draft(patient)).status_code == 403
    signed = signed_task(bridge, patient)["medicationRequest"]
    edited = {**signed, "note": [{"text": "改剂量"}]}
    assert doctor.put(f"/fhir/MedicationRequest/{signed['id']}", json=edited).status_code == 409
    assert doctor.delete(f"/fhir/MedicationRequest/{signed['id']}").status_code == 409
    # A hospital's system cannot sign: a prescription is a doctor's own act with the doctor's own key.
    created = doctor.post("/fhir/MedicationRequest", json=draft(patient)).json()
    hospital = system_client(bridge, "demo-hospital", "system/MedicationRequest.cruds system/Patient.rs")
    assert hospital.post(f"/fhir/MedicationRequest/{created['id']}/$sign").status_code == 403
    assert doctor.get(f"/fhir/MedicationRequest/{created['id']}").json()["status"] == "draft"
